package srdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	randv1 "math/rand"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Simulated power loss. TestReliabilityPowerLoss runs a workload on memFS —
// create a table, two writers inserting batches across many flushes, a
// Compact and a CreateIndex on the populated table running concurrently
// with the writers, Close — and before every mutating file-system operation
// k it takes crashClone(p): what a disk would hold after a power cut at that
// instant, with each unsynced 4 KiB block and directory entry kept with
// probability p. Each image is reopened and must:
//
//   - open, pass Database.Check and the index checks (index = rows, both ways);
//   - hold every row whose WAL record had been fsynced before k (the test
//     reads the WAL file at each WAL fsync, through the op hook, and records
//     the seqs it held); in DurabilitySync every acknowledged row is among
//     them, so Sync loses no acknowledged row; Interval and None lose only
//     rows acknowledged after the last fsync of their WAL;
//   - have no hole: the surviving seqs are exactly 1..max (a row lost while
//     a newer one survived is a failure, within a WAL or across WALs);
//   - have no phantom (a key never sent), no duplicate and no corrupt row
//     (content differs from what its key derives).

// powerLossCut is the state at one crash point.
type powerLossCut struct {
	op     int
	fs     *memFS
	acked  []string         // keys acknowledged before the cut
	synced map[int64]string // seq → key of every row whose WAL record was fsynced before the cut
}

// powerLossRecorder is the op hook's state: it clones at every operation and
// keeps the synced set up to date.
type powerLossRecorder struct {
	fs  *memFS
	rng *rand.Rand
	p   float64

	mu     sync.Mutex // mu guards the fields below (the hook runs on any goroutine)
	acked  []string
	synced map[int64]string
	cuts   []powerLossCut
	schema *Schema
}

func (r *powerLossRecorder) ack(keys []string) {
	r.mu.Lock()
	r.acked = append(r.acked, keys...)
	r.mu.Unlock()
}

// hook runs before mutating operation op: the clone shows the state before
// it. When op is the fsync of a WAL, every record in the file at this
// moment is durable once the fsync returns, i.e. for every later cut.
func (r *powerLossRecorder) hook(op int, kind fsOp, path string) error {
	c := powerLossCut{op: op, fs: r.fs.crashClone(r.rng, r.p)}
	r.mu.Lock()
	defer r.mu.Unlock()
	c.acked = append([]string(nil), r.acked...)
	c.synced = make(map[int64]string, len(r.synced))
	for s, k := range r.synced {
		c.synced[s] = k
	}
	r.cuts = append(r.cuts, c)
	if kind == fsOpSync && strings.HasSuffix(path, ".wal") && r.schema != nil {
		data, err := r.fs.readFile(path)
		if err == nil {
			for s, k := range powerLossWALRows(data, r.schema) {
				r.synced[s] = k
			}
		}
	}
	return nil
}

// powerLossWALRows parses the batch records of a WAL image (stopping at the
// first record that does not check) and returns seq → key of their rows.
func powerLossWALRows(data []byte, s *Schema) map[int64]string {
	out := map[int64]string{}
	off := walHeaderSize
	for off+walRecHeaderSize <= len(data) {
		h := decodeWALRecordHeader(data[off:])
		if h.check() != "" || int64(off)+h.size() > int64(len(data)) {
			break
		}
		rec := data[off : off+int(h.size())]
		off += int(h.size())
		if h.typ != walRecordBatch {
			continue
		}
		payload := rec[walRecHeaderSize:]
		count, n := binary.Uvarint(payload)
		payload = payload[n:]
		for i := uint64(0); i < count; i++ {
			l, n := binary.Uvarint(payload)
			row, err := decodeResultRow(s, payload[n:n+int(l)], nil)
			payload = payload[n+int(l):]
			if err != nil {
				continue
			}
			k, _ := row.Get("key")
			out[row.Seq()], _ = k.(string)
		}
	}
	return out
}

func TestReliabilityPowerLoss(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under -race; CI runs it without: go test -count=1 -run '^TestReliability' .")
	}
	rounds := soakIterations(t, 1)
	start := time.Now()
	for _, mode := range []Durability{DurabilitySync, DurabilityInterval, DurabilityNone} {
		for _, p := range []float64{0, 0.5, 1} {
			t.Run(fmt.Sprintf("%s/p=%v", mode, p), func(t *testing.T) {
				for round := 0; round < rounds; round++ {
					powerLossRun(t, mode, p, uint64(round))
				}
			})
		}
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// powerLossRun runs the workload once, cutting power before every operation,
// and verifies every image.
func powerLossRun(t *testing.T, mode Durability, p float64, round uint64) {
	fs := newMemFS()
	rec := &powerLossRecorder{fs: fs, rng: rand.New(rand.NewPCG(round, uint64(p*100)+uint64(mode)<<8)), p: p,
		synced: map[int64]string{}}
	fs.setOpHook(rec.hook)

	opts := crashLoopOptions(mode)
	opts.FS = fs
	opts.MemTableSize = 16 << 10
	db, err := Open("/db", opts)
	require.NoError(t, err)
	s, err := NewSchema(crashLoopTable, crashLoopFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable(crashLoopTable, s)
	require.NoError(t, err)
	rec.mu.Lock()
	rec.schema = tbl.Schema()
	rec.mu.Unlock()

	// Phases: writers alone, then with a Flush, with a Compact, with a
	// CreateIndex of the populated table, then alone again.
	sent := map[string]bool{}
	var sentMu sync.Mutex
	phase := func(n int, op func() error) {
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		base := uint64(len(sent))
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(round, uint64(w)<<32|base))
				for i := 0; i < n; i++ {
					keys := make([]string, 1+rng.IntN(4))
					batch := make([]map[string]any, len(keys))
					sentMu.Lock()
					for k := range keys {
						keys[k] = fmt.Sprintf("r%d.w%d.%d.%d", round, w, len(sent), k)
						sent[keys[k]] = true
						batch[k] = powerLossRow(keys[k])
					}
					sentMu.Unlock()
					if _, err := tbl.Insert(batch); err != nil {
						errs <- err
						return
					}
					rec.ack(keys)
				}
			}(w)
		}
		if op != nil {
			require.NoError(t, op())
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	phase(12, nil)
	phase(12, tbl.Flush)
	phase(12, tbl.Compact)
	phase(12, func() error { return tbl.CreateIndex(crashLoopIndexedLater) })
	phase(12, nil)
	require.NoError(t, db.Close())
	fs.setOpHook(nil)
	require.GreaterOrEqual(t, len(rec.cuts), 250, "the workload should cross at least 250 file operations")

	rows, lostAcked := 0, 0
	for _, c := range rec.cuts {
		n, l := powerLossVerify(t, mode, c, sent)
		rows += n
		lostAcked += l
	}
	t.Logf("%s p=%v round %d: %d crash points verified, %d rows checked, %d acknowledged rows lost (unsynced, allowed in this mode)",
		mode, p, round, len(rec.cuts), rows, lostAcked)
}

// powerLossRow is the row of key: crashLoopRow with the payload cut to at
// most 2 KiB, so that the workload crosses many flushes quickly.
func powerLossRow(key string) map[string]any {
	r := crashLoopRow(key)
	if b := r["payload"].([]byte); len(b) > 2<<10 {
		r["payload"] = b[:16+int(crashLoopHash(key)%(2<<10))]
	}
	return r
}

// powerLossVerify opens one crash image and checks it; it returns the rows
// it checked and the acknowledged rows it found lost (never in Sync mode).
func powerLossVerify(t *testing.T, mode Durability, c powerLossCut, sent map[string]bool) (rows, lostAcked int) {
	where := fmt.Sprintf("%s cut before op %d", mode, c.op)
	o := crashLoopOptions(DurabilitySync)
	o.FS = c.fs
	db, err := Open("/db", o)
	require.NoError(t, err, "Open: %s", where)
	defer func() { require.NoError(t, db.Close(), where) }()
	require.NoError(t, db.Check(), "Check: %s", where)
	tbl, err := db.Table(crashLoopTable)
	if err != nil {
		require.True(t, IsNotFoundTable(err), "%s: %v", where, err)
		require.Empty(t, c.acked, "%s: table lost after rows were acknowledged", where)
		return 0, 0
	}
	require.NoError(t, tbl.waitIndexBuilds(), where)
	require.NoError(t, tbl.checkIndexes(), "index check: %s", where)

	keyOf := map[int64]string{}
	seqOf := map[string]int64{}
	it, err := tbl.Query().Rows()
	require.NoError(t, err)
	var maxSeq int64
	for it.Next() {
		r := it.Row()
		kv, _ := r.Get("key")
		key, _ := kv.(string)
		require.True(t, sent[key], "PHANTOM %q at seq %d: %s", key, r.Seq(), where)
		_, dup := seqOf[key]
		require.False(t, dup, "DUP %q: %s", key, where)
		want := powerLossRow(key)
		g, _ := r.Get(crashLoopIndexedLater)
		pl, _ := r.Get("payload")
		require.Equal(t, want[crashLoopIndexedLater], g, "CORRUPT %q: %s", key, where)
		require.Equal(t, want["payload"], pl, "CORRUPT %q: %s", key, where)
		keyOf[r.Seq()], seqOf[key] = key, r.Seq()
		maxSeq = max(maxSeq, r.Seq())
	}
	require.NoError(t, it.Err(), where)
	require.NoError(t, it.Close())

	for seq := int64(1); seq <= maxSeq; seq++ {
		_, ok := keyOf[seq]
		require.True(t, ok, "HOLE: seq %d lost while seq %d survived: %s", seq, maxSeq, where)
	}
	for seq, key := range c.synced {
		require.Equal(t, key, keyOf[seq], "LOST: seq %d (%q) was fsynced in its WAL: %s", seq, key, where)
	}
	for _, key := range c.acked {
		if _, ok := seqOf[key]; !ok {
			require.NotEqual(t, DurabilitySync, mode, "LOST: acknowledged %q: %s", key, where)
			lostAcked++
		}
	}
	// index = scan on the field indexed part way.
	for g := int64(0); g < crashLoopGroups; g++ {
		var want []int64
		for seq := int64(1); seq <= maxSeq; seq++ {
			if crashLoopGroup(keyOf[seq]) == g {
				want = append(want, seq)
			}
		}
		require.Equal(t, want, crashLoopQuerySeqs(t, tbl.Query().Eq(crashLoopIndexedLater, g)), "grp=%d: %s", g, where)
	}
	return len(keyOf), lostAcked
}

// TestReliabilityPowerLossUpdateDelete runs a workload (create table,
// inserts across several flushes, an update, a delete) on the in-memory
// crash FS and, before every mutating file-system operation, takes a
// snapshot of what a power cut at that instant would leave (synced state
// plus each unsynced 4 KiB block or directory entry kept with probability
// p). Every snapshot must open, pass Check, and hold every row acknowledged
// before the cut (Sync mode), with no row that was never written and no
// duplicate. Unlike TestReliabilityPowerLoss it also checks that an
// acknowledged Update and Delete survive every cut (a deleted row never
// comes back).
func TestReliabilityPowerLossUpdateDelete(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under -race; CI runs it without: go test -count=1 -run '^TestReliability' .")
	}
	for _, p := range []float64{0, 0.5, 1} {
		t.Run(fmt.Sprintf("p=%v", p), func(t *testing.T) {
			powerLossSweep(t, p)
		})
	}
}

type powerCut struct {
	fs    *memFS
	op    int
	acked int64 // rows 1..acked were acknowledged before the cut
	upd   bool  // the update of row 3 was acknowledged
	del   bool  // the delete of row 4 was acknowledged
	delIn bool  // the delete of row 4 had been issued (it may or may not survive)
}

func powerLossSweep(t *testing.T, p float64) {
	fs := newMemFS()
	rng := rand.New(rand.NewPCG(1, uint64(p*100)))
	// The hook runs on whichever goroutine does the operation (the
	// background flusher too): the workload's progress is shared atomically
	// and the cuts list under a mutex.
	var mu sync.Mutex
	var cuts []powerCut
	var acked atomic.Int64
	var upd, del, delIn atomic.Bool
	fs.setOpHook(func(op int, _ fsOp, _ string) error {
		c := powerCut{op: op, acked: acked.Load(), upd: upd.Load(), del: del.Load(), delIn: delIn.Load()}
		c.fs = fs.crashClone(rng, p)
		mu.Lock()
		cuts = append(cuts, c)
		mu.Unlock()
		return nil
	})
	opts := DefaultOptions()
	opts.FS = fs
	opts.Durability = DurabilitySync
	opts.MemTableSize = 8 << 10
	db, err := Open("/db", opts)
	require.NoError(t, err)
	tbl := createIMTable(t, db)
	const rows = 120
	for i := int64(1); i <= rows; i++ {
		seq, err := tbl.Insert(imTableRow(i))
		require.NoError(t, err)
		require.Equal(t, i, seq)
		acked.Store(i)
		if i == 60 {
			require.NoError(t, tbl.Update(3, map[string]any{"from_uid": "updated"}))
			upd.Store(true)
			delIn.Store(true)
			require.NoError(t, tbl.Delete(4))
			del.Store(true)
		}
	}
	require.NoError(t, db.Close())
	fs.setOpHook(nil)
	require.Greater(t, len(cuts), 200, "the workload should cross many file operations")

	for _, c := range cuts {
		func() {
			o := DefaultOptions()
			o.FS = c.fs
			db, err := Open("/db", o)
			require.NoError(t, err, "open after cut at op %d", c.op)
			defer db.Close()
			tbl, err := db.Table("messages")
			if err != nil {
				// The cut came before CreateTable was durable: no row can
				// have been acknowledged.
				require.True(t, IsNotFoundTable(err), "cut at op %d: %v", c.op, err)
				require.Zero(t, c.acked, "cut at op %d lost the table after acks", c.op)
				return
			}
			require.NoError(t, db.Check(), "check after cut at op %d", c.op)
			for i := int64(1); i <= c.acked; i++ {
				row, err := tbl.Get(i)
				if i == 4 && c.del {
					require.True(t, IsNotFound(err), "cut at op %d: deleted row 4 is back", c.op)
					continue
				}
				if i == 4 && c.delIn && IsNotFound(err) {
					continue // the delete was in flight: either outcome is allowed
				}
				require.NoError(t, err, "LOST: cut at op %d, acked row %d", c.op, i)
				id, _ := row.Get("msg_id")
				require.Equal(t, i, id, "CORRUPT: cut at op %d row %d", c.op, i)
				if i == 3 && c.upd {
					uid, _ := row.Get("from_uid")
					require.Equal(t, "updated", uid, "cut at op %d: acknowledged update lost", c.op)
				}
			}
			// No phantom or duplicate: every row is one the workload wrote,
			// under the seq it was given.
			it, err := tbl.newTableIter()
			require.NoError(t, err)
			defer it.close()
			for ok := it.first(); ok; ok = it.next() {
				require.LessOrEqual(t, it.seq(), int64(rows), "PHANTOM seq %d after cut at op %d", it.seq(), c.op)
				row, err := decodeResultRow(tbl.Schema(), it.value(), nil)
				require.NoError(t, err)
				id, _ := row.Get("msg_id")
				require.Equal(t, it.seq(), id, "cut at op %d", c.op)
			}
			require.NoError(t, it.err())
		}()
	}
	t.Logf("p=%v: %d crash points verified", p, len(cuts))
}

// TestRotationLeavesOlderWALWholeAndDurable: when a memtable switch creates
// the next WAL, every row acknowledged before it must already be durable in
// the older WAL, in every durability mode. Regression test for a crash-loop
// finding: the old WAL was only closed (written and fsynced) by the
// background flush, so a SIGKILL in DurabilityNone that cut short the write
// of its buffer — or a power cut dropping its unsynced blocks — left a torn
// WAL that was not the newest, which replay rightly reports as ErrCorrupted:
// the table failed to open. (And rows of the newer WAL could survive while
// older ones were lost.) The crash image is taken exactly when the second
// WAL of the table is created, with every unsynced byte dropped.
func TestRotationLeavesOlderWALWholeAndDurable(t *testing.T) {
	for _, mode := range []Durability{DurabilitySync, DurabilityInterval, DurabilityNone} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := newMemFS()
			var acked atomic.Int64
			var image *memFS
			var ackedAtImage int64
			wals := 0
			fs.setOpHook(func(_ int, op fsOp, path string) error {
				if op == fsOpCreate && strings.HasSuffix(path, ".wal") && strings.Contains(path, "/messages/") {
					if wals++; wals == 2 && image == nil {
						image = fs.crashClone(nil, 0)
						ackedAtImage = acked.Load()
					}
				}
				return nil
			})
			opts := DefaultOptions()
			opts.FS = fs
			opts.Durability = mode
			opts.MemTableSize = 4 << 10
			opts.SyncInterval = 1 << 40 // the Interval syncer never runs
			db := openTestDB(t, "/db", opts)
			tbl := createIMTable(t, db)
			for i := int64(1); image == nil; i++ {
				require.Less(t, i, int64(10_000), "no memtable switch")
				_, err := tbl.Insert(imTableRow(i))
				require.NoError(t, err)
				acked.Store(i)
			}
			require.NoError(t, db.Close())
			require.Positive(t, ackedAtImage)

			o := DefaultOptions()
			o.FS = image
			db2 := openTestDB(t, "/db", o)
			defer db2.Close()
			require.NoError(t, db2.Check())
			tbl2, err := db2.Table("messages")
			require.NoError(t, err)
			for i := int64(1); i <= ackedAtImage; i++ {
				row, err := tbl2.Get(i)
				require.NoError(t, err, fmt.Sprintf("row %d acknowledged before the switch is lost", i))
				require.Equal(t, i, mustGet(row, "msg_id"))
			}
		})
	}
}

// TestCheckDuringIndexBuildReportsNothing: Database.Check running while
// CreateIndex completes must not report the files the build replaced.
// Regression test for a power-loss-sweep finding: checkIndexes asked
// whether the index was ready after pinning its read state, so a build that
// completed in between made the pinned, replaced files (which rightly lack
// the new section) look like a "ready index" without its section. The
// window is narrow: the test runs checks back to back during many builds.
func TestCheckDuringIndexBuildReportsNothing(t *testing.T) {
	db, tbl := idxOpenTable(t, newMemFS(), true, 8<<10)
	defer db.Close()
	for i := 0; i < 4; i++ {
		idxPopulate(t, tbl, 600)
	}
	require.NoError(t, tbl.Flush())
	stop := make(chan struct{})
	checkErr := make(chan error, 1)
	var checks atomic.Int64
	go func() {
		defer close(checkErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.Check(); err != nil {
				checkErr <- err
				return
			}
			checks.Add(1)
		}
	}()
	for round := 0; round < 40; round++ {
		require.NoError(t, tbl.DropIndex("from"))
		require.NoError(t, tbl.CreateIndex("from"))
	}
	close(stop)
	require.NoError(t, <-checkErr)
	t.Logf("%d checks during 40 index builds", checks.Load())
}

// Crash tests of compaction (a crash at any point of a compaction loses
// nothing, power loss included). A base database is built once on a memFS; each
// case runs a compaction on an identical copy, takes a crash clone at a
// chosen moment (a named kill point, or before the k-th file-system
// operation), reopens the clone and compares it with the model: every live
// row exactly once, in its newest version, no deleted row, and no file left
// that the MANIFEST does not name.

const compactionCrashDir = "/db"

var errCompactionCrash = errors.New("simulated crash")

// compactionCrashBase is the database every crash case starts from: L1
// files from a first compaction, then L0 files holding updates, deletes and
// new rows that overlap them.
type compactionCrashBase struct {
	fs    *memFS
	model *compactionModel
}

func compactionCrashOptions(fs FS) *Options {
	o := compactionTestOptions(fs)
	o.Durability = DurabilitySync
	o.DisableAutoCompaction = true
	o.MemTableSize = 32 << 10
	o.TargetFileSizes = []int64{0, 24 << 10}
	return o
}

var (
	compactionCrashBaseMu  sync.Mutex
	compactionCrashBaseVal *compactionCrashBase
)

// getCompactionCrashBase builds the base database once per test binary.
func getCompactionCrashBase(t *testing.T) *compactionCrashBase {
	t.Helper()
	compactionCrashBaseMu.Lock()
	defer compactionCrashBaseMu.Unlock()
	if compactionCrashBaseVal != nil {
		return compactionCrashBaseVal
	}
	fs := newMemFS()
	db, err := Open(compactionCrashDir, compactionCrashOptions(fs))
	require.NoError(t, err)
	tbl := createCompactionTable(t, db)
	m := newCompactionModel()
	rng := randv1.New(randv1.NewSource(7))
	m.insert(t, tbl, 800, 100)
	require.NoError(t, tbl.Compact())
	m.mutate(t, tbl, rng, 60, 60)
	m.insert(t, tbl, 250, 50)
	require.NoError(t, tbl.Flush())
	m.mutate(t, tbl, rng, 30, 30)
	m.insert(t, tbl, 150, 50)
	require.NoError(t, tbl.Flush())
	per, _ := versionFiles(tbl)
	require.GreaterOrEqual(t, per[0], 2, "base: L0 files")
	require.Greater(t, per[1], 1, "base: L1 files")
	require.NoError(t, db.Close())
	compactionCrashBaseVal = &compactionCrashBase{fs: fs, model: m}
	return compactionCrashBaseVal
}

// openCrashCopy opens a copy of the base and waits for the flush of the
// (empty) replayed memtable, so that the compaction that follows is the
// only thing touching the file system.
func (b *compactionCrashBase) openCrashCopy(t *testing.T) (*memFS, *Database, *Table) {
	t.Helper()
	fs := b.copyFS()
	db, err := Open(compactionCrashDir, compactionCrashOptions(fs))
	require.NoError(t, err)
	tbl, err := db.Table("events")
	require.NoError(t, err)
	require.NoError(t, tbl.Flush())
	// Flush returns once the memtable is out of the read state; the
	// background flusher may still be removing its WAL. Wait for it.
	tbl.flushMu.Lock()
	//lint:ignore SA2001 an empty critical section is the barrier: it waits for the flusher
	tbl.flushMu.Unlock()
	return fs, db, tbl
}

// copyFS returns an independent copy of the base file system.
func (b *compactionCrashBase) copyFS() *memFS { return b.fs.crashClone(nil, 1) }

// checkCrashClone opens a crashed file system and checks it against the
// model; with again set it then compacts it once more and checks again.
func (b *compactionCrashBase) checkCrashClone(t *testing.T, clone *memFS, what string, again bool) {
	t.Helper()
	db, err := Open(compactionCrashDir, compactionCrashOptions(clone))
	require.NoError(t, err, "%s: open", what)
	defer db.Close()
	tbl, err := db.Table("events")
	require.NoError(t, err, "%s: table", what)
	checkOnlyLiveFiles(t, clone, tbl, what)
	b.model.verify(t, tbl, what)
	if !again {
		return
	}
	require.NoError(t, tbl.Compact(), "%s: compact after recovery", what)
	b.model.verify(t, tbl, what+", compacted again")
	checkOnlyLiveFiles(t, clone, tbl, what+", compacted again")
}

// checkOnlyLiveFiles checks that the table directory holds exactly the SSTs
// of the current version and no temp file.
func checkOnlyLiveFiles(t *testing.T, fs *memFS, tbl *Table, what string) {
	t.Helper()
	names, err := fs.List(tbl.dir)
	require.NoError(t, err)
	v := tbl.vs.current()
	defer v.unref()
	live := map[string]bool{}
	for _, f := range v.allFiles() {
		live[makeFilename(fileTypeSST, f.num)] = true
	}
	onDisk := map[string]bool{}
	for _, n := range names {
		require.False(t, strings.HasSuffix(n, ".tmp"), "%s: temp file %s left", what, n)
		if typ, _, ok := parseFilename(n); ok && typ == fileTypeSST {
			onDisk[n] = true
		}
	}
	require.Equal(t, live, onDisk, "%s: SSTs on disk vs MANIFEST", what)
}

// compactionKillPoints runs a full compaction of a copy of the base and
// returns the kill points it passes, in order.
func compactionKillPoints(t *testing.T, b *compactionCrashBase) []string {
	t.Helper()
	_, db, tbl := b.openCrashCopy(t)
	defer db.Close()
	var mu sync.Mutex
	var seen []string
	setKillPointHook(func(name string) error {
		mu.Lock()
		seen = append(seen, name)
		mu.Unlock()
		return nil
	})
	defer setKillPointHook(nil)
	require.NoError(t, tbl.Compact())
	setKillPointHook(nil)
	b.model.verify(t, tbl, "uncrashed compaction")
	return seen
}

// TestReliabilityCompactionCrashAtEveryKillPoint crashes a full compaction at every
// kill point it passes (each occurrence: one per output for
// compaction.before_output_sync and sst.before_rename, the MANIFEST steps,
// …) with unsynced data kept with probability 0, ½ and 1.
func TestReliabilityCompactionCrashAtEveryKillPoint(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under -race; CI runs it without: go test -count=1 -run '^TestReliability' .")
	}
	b := getCompactionCrashBase(t)
	points := compactionKillPoints(t, b)
	for _, want := range []string{kpCompactionBeforeOutputSync, kpCompactionAfterOutput, kpCompactionAfterManifest, kpCompactionAfterDelete} {
		require.Contains(t, points, want)
	}
	require.Greater(t, strings.Count(strings.Join(points, " "), kpCompactionBeforeOutputSync), 1, "want several outputs")
	t.Logf("kill points of one compaction: %v", points)

	for i, name := range points {
		for _, p := range []float64{0, 0.5, 1} {
			what := fmt.Sprintf("crash at kill point #%d %s, p=%v", i, name, p)
			fs, db, tbl := b.openCrashCopy(t)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var clone *memFS
			n := 0
			var mu sync.Mutex
			setKillPointHook(func(kp string) error {
				mu.Lock()
				defer mu.Unlock()
				if clone != nil {
					return errCompactionCrash
				}
				if n == i {
					require.Equal(t, name, kp, "kill point order changed")
					clone = fs.crashClone(rng, p)
					return errCompactionCrash
				}
				n++
				return nil
			})
			err := tbl.Compact()
			setKillPointHook(nil)
			require.ErrorIs(t, err, errCompactionCrash, what)
			require.NotNil(t, clone, what)
			_ = db.Close()
			b.checkCrashClone(t, clone, what, p == 1)
		}
	}
}

// TestReliabilityCompactionCrashAtEveryFSOperation takes a power-loss clone before
// every file-system operation of a full compaction.
func TestReliabilityCompactionCrashAtEveryFSOperation(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under -race; CI runs it without: go test -count=1 -run '^TestReliability' .")
	}
	b := getCompactionCrashBase(t)
	// Count the operations of one compaction.
	fs, db, tbl := b.openCrashCopy(t)
	start := fs.opCount()
	require.NoError(t, tbl.Compact())
	ops := fs.opCount() - start
	require.NoError(t, db.Close())
	require.Greater(t, ops, 10)

	step := 1
	if testing.Short() {
		step = 3
	}
	for k := 0; k <= ops; k += step {
		ps := []float64{0, 1}
		if k%3 == 0 {
			ps = append(ps, 0.5)
		}
		for _, p := range ps {
			what := fmt.Sprintf("crash before op %d of %d, p=%v", k, ops, p)
			fs, db, tbl := b.openCrashCopy(t)
			base := fs.opCount()
			rng := rand.New(rand.NewPCG(uint64(k), 2))
			var clone *memFS
			var crashedOp fsOp
			fs.setOpHook(func(i int, op fsOp, path string) error {
				if clone == nil && i-base == k {
					clone = fs.crashClone(rng, p)
					crashedOp = op
				}
				if clone != nil {
					return errCompactionCrash
				}
				return nil
			})
			err := tbl.Compact()
			if clone == nil {
				require.NoError(t, err, what)
				clone = fs.crashClone(rng, p)
			} else if err == nil {
				// Only removing obsolete inputs is best effort (Open
				// removes what is left); every other failure surfaces.
				require.Equal(t, fsOpRemove, crashedOp, "%s: a failed %v went unreported", what, crashedOp)
			}
			fs.setOpHook(nil)
			_ = db.Close()
			b.checkCrashClone(t, clone, what, false)
		}
	}
}

// TestReliabilityCompactionBackgroundCrash crashes a background L0 compaction at each
// compaction kill point.
func TestReliabilityCompactionBackgroundCrash(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under -race; CI runs it without: go test -count=1 -run '^TestReliability' .")
	}
	b := getCompactionCrashBase(t)
	for _, name := range []string{kpCompactionBeforeOutputSync, kpCompactionAfterOutput, kpCompactionAfterManifest, kpCompactionAfterDelete} {
		what := "background crash at " + name
		fs := b.copyFS()
		var clone *memFS
		var mu sync.Mutex
		setKillPointHook(func(kp string) error {
			mu.Lock()
			defer mu.Unlock()
			if clone == nil && kp == name {
				clone = fs.crashClone(nil, 0)
			}
			if clone != nil {
				return errCompactionCrash
			}
			return nil
		})
		o := compactionCrashOptions(fs)
		o.DisableAutoCompaction = false
		o.L0CompactionTrigger = 2 // the base has 2 L0 files: due at Open
		db, err := Open(compactionCrashDir, o)
		require.NoError(t, err)
		tbl, err := db.Table("events")
		require.NoError(t, err)
		tbl.waitForCompactions()
		setKillPointHook(nil)
		mu.Lock()
		require.NotNil(t, clone, what)
		mu.Unlock()
		require.ErrorIs(t, tbl.readOnlyErr(), errCompactionCrash, what)
		_ = db.Close()
		b.checkCrashClone(t, clone, what, true)
	}
}
