package srdb

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// imTableFields is the IM workload schema.
func imTableFields() []Field {
	return []Field{
		{Name: "channel_id", Type: String, Indexed: true},
		{Name: "from_uid", Type: String},
		{Name: "msg_id", Type: Int64, Indexed: true},
		{Name: "msg_type", Type: Uint8},
		{Name: "payload", Type: Bytes, Nullable: true},
	}
}

func imTableRow(i int64) map[string]any {
	return map[string]any{
		"channel_id": fmt.Sprintf("ch-%03d", i%97),
		"from_uid":   fmt.Sprintf("u%d", i%13),
		"msg_id":     i,
		"msg_type":   uint8(i % 4),
		"payload":    []byte(fmt.Sprintf("payload-%d", i)),
	}
}

func openTestDB(t *testing.T, dir string, opts *Options) *Database {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	return db
}

func createIMTable(t *testing.T, db *Database) *Table {
	t.Helper()
	s, err := NewSchema("messages", imTableFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("messages", s)
	require.NoError(t, err)
	return tbl
}

// rowModel is the expected content of a table: seq → msg_id (or deleted).
type rowModel map[int64]map[string]any

// checkTable compares the table against the model with Get of every seq and
// with a full forward and backward scan.
func checkTable(t *testing.T, tbl *Table, model rowModel, maxSeq int64) {
	t.Helper()
	for seq := int64(1); seq <= maxSeq; seq++ {
		want, live := model[seq]
		row, err := tbl.Get(seq)
		if !live {
			require.True(t, IsNotFound(err), "seq %d should be absent, got %v", seq, err)
			continue
		}
		require.NoError(t, err, "seq %d", seq)
		for k, v := range want {
			got, ok := row.Get(k)
			require.True(t, ok, "seq %d field %s", seq, k)
			require.Equal(t, v, got, "seq %d field %s", seq, k)
		}
	}
	it, err := tbl.newTableIter()
	require.NoError(t, err)
	n := 0
	prev := int64(0)
	for ok := it.first(); ok; ok = it.next() {
		require.Greater(t, it.seq(), prev)
		prev = it.seq()
		_, live := model[it.seq()]
		require.True(t, live, "scan returned deleted or unknown seq %d", it.seq())
		n++
	}
	require.NoError(t, it.close())
	require.Equal(t, len(model), n, "forward scan row count")

	it, err = tbl.newTableIter()
	require.NoError(t, err)
	n = 0
	for ok := it.last(); ok; ok = it.prev() {
		n++
	}
	require.NoError(t, it.close())
	require.Equal(t, len(model), n, "backward scan row count")
	require.Equal(t, int64(len(model)), tbl.Stats().Rows, "Stats().Rows")
}

func TestTableInsertGetAcrossMemtableSSTAndReopen(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.MemTableSize = 64 << 10 // several flushes
	db := openTestDB(t, dir, opts)
	tbl := createIMTable(t, db)

	model := rowModel{}
	const n = 3000
	for i := int64(1); i <= n; i++ {
		seq, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
		require.Equal(t, i, seq)
		model[seq] = map[string]any{"msg_id": i, "channel_id": fmt.Sprintf("ch-%03d", i%97)}
	}
	checkTable(t, tbl, model, n)
	require.NoError(t, tbl.Flush())
	st := tbl.Stats()
	require.Greater(t, st.Flushes, int64(1), "several flushes expected")
	require.Greater(t, st.DiskBytes, int64(0))
	require.Zero(t, st.MemTableRows)
	checkTable(t, tbl, model, n)
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err := db.Table("messages")
	require.NoError(t, err)
	checkTable(t, tbl, model, n)
	// Seqs continue after reopen, never reused.
	seq, err := tbl.Insert(imTableRow(n + 1))
	require.NoError(t, err)
	require.Equal(t, int64(n+1), seq)
}

func TestTableBatchInsertIsAtomicAndConsecutive(t *testing.T) {
	db := openTestDB(t, t.TempDir(), nil)
	defer db.Close()
	tbl := createIMTable(t, db)
	first, err := tbl.Insert([]map[string]any{imTableRow(1), imTableRow(2), imTableRow(3)})
	require.NoError(t, err)
	require.Equal(t, int64(1), first)

	bad := imTableRow(5)
	bad["msg_type"] = 300 // out of range for Uint8
	_, err = tbl.Insert([]map[string]any{imTableRow(4), bad})
	require.True(t, errors.Is(err, ErrSchemaViolation), "got %v", err)
	// Nothing of the failed batch is stored and no seq was consumed.
	_, err = tbl.Get(4)
	require.True(t, IsNotFound(err))
	seq, err := tbl.Insert(imTableRow(4))
	require.NoError(t, err)
	require.Equal(t, int64(4), seq)
}

func TestTableUpdateDeleteVisibleEverywhere(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.MemTableSize = 32 << 10
	db := openTestDB(t, dir, opts)
	tbl := createIMTable(t, db)
	model := rowModel{}
	const n = 1500
	for i := int64(1); i <= n; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
		model[i] = map[string]any{"msg_id": i}
	}
	require.NoError(t, tbl.Flush()) // rows now in SSTs
	rng := rand.New(rand.NewSource(7))
	for k := 0; k < 400; k++ {
		seq := int64(rng.Intn(n) + 1)
		if _, live := model[seq]; !live {
			require.True(t, IsNotFound(tbl.Update(seq, map[string]any{"msg_id": int64(1)})))
			require.True(t, IsNotFound(tbl.Delete(seq)))
			continue
		}
		if rng.Intn(3) == 0 {
			require.NoError(t, tbl.Delete(seq))
			delete(model, seq)
		} else {
			v := int64(1_000_000 + k)
			require.NoError(t, tbl.Update(seq, map[string]any{"msg_id": v, "payload": nil}))
			model[seq] = map[string]any{"msg_id": v, "payload": nil}
		}
		if k%100 == 99 {
			require.NoError(t, tbl.Flush())
		}
	}
	checkTable(t, tbl, model, n)
	require.True(t, IsNotFound(tbl.Update(n+10, map[string]any{"msg_id": int64(1)})))
	require.NoError(t, db.Close())

	db = openTestDB(t, dir, opts)
	defer db.Close()
	tbl, err := db.Table("messages")
	require.NoError(t, err)
	checkTable(t, tbl, model, n)
}

func TestTableGetPartial(t *testing.T) {
	db := openTestDB(t, t.TempDir(), nil)
	defer db.Close()
	tbl := createIMTable(t, db)
	seq, err := tbl.Insert(imTableRow(42))
	require.NoError(t, err)
	row, err := tbl.GetPartial(seq, "msg_id")
	require.NoError(t, err)
	v, ok := row.Get("msg_id")
	require.True(t, ok)
	require.Equal(t, int64(42), v)
	_, ok = row.Get("channel_id")
	require.False(t, ok, "a field not asked for is absent")
	require.Equal(t, seq, row.Seq())
	_, err = tbl.GetPartial(seq, "nope")
	require.True(t, errors.Is(err, ErrInvalidQuery))
}

func TestTableTimeField(t *testing.T) {
	db := openTestDB(t, t.TempDir(), nil)
	defer db.Close()
	tbl := createIMTable(t, db)
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	r := imTableRow(1)
	r["_time"] = at
	seq, err := tbl.Insert(r)
	require.NoError(t, err)
	row, err := tbl.Get(seq)
	require.NoError(t, err)
	require.True(t, row.Time().Equal(at))

	before := time.Now()
	seq, err = tbl.Insert(imTableRow(2))
	require.NoError(t, err)
	row, err = tbl.Get(seq)
	require.NoError(t, err)
	require.False(t, row.Time().Before(before.Add(-time.Second)))
}

// TestReopenAfterSimulatedCrash copies the directory while the database is
// open (as a crash would leave it) and opens the copy.
func TestReopenAfterSimulatedCrash(t *testing.T) {
	for _, mode := range []Durability{DurabilitySync, DurabilityInterval} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := newMemFS()
			opts := DefaultOptions()
			opts.FS = fs
			opts.Durability = mode
			opts.MemTableSize = 16 << 10
			db := openTestDB(t, "/db", opts)
			tbl := createIMTable(t, db)
			model := rowModel{}
			for i := int64(1); i <= 800; i++ {
				_, err := tbl.Insert(imTableRow(i))
				require.NoError(t, err)
				model[i] = map[string]any{"msg_id": i}
			}
			require.NoError(t, tbl.Delete(5))
			delete(model, 5)
			require.NoError(t, tbl.Update(6, map[string]any{"from_uid": "changed"}))
			model[6] = map[string]any{"from_uid": "changed"}

			// A process crash keeps everything handed to the kernel (p=1).
			crashed := fs.crashClone(nil, 1)
			opts2 := DefaultOptions()
			opts2.FS = crashed
			db2 := openTestDB(t, "/db", opts2)
			tbl2, err := db2.Table("messages")
			require.NoError(t, err)
			checkTable(t, tbl2, model, 800)
			require.NoError(t, db2.Close())
			require.NoError(t, db.Close())
		})
	}
}

func TestConcurrentInsertsGetsAndFlushes(t *testing.T) {
	opts := DefaultOptions()
	opts.MemTableSize = 32 << 10
	db := openTestDB(t, t.TempDir(), opts)
	defer db.Close()
	tbl := createIMTable(t, db)

	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[int64]int64{} // seq → msg_id
	const writers, perWriter = 4, 400
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				id := int64(w*perWriter + i + 1)
				seq, err := tbl.Insert(imTableRow(id))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[seq] = id
				mu.Unlock()
			}
		}(w)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		rng := rand.New(rand.NewSource(3))
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			var seq, id int64
			for s, v := range acked {
				seq, id = s, v
				break
			}
			mu.Unlock()
			if seq == 0 {
				continue
			}
			row, err := tbl.Get(seq)
			if err != nil {
				t.Errorf("Get(%d): %v", seq, err)
				return
			}
			if got, _ := row.Get("msg_id"); got != id {
				t.Errorf("Get(%d) msg_id %v want %d", seq, got, id)
				return
			}
			_ = rng
		}
	}()
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := tbl.Flush(); err != nil {
				t.Error(err)
				return
			}
			it, err := tbl.newTableIter()
			if err != nil {
				t.Error(err)
				return
			}
			prev := int64(0)
			for ok := it.first(); ok; ok = it.next() {
				if it.seq() <= prev {
					t.Errorf("scan not increasing")
				}
				prev = it.seq()
			}
			if err := it.close(); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	require.Len(t, acked, writers*perWriter)
	model := rowModel{}
	for s, id := range acked {
		model[s] = map[string]any{"msg_id": id}
	}
	checkTable(t, tbl, model, writers*perWriter)
}

// TestEmptyWALFromCrashedCreateIsRemoved: a crash inside createWAL leaves an
// empty newest WAL. It must be removed at Open, or it would read as a damaged
// older WAL at the following Open.
func TestEmptyWALFromCrashedCreateIsRemoved(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir, nil)
	tbl := createIMTable(t, db)
	_, err := tbl.Insert(imTableRow(1))
	require.NoError(t, err)
	require.NoError(t, db.Close())

	tdir := dir + "/" + tablesDirName + "/messages"
	names, err := OSFS().List(tdir)
	require.NoError(t, err)
	var maxNum uint64
	for _, n := range names {
		if _, num, ok := parseFilename(n); ok && num > maxNum {
			maxNum = num
		}
	}
	f, err := OSFS().Create(makeFilepath(tdir, fileTypeWAL, maxNum+100))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	for i := 0; i < 2; i++ {
		db = openTestDB(t, dir, nil)
		tbl, err = db.Table("messages")
		require.NoError(t, err, "open %d", i)
		_, err = tbl.Get(1)
		require.NoError(t, err)
		_, err = tbl.Insert(imTableRow(int64(i + 2)))
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
}

// TestCloseRacingReadersAndWriters: Close while goroutines insert, get and
// scan. Every call either succeeds or returns ErrClosed; nothing panics or
// reads unmapped memory (Close waits for pinned readers).
func TestCloseRacingReadersAndWriters(t *testing.T) {
	for round := 0; round < 5; round++ {
		opts := DefaultOptions()
		opts.MemTableSize = 16 << 10
		db := openTestDB(t, t.TempDir(), opts)
		tbl := createIMTable(t, db)
		for i := int64(1); i <= 300; i++ {
			_, err := tbl.Insert(imTableRow(i))
			require.NoError(t, err)
		}
		require.NoError(t, tbl.Flush())
		var wg sync.WaitGroup
		okOrClosed := func(err error) {
			if err != nil && !IsClosed(err) {
				t.Errorf("unexpected error: %v", err)
			}
		}
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 2000; i++ {
					switch g {
					case 0:
						_, err := tbl.Insert(imTableRow(int64(1000 + i)))
						okOrClosed(err)
						if err != nil {
							return
						}
					case 1:
						_, err := tbl.Get(int64(i%300 + 1))
						okOrClosed(err)
						if err != nil {
							return
						}
					case 2:
						it, err := tbl.newTableIter()
						okOrClosed(err)
						if err != nil {
							return
						}
						for ok := it.first(); ok; ok = it.next() {
							_ = it.value()[0]
						}
						okOrClosed(it.close())
					}
				}
			}(g)
		}
		time.Sleep(time.Duration(round) * time.Millisecond)
		require.NoError(t, db.Close())
		wg.Wait()
	}
}

// TestScanOverCorruptSSTReportsError flips bytes of an SST: a scan either
// returns every row unchanged or stops with ErrCorrupted from err() as soon
// as it meets the damage — never a silent short scan.
func TestScanOverCorruptSSTReportsError(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.DisableAutoCompaction = true
	db := openTestDB(t, dir, opts)
	tbl := createIMTable(t, db)
	for i := int64(1); i <= 400; i++ {
		_, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Flush())
	require.NoError(t, db.Close())
	tdir := filepath.Join(dir, tablesDirName, "messages")
	var sst string
	names, err := OSFS().List(tdir)
	require.NoError(t, err)
	for _, n := range names {
		if typ, _, ok := parseFilename(n); ok && typ == fileTypeSST {
			sst = filepath.Join(tdir, n)
		}
	}
	orig, err := os.ReadFile(sst)
	require.NoError(t, err)
	corruptSeen := 0
	for _, frac := range []float64{0.1, 0.25, 0.4, 0.5, 0.6, 0.75} {
		b := append([]byte(nil), orig...)
		b[int(float64(len(b))*frac)] ^= 0x08
		require.NoError(t, os.WriteFile(sst, b, 0o600))
		db, err := Open(dir, opts)
		require.NoError(t, err)
		tbl, err := db.Table("messages")
		require.NoError(t, err)
		it, err := tbl.newTableIter()
		require.NoError(t, err)
		n := 0
		for ok := it.first(); ok; ok = it.next() {
			if it.value() != nil {
				n++
			}
		}
		iterErr := it.err()
		require.Equal(t, iterErr, it.close(), "close reports the same error the loop saw")
		if iterErr != nil {
			require.True(t, IsCorrupted(iterErr), "got %v", iterErr)
			corruptSeen++
		} else {
			require.Equal(t, 400, n, "a scan without error returns every row (flip at %.2f)", frac)
		}
		require.NoError(t, db.Close())
	}
	require.Greater(t, corruptSeen, 0, "some flips must hit checked bytes")
}

// mustPin pins a table's read state in tests; the table must be open.
func mustPin(tbl *Table) *readState {
	rs, err := tbl.pin()
	if err != nil {
		panic(err)
	}
	return rs
}
