package srdb

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tailRead calls Next in a goroutine and returns a channel delivering its
// outcome: the row's n, or -1 when Next returned false.
func tailRead(rows *Rows) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		if !rows.Next() {
			ch <- -1
			return
		}
		n, _ := rows.Row().Get("n")
		ch <- n.(int64)
	}()
	return ch
}

// TestTailDeliversExistingThenNewRows: rows at or after fromSeq first (from
// SSTs and the memtable), then each new row as it is inserted; a deleted
// row is skipped, an Update made before delivery is seen.
func TestTailDeliversExistingThenNewRows(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilitySync)
	defer db.Close()
	for n := int64(1); n <= 300; n++ {
		_, err := tbl.Insert(visRow(n))
		require.NoError(t, err)
		if n == 150 {
			require.NoError(t, tbl.Flush())
		}
	}
	require.NoError(t, tbl.Delete(5))
	require.NoError(t, tbl.Update(6, map[string]any{"n": int64(-6)}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rows, err := tbl.Tail(ctx, 3)
	require.NoError(t, err)
	defer rows.Close()
	want := []int64{3, 4, -6}
	for n := int64(7); n <= 300; n++ {
		want = append(want, n)
	}
	var got []int64
	for len(got) < len(want) {
		require.True(t, rows.Next(), rows.Err())
		n, _ := rows.Row().Get("n")
		got = append(got, n.(int64))
		if len(got) == 10 { // rows 11.. are read ahead: change two of them now
			require.NoError(t, tbl.Delete(20))
			require.NoError(t, tbl.Update(21, map[string]any{"n": int64(-21)}))
			for i := range want {
				if want[i] == 20 {
					want = append(want[:i], want[i+1:]...)
					break
				}
			}
			for i := range want {
				if want[i] == 21 {
					want[i] = -21
				}
			}
		}
	}
	require.Equal(t, want, got)

	// Caught up: Next waits for the next insert.
	next := tailRead(rows)
	select {
	case n := <-next:
		t.Fatalf("Next returned %d with nothing to deliver", n)
	case <-time.After(20 * time.Millisecond):
	}
	_, err = tbl.Insert(visRow(301))
	require.NoError(t, err)
	select {
	case n := <-next:
		require.Equal(t, int64(301), n)
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not wake after an insert")
	}
	require.Equal(t, int64(301), rows.Row().Seq())
}

// TestTailConcurrentInsertersExactlyOnce: several tails follow a table that
// several goroutines insert into (single rows and batches); each tail sees
// every acknowledged row exactly once, in seq order. Run it under -race.
func TestTailConcurrentInsertersExactlyOnce(t *testing.T) {
	o := DefaultOptions()
	o.FS = newMemFS()
	o.MemTableSize = 64 << 10 // memtable switches and flushes during the run
	db, err := Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("v", visFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("v", s)
	require.NoError(t, err)

	const writers, perWriter, tails = 4, 300, 3
	total := 0
	for i := 0; i < perWriter; i++ {
		total += writers * (1 + i%3)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make([][]int64, tails)
	var twg sync.WaitGroup
	for i := 0; i < tails; i++ {
		rows, err := tbl.Tail(ctx, 1)
		require.NoError(t, err)
		twg.Add(1)
		go func(i int) {
			defer twg.Done()
			defer rows.Close()
			for len(got[i]) < total && rows.Next() {
				got[i] = append(got[i], rows.Row().Seq())
			}
			if err := rows.Err(); err != nil {
				t.Errorf("tail %d: %v", i, err)
			}
		}(i)
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				batch := make([]map[string]any, 1+i%3)
				for j := range batch {
					batch[j] = visRow(int64(w*perWriter + i))
				}
				if _, err := tbl.Insert(batch); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	twg.Wait()
	require.Equal(t, int64(total), tbl.Stats().LastSeq)
	for i, seqs := range got {
		require.Len(t, seqs, total, "tail %d", i)
		for j, seq := range seqs {
			require.Equal(t, int64(j+1), seq, "tail %d: each seq once, in order", i)
		}
	}
}

// TestTailStops: a Next waiting for rows returns false promptly when its
// context is cancelled (Err matches context.Canceled), when its deadline
// passes, when the Rows is closed from another goroutine (Err nil), and
// when the database is closed or the table dropped (Err matches
// ErrClosed); no goroutine is left behind.
func TestTailStops(t *testing.T) {
	base := runtime.NumGoroutine()
	cases := []struct {
		name string
		stop func(db *Database, rows *Rows, cancel context.CancelFunc)
		want func(t *testing.T, err error)
	}{
		{"cancel", func(_ *Database, _ *Rows, cancel context.CancelFunc) { cancel() },
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, context.Canceled)
				require.Equal(t, CodeCanceled, ErrorCode(err))
			}},
		{"Close of the Rows", func(_ *Database, rows *Rows, _ context.CancelFunc) { require.NoError(t, rows.Close()) },
			func(t *testing.T, err error) { require.NoError(t, err) }},
		{"Database.Close", func(db *Database, _ *Rows, _ context.CancelFunc) { require.NoError(t, db.Close()) },
			func(t *testing.T, err error) { require.ErrorIs(t, err, ErrClosed) }},
		{"DropTable", func(db *Database, _ *Rows, _ context.CancelFunc) { require.NoError(t, db.DropTable("v")) },
			func(t *testing.T, err error) { require.ErrorIs(t, err, ErrClosed) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
			defer db.Close()
			_, err := tbl.Insert(visRow(1))
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rows, err := tbl.Tail(ctx, 1)
			require.NoError(t, err)
			require.True(t, rows.Next())
			next := tailRead(rows)
			time.Sleep(10 * time.Millisecond) // let Next wait
			c.stop(db, rows, cancel)
			select {
			case n := <-next:
				require.Equal(t, int64(-1), n)
			case <-time.After(5 * time.Second):
				t.Fatal("Next did not return")
			}
			c.want(t, rows.Err())
			require.False(t, rows.Next(), "Next after the end")
			rows.Close()
		})
	}
	// Deadline: Next returns once it passes.
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	rows, err := tbl.Tail(ctx, 1)
	require.NoError(t, err)
	require.False(t, rows.Next())
	require.ErrorIs(t, rows.Err(), context.DeadlineExceeded)
	require.NoError(t, db.Close())
	if n := settleGoroutines(base); n > base {
		t.Fatalf("goroutines: %d after, %d before\n%s", n, base, goroutineDump())
	}
	// A Tail of a closed table fails at once.
	_, err = tbl.Tail(context.Background(), 1)
	require.ErrorIs(t, err, ErrClosed)
}

// TestTailWakesPromptly: a waiting Next returns within a few milliseconds
// of the Insert that acknowledged its row (the notification, not a poll).
func TestTailWakesPromptly(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	rows, err := tbl.Tail(context.Background(), 1)
	require.NoError(t, err)
	defer rows.Close()
	var worst time.Duration
	for i := 0; i < 50; i++ {
		next := tailRead(rows)
		time.Sleep(2 * time.Millisecond) // Next is waiting
		_, err := tbl.Insert(visRow(int64(i)))
		acked := time.Now()
		require.NoError(t, err)
		select {
		case n := <-next:
			require.Equal(t, int64(i), n)
			worst = max(worst, time.Since(acked))
		case <-time.After(5 * time.Second):
			t.Fatal("Next did not wake")
		}
	}
	// Generous for a loaded 2-core CI machine; the typical figure is in
	// docs/BENCHMARKS.md (BenchmarkTailLatency).
	require.Less(t, worst, 100*time.Millisecond)
}

// TestTailNeverShowsFailedWrite: an Insert whose WAL write fails (the
// table turns read-only) is never delivered to a waiting tail, nor to one
// started afterwards; the rows acknowledged before are.
func TestTailNeverShowsFailedWrite(t *testing.T) {
	mem := newMemFS()
	ffs := newFaultFS(mem)
	db, tbl := visOpen(t, ffs, DurabilityInterval)
	defer db.Close()
	for n := int64(1); n <= 3; n++ {
		_, err := tbl.Insert(visRow(n))
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rows, err := tbl.Tail(ctx, 1)
	require.NoError(t, err)
	defer rows.Close()
	for n := int64(1); n <= 3; n++ {
		require.True(t, rows.Next())
	}
	next := tailRead(rows)
	ffs.failNth(fsOpWrite, ffs.opCountOf(fsOpWrite), failFromThenOn, faultEIO)
	_, err = tbl.Insert(visRow(4))
	require.True(t, errors.Is(err, syscall.EIO), "%v", err)
	_, err = tbl.Insert(visRow(5))
	require.Error(t, err)
	select {
	case n := <-next:
		t.Fatalf("the tail delivered %d, a failed write", n)
	case <-time.After(50 * time.Millisecond):
	}
	late, err := tbl.Tail(ctx, 1)
	require.NoError(t, err)
	defer late.Close()
	for n := int64(1); n <= 3; n++ {
		require.True(t, late.Next())
		require.Equal(t, n, late.Row().Seq())
	}
	lateNext := tailRead(late)
	select {
	case n := <-lateNext:
		t.Fatalf("a new tail delivered %d, a failed write", n)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	require.Equal(t, int64(-1), <-next)
	require.Equal(t, int64(-1), <-lateNext)
}

// TestTailReadAheadBounded: the read-ahead of large rows stops at about
// tailBatchBytes, and every row is still delivered.
func TestTailReadAheadBounded(t *testing.T) {
	o := DefaultOptions()
	o.FS = newMemFS()
	db, err := Open("/db", o)
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSchema("b", []Field{{Name: "p", Type: Bytes}})
	require.NoError(t, err)
	tbl, err := db.CreateTable("b", s)
	require.NoError(t, err)
	const rowsN, size = 12, 1 << 20
	for i := 0; i < rowsN; i++ {
		_, err := tbl.Insert(map[string]any{"p": make([]byte, size)})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rows, err := tbl.Tail(ctx, 1)
	require.NoError(t, err)
	defer rows.Close()
	for i := 1; i <= rowsN; i++ {
		require.True(t, rows.Next())
		require.Equal(t, int64(i), rows.Row().Seq())
		c := &rows.tail.cur
		require.LessOrEqual(t, len(c.buf)-c.bi, (4<<20)/size, "rows read ahead (tailBatchBytes is 4 MiB)")
	}
}
