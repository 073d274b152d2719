package srdb

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
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
	if reliabilityUnderRace {
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
