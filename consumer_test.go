package srdb

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// consumerNext returns the seq of c's next row, failing the test when none
// comes within a second.
func consumerNext(t *testing.T, c *Consumer) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	row, err := c.Next(ctx)
	require.NoError(t, err)
	return row.Seq()
}

// consumerFill inserts rows n = 1..count into tbl.
func consumerFill(t *testing.T, tbl *Table, count int) {
	t.Helper()
	for n := 1; n <= count; n++ {
		_, err := tbl.Insert(visRow(int64(n)))
		require.NoError(t, err)
	}
}

// TestConsumerPositionSurvivesReopen: a group is created on first use at
// position 0; Commit makes a position durable; after Close and Open a new
// Consumer of the group starts after it; each Consumer value reads on from
// the last row it delivered, whatever it committed.
func TestConsumerPositionSurvivesReopen(t *testing.T) {
	mem := newMemFS()
	db, tbl := visOpen(t, mem, DurabilityNone)
	consumerFill(t, tbl, 10)
	c, err := tbl.Consumer("billing")
	require.NoError(t, err)
	require.Equal(t, "billing", c.Group())
	require.Equal(t, int64(0), c.Position())
	for want := int64(1); want <= 4; want++ {
		require.Equal(t, want, consumerNext(t, c))
	}
	require.NoError(t, c.Commit(3))
	require.Equal(t, int64(3), c.Position())
	require.Equal(t, int64(5), consumerNext(t, c), "Commit does not move the read position")
	require.Equal(t, []string{"billing"}, tbl.Consumers())
	require.NoError(t, db.Close())

	db, tbl = visOpen(t, mem, DurabilityNone)
	defer db.Close()
	require.Equal(t, []string{"billing"}, tbl.Consumers())
	c, err = tbl.Consumer("billing")
	require.NoError(t, err)
	require.Equal(t, int64(3), c.Position())
	require.Equal(t, int64(4), consumerNext(t, c), "after reopen: the first row after the committed position")
	lag, err := c.Lag()
	require.NoError(t, err)
	require.Equal(t, int64(7), lag)
}

// TestConsumerCommitNeverBackwards: a Commit at or below the position is a
// no-op; a negative seq or one above the table's last seq is refused.
func TestConsumerCommitNeverBackwards(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	consumerFill(t, tbl, 10)
	c, err := tbl.Consumer("g")
	require.NoError(t, err)
	require.NoError(t, c.Commit(7))
	require.NoError(t, c.Commit(2))
	require.NoError(t, c.Commit(7))
	require.Equal(t, int64(7), c.Position())
	other, err := tbl.Consumer("g")
	require.NoError(t, err)
	require.NoError(t, other.Commit(5), "a late commit of another Consumer value")
	require.Equal(t, int64(7), c.Position())
	require.Equal(t, int64(7), other.Position())
	for _, bad := range []int64{-1, 11, 1 << 62} {
		err := c.Commit(bad)
		require.Equal(t, CodeInvalidArgument, ErrorCode(err), "Commit(%d): %v", bad, err)
		require.Contains(t, err.Error(), `table "v"`)
		require.Contains(t, err.Error(), `consumer group "g"`)
	}
	require.Equal(t, int64(7), c.Position())
	require.NoError(t, c.Commit(10))
	require.Equal(t, int64(10), other.Position())
}

// TestConsumerSeekTo: SeekTo moves the read position (the next Next is the
// first live row at or after seq) and the committed position (seq-1),
// backwards too, durably.
func TestConsumerSeekTo(t *testing.T) {
	mem := newMemFS()
	db, tbl := visOpen(t, mem, DurabilitySync)
	consumerFill(t, tbl, 10)
	require.NoError(t, tbl.Flush())
	c, err := tbl.Consumer("g")
	require.NoError(t, err)
	require.NoError(t, c.Commit(8))
	require.NoError(t, c.SeekTo(3))
	require.Equal(t, int64(2), c.Position())
	require.Equal(t, int64(3), consumerNext(t, c))
	require.NoError(t, tbl.Delete(6))
	require.NoError(t, c.SeekTo(6))
	require.Equal(t, int64(7), consumerNext(t, c), "the first live row at or after 6")
	require.NoError(t, c.SeekTo(11), "SeekTo(last seq + 1): skip to the end")
	require.Equal(t, int64(10), c.Position())
	for _, bad := range []int64{0, -5, 12} {
		require.Equal(t, CodeInvalidArgument, ErrorCode(c.SeekTo(bad)), "SeekTo(%d)", bad)
	}
	require.NoError(t, c.SeekTo(4))
	require.NoError(t, db.Close())

	db, tbl = visOpen(t, mem, DurabilitySync)
	defer db.Close()
	c, err = tbl.Consumer("g")
	require.NoError(t, err)
	require.Equal(t, int64(3), c.Position(), "SeekTo moved the committed position backwards, durably")
	require.Equal(t, int64(4), consumerNext(t, c))
}

// TestConsumerLagAndDeletedRows: Lag counts the live rows after the
// position; a consumer behind deleted rows gets the oldest live one next.
func TestConsumerLagAndDeletedRows(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	consumerFill(t, tbl, 20)
	c, err := tbl.Consumer("g")
	require.NoError(t, err)
	lag, err := c.Lag()
	require.NoError(t, err)
	require.Equal(t, int64(20), lag)
	require.NoError(t, c.Commit(5))
	for seq := int64(1); seq <= 9; seq++ {
		require.NoError(t, tbl.Delete(seq))
	}
	lag, err = c.Lag()
	require.NoError(t, err)
	require.Equal(t, int64(11), lag, "rows 10..20 are live after position 5")
	fresh, err := tbl.Consumer("g")
	require.NoError(t, err)
	require.Equal(t, int64(10), consumerNext(t, fresh))
	require.Equal(t, int64(10), consumerNext(t, c), "its read-ahead of rows 1..9 is dropped after the deletes")
	require.NoError(t, c.Commit(20))
	lag, err = c.Lag()
	require.NoError(t, err)
	require.Equal(t, int64(0), lag)

	got := make(chan int64, 1)
	go func() {
		row, err := fresh.Next(context.Background())
		if err != nil {
			got <- -1
			return
		}
		got <- row.Seq()
	}()
	// fresh delivered 10 only: its next row exists already.
	require.Equal(t, int64(11), <-got)
}

// TestConsumerGroupsListDrop: Consumers lists the groups sorted;
// DropConsumer removes one durably; an unknown group is ErrNotFound; a
// dropped group's Consumer values can no longer Commit or SeekTo.
func TestConsumerGroupsListDrop(t *testing.T) {
	mem := newMemFS()
	db, tbl := visOpen(t, mem, DurabilityInterval)
	consumerFill(t, tbl, 5)
	require.Empty(t, tbl.Consumers())
	var cs []*Consumer
	for _, g := range []string{"zeta", "alpha", "mid group", "ünï"} {
		c, err := tbl.Consumer(g)
		require.NoError(t, err)
		cs = append(cs, c)
	}
	require.Equal(t, []string{"alpha", "mid group", "zeta", "ünï"}, tbl.Consumers())
	require.NoError(t, cs[1].Commit(3))
	require.Equal(t, map[string]int64{"alpha": 3, "mid group": 0, "zeta": 0, "ünï": 0}, tbl.ConsumerPositions())
	require.NoError(t, tbl.DropConsumer("zeta"))
	require.ErrorIs(t, tbl.DropConsumer("zeta"), ErrNotFound)
	require.ErrorIs(t, cs[0].Commit(1), ErrNotFound)
	require.ErrorIs(t, cs[0].SeekTo(1), ErrNotFound)
	require.Equal(t, int64(0), cs[0].Position())
	require.Equal(t, int64(1), consumerNext(t, cs[0]), "a dropped group's value still reads")
	require.NoError(t, db.Close())
	db, tbl = visOpen(t, mem, DurabilityInterval)
	defer db.Close()
	require.Equal(t, []string{"alpha", "mid group", "ünï"}, tbl.Consumers())
}

// TestConsumerGroupNames: bad names are CodeInvalidName naming the table
// and the group; nothing is created.
func TestConsumerGroupNames(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	for _, bad := range []string{"", strings.Repeat("x", maxConsumerGroupLen+1), "a\x00b", "tab\there", "new\nline", "\xff\xfe", "bell\a"} {
		_, err := tbl.Consumer(bad)
		require.Equal(t, CodeInvalidName, ErrorCode(err), "%q: %v", bad, err)
		require.Contains(t, err.Error(), `table "v"`)
		require.Contains(t, err.Error(), "consumer group")
		require.Equal(t, CodeInvalidName, ErrorCode(tbl.DropConsumer(bad)), "%q", bad)
	}
	require.Empty(t, tbl.Consumers())
	_, err := tbl.Consumer(strings.Repeat("x", maxConsumerGroupLen))
	require.NoError(t, err)
	var nilC *Consumer
	require.Error(t, nilC.Commit(1))
	require.Equal(t, int64(0), nilC.Position())
	_, err = nilC.Next(context.Background())
	require.Error(t, err)
}

// TestConsumerReadOnly: a ReadOnly database reads the positions (and
// follows them after Refresh) but refuses every change with CodeReadOnly.
func TestConsumerReadOnly(t *testing.T) {
	mem := newMemFS()
	db, tbl := visOpen(t, mem, DurabilitySync)
	defer db.Close()
	consumerFill(t, tbl, 5)
	w, err := tbl.Consumer("g")
	require.NoError(t, err)
	require.NoError(t, w.Commit(2))

	ro, err := Open("/db", &Options{ReadOnly: true, FS: mem})
	require.NoError(t, err)
	defer ro.Close()
	rt, err := ro.Table("v")
	require.NoError(t, err)
	require.Equal(t, []string{"g"}, rt.Consumers())
	c, err := rt.Consumer("g")
	require.NoError(t, err)
	require.Equal(t, int64(2), c.Position())
	require.Equal(t, int64(3), consumerNext(t, c))
	lag, err := c.Lag()
	require.NoError(t, err)
	require.Equal(t, int64(3), lag)
	require.Equal(t, CodeReadOnly, ErrorCode(c.Commit(3)))
	require.Equal(t, CodeReadOnly, ErrorCode(c.SeekTo(1)))
	require.Equal(t, CodeReadOnly, ErrorCode(rt.DropConsumer("g")))
	_, err = rt.Consumer("new")
	require.Equal(t, CodeReadOnly, ErrorCode(err))
	require.Equal(t, []string{"g"}, rt.Consumers())

	// A Tail of the ReadOnly table follows its snapshot and wakes on Refresh.
	tail, err := rt.Tail(context.Background(), 5)
	require.NoError(t, err)
	defer tail.Close()
	require.True(t, tail.Next())
	require.Equal(t, int64(5), tail.Row().Seq())
	next := tailRead(tail)
	_, err = tbl.Insert(visRow(6))
	require.NoError(t, err)
	require.NoError(t, w.Commit(4))
	require.NoError(t, ro.Refresh())
	require.Equal(t, int64(4), c.Position(), "after Refresh")
	select {
	case n := <-next:
		require.Equal(t, int64(6), n)
	case <-time.After(5 * time.Second):
		t.Fatal("a ReadOnly tail did not wake on Refresh")
	}
}

// TestConsumerInCheckpoint: a Checkpoint holds every position committed
// before it.
func TestConsumerInCheckpoint(t *testing.T) {
	mem := newMemFS()
	db, tbl := visOpen(t, mem, DurabilityInterval)
	defer db.Close()
	consumerFill(t, tbl, 8)
	a, err := tbl.Consumer("a")
	require.NoError(t, err)
	require.NoError(t, a.Commit(6))
	_, err = tbl.Consumer("b")
	require.NoError(t, err)
	require.NoError(t, mem.MkdirAll("/backup-parent"))
	require.NoError(t, db.Checkpoint("/backup-parent/cp"))
	require.NoError(t, a.Commit(8)) // after the checkpoint: not in it

	cp, err := Open("/backup-parent/cp", &Options{FS: mem})
	require.NoError(t, err)
	defer cp.Close()
	require.NoError(t, cp.Check())
	ct, err := cp.Table("v")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, ct.Consumers())
	ca, err := ct.Consumer("a")
	require.NoError(t, err)
	require.Equal(t, int64(6), ca.Position())
}

// TestConsumerCommitSurvivesPowerLoss: once Commit returned, the position
// survives a power cut that loses every unsynced byte, in every durability
// mode (the MANIFEST record is fsynced).
func TestConsumerCommitSurvivesPowerLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mode := range []Durability{DurabilitySync, DurabilityInterval, DurabilityNone} {
		for _, keep := range []float64{0, 0.5, 1} {
			mem := newMemFS()
			db, tbl := visOpen(t, mem, mode)
			consumerFill(t, tbl, 5)
			require.NoError(t, tbl.Flush())
			c, err := tbl.Consumer("g")
			require.NoError(t, err)
			require.NoError(t, c.Commit(4))
			consumerFill(t, tbl, 3) // seqs 6..8: unsynced in Interval and None
			require.NoError(t, c.Commit(7))
			crashed := mem.crashClone(rng, keep)
			db.Close()

			db, tbl = visOpen(t, crashed, mode)
			require.NoError(t, db.Check())
			c, err = tbl.Consumer("g")
			require.NoError(t, err)
			require.Equal(t, int64(7), c.Position(), "%s keep %v", mode, keep)
			// Rows 6..8 may be lost (not Sync), but a new row never takes a
			// consumed seq.
			seq, err := tbl.Insert(visRow(9))
			require.NoError(t, err)
			require.Greater(t, seq, int64(7), "%s keep %v", mode, keep)
			if mode == DurabilitySync {
				require.Equal(t, int64(8), consumerNext(t, c))
			}
			require.NoError(t, db.Close())
		}
	}
}

// TestConsumerCorruptPosition: a MANIFEST record (valid CRC) holding a
// consumer position that does not decode makes the table fail to open
// with ErrCorrupted naming the MANIFEST, the offset and the property.
func TestConsumerCorruptPosition(t *testing.T) {
	for _, bad := range []string{"", "\x02\x05", "\x01", "\x01\x05\x00", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"} {
		mem := newMemFS()
		db, tbl := visOpen(t, mem, DurabilityInterval)
		_, err := tbl.Consumer("g")
		require.NoError(t, err)
		require.NoError(t, db.Close())

		names, err := mem.List("/db/tables/v")
		require.NoError(t, err)
		var manifest string
		for _, n := range names {
			if strings.HasPrefix(n, manifestPrefix) {
				manifest = "/db/tables/v/" + n
			}
		}
		require.NotEmpty(t, manifest)
		e := &versionEdit{}
		e.setProperty(propConsumerPrefix+"g", bad)
		raw, err := readWholeFile(mem, manifest)
		require.NoError(t, err)
		f, err := mem.Create(manifest)
		require.NoError(t, err)
		_, err = f.Write(append(raw, appendManifestRecord(nil, e.encode())...))
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())

		db, err = Open("/db", &Options{FS: mem})
		if err == nil {
			_, err = db.Table("v")
			db.Close()
		}
		t.Logf("%q: %v", bad, err)
		require.ErrorIs(t, err, ErrCorrupted, "%q", bad)
		require.Contains(t, err.Error(), manifestPrefix, "%q", bad)
		require.Contains(t, err.Error(), "consumer", "%q", bad)
	}
}

// TestNilAndZeroStreams: the Tail and consumer-group methods on a nil or
// zero Table and Consumer return a typed error (or zero values), never
// panic; so does a nil context.
func TestNilAndZeroStreams(t *testing.T) {
	ctx := context.Background()
	for _, tbl := range []*Table{nil, {}} {
		_, err := tbl.Tail(ctx, 1)
		require.Equal(t, CodeClosed, ErrorCode(err))
		_, err = tbl.Consumer("g")
		require.Equal(t, CodeClosed, ErrorCode(err))
		require.Equal(t, CodeClosed, ErrorCode(tbl.DropConsumer("g")))
		require.Nil(t, tbl.Consumers())
		require.Nil(t, tbl.ConsumerPositions())
	}
	for _, c := range []*Consumer{nil, {}} {
		_, err := c.Next(ctx)
		require.Equal(t, CodeInvalidArgument, ErrorCode(err))
		require.Equal(t, CodeInvalidArgument, ErrorCode(c.Commit(1)))
		require.Equal(t, CodeInvalidArgument, ErrorCode(c.SeekTo(1)))
		_, err = c.Lag()
		require.Equal(t, CodeInvalidArgument, ErrorCode(err))
		require.Equal(t, int64(0), c.Position())
		require.Equal(t, "", c.Group())
	}
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	//lint:ignore SA1012 a nil context is what the test passes
	_, err := tbl.Tail(nil, 1)
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))
	c, err := tbl.Consumer("g")
	require.NoError(t, err)
	//lint:ignore SA1012 a nil context is what the test passes
	_, err = c.Next(nil)
	require.Equal(t, CodeInvalidArgument, ErrorCode(err))
}

// TestConsumerStops: a Consumer waiting in Next returns ErrClosed when the
// database is closed or the table dropped, and leaves no goroutine behind.
func TestConsumerStops(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, drop := range []bool{false, true} {
		db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
		c, err := tbl.Consumer("g")
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := c.Next(context.Background())
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		if drop {
			require.NoError(t, db.DropTable("v"))
		} else {
			require.NoError(t, db.Close())
		}
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrClosed, "drop %v", drop)
		case <-time.After(5 * time.Second):
			t.Fatal("Next did not return")
		}
		require.ErrorIs(t, c.Commit(0), ErrClosed)
		db.Close()
	}
	if n := settleGoroutines(base); n > base {
		t.Fatalf("goroutines: %d after, %d before\n%s", n, base, goroutineDump())
	}
}

// TestConsumerConcurrentCommits: Consumer values of one group committing
// from several goroutines (-race): the position ends at the largest seq
// committed and never went backwards meanwhile.
func TestConsumerConcurrentCommits(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	consumerFill(t, tbl, 200)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var backwards atomic.Bool
	go func() { // watches the position
		c, _ := tbl.Consumer("g")
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			if p := c.Position(); p < last {
				backwards.Store(true)
			} else {
				last = p
			}
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := tbl.Consumer("g")
			if err != nil {
				t.Error(err)
				return
			}
			for seq := int64(1 + w); seq <= 200; seq += 4 {
				if err := c.Commit(seq); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	require.False(t, backwards.Load())
	c, err := tbl.Consumer("g")
	require.NoError(t, err)
	require.Equal(t, int64(200), c.Position())
}
