package srdb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ckptDump returns every visible row of every table: table → seq → data.
func ckptDump(t *testing.T, db *Database) map[string]map[int64]map[string]any {
	t.Helper()
	out := map[string]map[int64]map[string]any{}
	for _, name := range db.Tables() {
		tb, err := db.Table(name)
		require.NoError(t, err)
		rows, err := tb.Query().Rows()
		require.NoError(t, err)
		m := map[int64]map[string]any{}
		for rows.Next() {
			r := rows.Row()
			m[r.Seq()] = r.Data()
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		out[name] = m
	}
	return out
}

// ckptOpenChecked opens a checkpoint, runs Check and returns its rows.
func ckptOpenChecked(t *testing.T, dir string, opts *Options) map[string]map[int64]map[string]any {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err, "checkpoint %s must open", dir)
	defer func() { require.NoError(t, db.Close()) }()
	require.NoError(t, db.Check(), "checkpoint %s must pass Check", dir)
	return ckptDump(t, db)
}

// ckptFill makes two tables with rows in SSTs at several levels, updates,
// deletes, an added and a dropped field, and rows left in the memtable.
func ckptFill(t *testing.T, db *Database) {
	t.Helper()
	tb := createIMTable(t, db)
	for i := int64(1); i <= 300; i++ {
		_, err := tb.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tb.Flush())
	for i := int64(301); i <= 500; i++ {
		_, err := tb.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, tb.Flush())
	require.NoError(t, tb.Compact())
	for seq := int64(10); seq <= 400; seq += 37 {
		require.NoError(t, tb.Update(seq, map[string]any{"msg_type": uint8(9)}))
	}
	for seq := int64(5); seq <= 450; seq += 41 {
		require.NoError(t, tb.Delete(seq))
	}
	require.NoError(t, tb.Flush())
	require.NoError(t, tb.AddField(Field{Name: "extra", Type: String, Nullable: true}))
	require.NoError(t, tb.DropField("from_uid"))
	for i := int64(501); i <= 560; i++ { // memtable only
		row := imTableRow(i)
		delete(row, "from_uid")
		row["extra"] = fmt.Sprintf("x%d", i)
		_, err := tb.Insert(row)
		require.NoError(t, err)
	}
	require.NoError(t, tb.Update(520, map[string]any{"extra": "updated"}))
	require.NoError(t, tb.Delete(530))

	s, err := NewSchema("other", []Field{{Name: "k", Type: Int64, Indexed: true}})
	require.NoError(t, err)
	o, err := db.CreateTable("other", s)
	require.NoError(t, err)
	for i := int64(0); i < 20; i++ {
		_, err := o.Insert(map[string]any{"k": i})
		require.NoError(t, err)
	}
}

func TestCheckpointBasic(t *testing.T) {
	src := t.TempDir()
	db := openTestDB(t, src, nil)
	defer db.Close()
	ckptFill(t, db)
	want := ckptDump(t, db)
	require.Len(t, want["messages"], 560-11-1)

	dst := filepath.Join(t.TempDir(), "backup")
	require.NoError(t, db.Checkpoint(dst))
	require.Equal(t, want, ckptOpenChecked(t, dst, nil))

	// The copy is independent: writes to the source after the call do not
	// show in it, and the copy's own writes do not touch the source.
	tb, err := db.Table("messages")
	require.NoError(t, err)
	_, err = tb.Insert(map[string]any{"channel_id": "late", "msg_id": int64(1), "msg_type": uint8(1)})
	require.NoError(t, err)
	require.NoError(t, tb.Flush())
	require.NoError(t, tb.Compact())
	require.Equal(t, want, ckptOpenChecked(t, dst, nil))

	cp, err := Open(dst, nil)
	require.NoError(t, err)
	ct, err := cp.Table("messages")
	require.NoError(t, err)
	require.Equal(t, []string{"channel_id", "msg_id"}, ct.Indexes())
	n, err := ct.Query().Eq("channel_id", "ch-011").Count()
	require.NoError(t, err)
	wantN := 0
	for _, r := range want["messages"] {
		if r["channel_id"] == "ch-011" {
			wantN++
		}
	}
	require.Equal(t, wantN, n, "index query on the checkpoint")
	_, err = ct.Insert(map[string]any{"channel_id": "copy", "msg_id": int64(2), "msg_type": uint8(2)})
	require.NoError(t, err)
	require.NoError(t, ct.Flush())
	require.NoError(t, ct.Compact())
	require.NoError(t, cp.Close())
	require.NoError(t, db.Check())
	n, err = tb.Query().Eq("channel_id", "copy").Count()
	require.NoError(t, err)
	require.Zero(t, n, "a write to the checkpoint must not reach the source")
}

func TestCheckpointRefusesBadDestination(t *testing.T) {
	src := t.TempDir()
	db := openTestDB(t, src, nil)
	createIMTable(t, db)
	existing := t.TempDir()
	for _, dir := range []string{
		"",
		existing,
		src,
		filepath.Join(src, "backup"),
		filepath.Join(src, tablesDirName, "x"),
		filepath.Join(t.TempDir(), "missing", "backup"),
	} {
		err := db.Checkpoint(dir)
		require.True(t, errors.Is(err, ErrInvalidArgument), "Checkpoint(%q): %v", dir, err)
		var e *Error
		require.True(t, errors.As(err, &e))
		if dir != "" {
			require.Equal(t, filepath.Clean(dir), e.File)
		}
	}
	_, err := os.Stat(filepath.Join(src, "backup"))
	require.True(t, os.IsNotExist(err))
	require.NoError(t, db.Close())
	require.True(t, IsClosed(db.Checkpoint(filepath.Join(t.TempDir(), "b"))))
	var nilDB *Database
	require.True(t, IsClosed(nilDB.Checkpoint("x")))
}

// noLinkFS is an FS that cannot hard-link (as across devices).
type noLinkFS struct {
	FS
	links atomic.Int64
}

func (f *noLinkFS) Link(oldname, newname string) error {
	f.links.Add(1)
	return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EXDEV}
}

// ckptSSTs returns the SST file names of a table directory.
func ckptSSTs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if typ, _, ok := parseFilename(e.Name()); ok && typ == fileTypeSST {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestCheckpointHardLinksOrCopies(t *testing.T) {
	for _, link := range []bool{true, false} {
		t.Run(fmt.Sprintf("link=%v", link), func(t *testing.T) {
			src := t.TempDir()
			opts := DefaultOptions()
			nl := &noLinkFS{FS: OSFS()}
			if !link {
				opts.FS = nl
			}
			db := openTestDB(t, src, opts)
			defer db.Close()
			ckptFill(t, db)
			want := ckptDump(t, db)
			dst := filepath.Join(t.TempDir(), "backup")
			require.NoError(t, db.Checkpoint(dst))
			srcT, dstT := filepath.Join(src, tablesDirName, "messages"), filepath.Join(dst, tablesDirName, "messages")
			ssts := ckptSSTs(t, dstT)
			require.NotEmpty(t, ssts)
			for _, name := range ssts {
				a, err := os.Stat(filepath.Join(srcT, name))
				require.NoError(t, err)
				b, err := os.Stat(filepath.Join(dstT, name))
				require.NoError(t, err)
				require.Equal(t, link, os.SameFile(a, b), "%s", name)
				nlink := b.Sys().(*syscall.Stat_t).Nlink
				if link {
					require.EqualValues(t, 2, nlink, "%s", name)
				} else {
					require.EqualValues(t, 1, nlink, "%s", name)
					require.Equal(t, a.Size(), b.Size())
				}
			}
			if !link {
				require.GreaterOrEqual(t, nl.links.Load(), int64(len(ssts)), "Link was tried first")
			}
			require.Equal(t, want, ckptOpenChecked(t, dst, nil))
		})
	}
}

// TestCheckpointPinsSSTsAgainstCompaction compacts the table between the
// consistency point and the SST links: the compaction makes the pinned
// version's SSTs obsolete, and the pin must keep them on disk until they are
// linked.
func TestCheckpointPinsSSTsAgainstCompaction(t *testing.T) {
	src := t.TempDir()
	opts := DefaultOptions()
	opts.DisableAutoCompaction = true
	db := openTestDB(t, src, opts)
	defer db.Close()
	tb := createIMTable(t, db)
	for round := int64(0); round < 4; round++ {
		for i := int64(1); i <= 100; i++ {
			_, err := tb.Insert(imTableRow(round*100 + i))
			require.NoError(t, err)
		}
		require.NoError(t, tb.Flush())
	}
	want := ckptDump(t, db)
	before := ckptSSTs(t, filepath.Join(src, tablesDirName, "messages"))
	require.Len(t, before, 4)
	var compacted atomic.Bool
	setKillPointHook(func(name string) error {
		if name == kpCheckpointAfterWALs && compacted.CompareAndSwap(false, true) {
			if err := tb.Compact(); err != nil {
				return err
			}
		}
		return nil
	})
	defer setKillPointHook(nil)
	dst := filepath.Join(t.TempDir(), "backup")
	require.NoError(t, db.Checkpoint(dst))
	setKillPointHook(nil)
	require.True(t, compacted.Load())
	after := ckptSSTs(t, filepath.Join(src, tablesDirName, "messages"))
	require.NotEqual(t, before, after, "the compaction replaced the SSTs")
	require.Equal(t, before, ckptSSTs(t, filepath.Join(dst, tablesDirName, "messages")))
	require.Equal(t, want, ckptOpenChecked(t, dst, nil))
}

// TestCheckpointUnderLoad runs 8 writers (inserts, and updates and deletes
// of their own earlier rows) and a flush/compaction loop while checkpoints
// are taken, with a model of the operations. In each checkpoint: every
// insert acknowledged before the call is there at its seq unless some
// delete of it was acknowledged (one running during the call may be in);
// no delete acknowledged before the call is undone; a row shows its newest
// update acknowledged before the call or a later one; every row and value
// is one a writer wrote (no phantoms); and nothing started after the call
// returned is in it.
func TestCheckpointUnderLoad(t *testing.T) {
	src := t.TempDir()
	opts := DefaultOptions()
	opts.MemTableSize = 32 << 10
	opts.L0CompactionTrigger = 2
	db := openTestDB(t, src, opts)
	defer db.Close()
	tb := createIMTable(t, db)

	const writers = 8
	type op struct {
		kind  byte // 'i' insert, 'u' update, 'd' delete
		msgID int64
		seq   int64
		n     int   // update: from_uid is "upd-<n>"
		gen   int64 // checkpoints completed when the operation started
	}
	var (
		mus  [writers]sync.Mutex
		ops  [writers][]op // acknowledged, in order
		stop atomic.Bool
		done atomic.Int64 // checkpoints completed
		wg   sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var live []op // own rows not deleted
			upd := 0
			for i := int64(0); !stop.Load(); i++ {
				var o op
				gen := done.Load()
				switch r := rng.IntN(10); {
				case r == 0 && len(live) > 0:
					j := rng.IntN(len(live))
					o = op{kind: 'd', msgID: live[j].msgID, seq: live[j].seq}
					if err := tb.Delete(o.seq); err != nil {
						t.Errorf("writer %d: delete: %v", w, err)
						return
					}
					live = append(live[:j], live[j+1:]...)
				case r <= 2 && len(live) > 0:
					j := rng.IntN(len(live))
					upd++
					o = op{kind: 'u', msgID: live[j].msgID, seq: live[j].seq, n: upd}
					if err := tb.Update(o.seq, map[string]any{"from_uid": fmt.Sprintf("upd-%d", upd)}); err != nil {
						t.Errorf("writer %d: update: %v", w, err)
						return
					}
				default:
					id := int64(w)*1_000_000 + i
					seq, err := tb.Insert(imTableRow(id))
					if err != nil {
						t.Errorf("writer %d: insert: %v", w, err)
						return
					}
					o = op{kind: 'i', msgID: id, seq: seq}
					live = append(live, o)
				}
				o.gen = gen
				mus[w].Lock()
				ops[w] = append(ops[w], o)
				mus[w].Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if err := tb.Flush(); err != nil {
				t.Errorf("flush: %v", err)
				return
			}
			if err := tb.Compact(); err != nil {
				t.Errorf("compact: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	const checkpoints = 3
	var before [checkpoints][writers]int
	dirs := make([]string, checkpoints)
	base := t.TempDir()
	for k := 0; k < checkpoints; k++ {
		time.Sleep(100 * time.Millisecond)
		for w := 0; w < writers; w++ {
			mus[w].Lock()
			before[k][w] = len(ops[w])
			mus[w].Unlock()
		}
		dirs[k] = filepath.Join(base, fmt.Sprintf("cp%d", k))
		require.NoError(t, db.Checkpoint(dirs[k]))
		done.Add(1)
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	// What any time could show: every insert (seq → msg_id) and every
	// update value of each seq.
	idOf, genOf := map[int64]int64{}, map[int64]int64{}
	updates := map[int64]map[int]int64{} // seq → update n → gen
	everDeleted := map[int64]int64{}     // seq → gen of its delete
	for w := 0; w < writers; w++ {
		for _, o := range ops[w] {
			switch o.kind {
			case 'i':
				idOf[o.seq], genOf[o.seq] = o.msgID, o.gen
			case 'u':
				if updates[o.seq] == nil {
					updates[o.seq] = map[int]int64{}
				}
				updates[o.seq][o.n] = o.gen
			case 'd':
				everDeleted[o.seq] = o.gen
			}
		}
	}
	for k, dir := range dirs {
		rows := ckptOpenChecked(t, dir, nil)["messages"]
		// The state acknowledged before the call.
		inserted, deleted, lastUpd := map[int64]bool{}, map[int64]bool{}, map[int64]int{}
		acked := 0
		for w := 0; w < writers; w++ {
			for _, o := range ops[w][:before[k][w]] {
				switch o.kind {
				case 'i':
					inserted[o.seq] = true
				case 'd':
					deleted[o.seq] = true
				case 'u':
					lastUpd[o.seq] = o.n
				}
			}
			acked += before[k][w]
		}
		for seq := range inserted {
			g, del := everDeleted[seq]
			if !del || g > int64(k) {
				_, ok := rows[seq]
				require.True(t, ok, "checkpoint %d: acknowledged insert seq %d (msg_id %d) missing", k, seq, idOf[seq])
			}
		}
		for seq, r := range rows {
			id, ok := idOf[seq]
			require.True(t, ok, "checkpoint %d: phantom row seq %d", k, seq)
			require.LessOrEqual(t, genOf[seq], int64(k), "checkpoint %d: seq %d inserted after the call returned", k, seq)
			require.False(t, deleted[seq], "checkpoint %d: seq %d deleted before the call, present", k, seq)
			require.Equal(t, id, r["msg_id"], "checkpoint %d: seq %d", k, seq)
			require.Equal(t, imTableRow(id)["payload"], r["payload"], "checkpoint %d: seq %d", k, seq)
			from := r["from_uid"].(string)
			if n, isUpd := strings.CutPrefix(from, "upd-"); isUpd {
				var v int
				_, err := fmt.Sscanf(n, "%d", &v)
				require.NoError(t, err)
				g, ok := updates[seq][v]
				require.True(t, ok, "checkpoint %d: seq %d has update %q never written", k, seq, from)
				require.LessOrEqual(t, g, int64(k), "checkpoint %d: seq %d has update %q made after the call returned", k, seq, from)
				require.GreaterOrEqual(t, v, lastUpd[seq], "checkpoint %d: seq %d lost the update acknowledged before the call", k, seq)
			} else {
				require.Equal(t, imTableRow(id)["from_uid"], from, "checkpoint %d: seq %d", k, seq)
				require.Zero(t, lastUpd[seq], "checkpoint %d: seq %d lost the update acknowledged before the call", k, seq)
			}
		}
		t.Logf("checkpoint %d: %d operations acknowledged before the call (%d deletes, %d rows updated), %d rows in it",
			k, acked, len(deleted), len(lastUpd), len(rows))
	}
	require.NoError(t, db.Check())
}

// ckptMemSetup makes a memFS database with rows in SSTs and memtables.
func ckptMemSetup(t *testing.T, fs FS) (*Database, *Options) {
	t.Helper()
	opts := DefaultOptions()
	opts.FS = fs
	opts.Durability = DurabilitySync
	opts.DisableAutoCompaction = true
	db := openTestDB(t, "/db", opts)
	ckptFill(t, db)
	return db, opts
}

// ckptLeftovers returns the entries of "/" that start with prefix.
func ckptLeftovers(t *testing.T, fs FS, prefix string) []string {
	t.Helper()
	names, err := fs.List("/")
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// TestCheckpointFaultAtEachOp fails each FS operation of a checkpoint in
// turn: the call returns an error and leaves nothing behind, or (a failed
// Link falls back to a copy) succeeds with a valid copy; the source stays
// healthy either way.
func TestCheckpointFaultAtEachOp(t *testing.T) {
	ffs := newFaultFS(newMemFS())
	db, opts := ckptMemSetup(t, ffs)
	defer db.Close()
	want := ckptDump(t, db)

	n0 := ffs.opCount()
	require.NoError(t, db.Checkpoint("/probe"))
	ops := ffs.opCount() - n0
	require.Equal(t, want, ckptOpenChecked(t, "/probe", opts))
	t.Logf("a checkpoint makes %d FS operations", ops)

	failed := 0
	for i := 0; i < ops; i++ {
		dst := fmt.Sprintf("/cp%d", i)
		ffs.failAt(ffs.opCount()+i, failOnce, faultEIO)
		err := db.Checkpoint(dst)
		ffs.clearFaults()
		if err != nil {
			failed++
			require.True(t, errors.Is(err, errInjectedFault) || errors.Is(err, ErrIO), "op %d: %v", i, err)
			_, serr := ffs.Stat(dst)
			require.True(t, isNotExist(serr), "op %d: %s left behind after %v", i, dst, err)
			require.Empty(t, ckptLeftovers(t, ffs, strings.TrimPrefix(dst, "/")+"."), "op %d: temporary directory left", i)
		} else {
			require.Equal(t, want, ckptOpenChecked(t, dst, opts), "op %d", i)
		}
		require.NoError(t, db.Check(), "op %d: source harmed", i)
	}
	require.Greater(t, failed, ops/2)
	require.Equal(t, want, ckptDump(t, db))
}

// TestCheckpointCrashAtEachKillPoint simulates a power cut at every kill
// point of a checkpoint (each occurrence, for each table), keeping none,
// some or all unsynced changes: the destination is then absent, or complete
// with every row and passing Check.
func TestCheckpointCrashAtEachKillPoint(t *testing.T) {
	mfs := newMemFS()
	db, opts := ckptMemSetup(t, mfs)
	defer db.Close()
	want := ckptDump(t, db)

	var points []string
	setKillPointHook(func(name string) error {
		if strings.HasPrefix(name, "checkpoint.") {
			points = append(points, name)
		}
		return nil
	})
	require.NoError(t, db.Checkpoint("/probe"))
	setKillPointHook(nil)
	require.Contains(t, points, kpCheckpointAfterRename)
	t.Logf("%d kill points", len(points))

	errCrash := errors.New("simulated crash")
	rng := rand.New(rand.NewPCG(1, 2))
	complete := 0
	for k, point := range points {
		for _, p := range []float64{0, 0.5, 1} {
			dst := fmt.Sprintf("/cp%d", k)
			var clone *memFS
			seen := 0
			setKillPointHook(func(name string) error {
				if !strings.HasPrefix(name, "checkpoint.") {
					return nil
				}
				if seen++; seen-1 == k {
					clone = mfs.crashClone(rng, p)
					return errCrash
				}
				return nil
			})
			err := db.Checkpoint(dst)
			setKillPointHook(nil)
			require.ErrorIs(t, err, errCrash, "point %d %s", k, point)
			require.NotNil(t, clone)
			if _, serr := clone.Stat(dst); isNotExist(serr) {
				continue
			}
			complete++
			copts := *opts
			copts.FS = clone
			require.Equal(t, want, ckptOpenChecked(t, dst, &copts), "point %d %s p=%v", k, point, p)
			// The source is intact in the crashed image too.
			sopts := *opts
			sopts.FS = clone
			require.Equal(t, want, ckptOpenChecked(t, "/db", &sopts), "source after crash at %s", point)
		}
	}
	require.Greater(t, complete, 0, "a crash after the rename keeps the checkpoint")
}

// TestCheckpointHoldsWALsAgainstFlush starts a flush between the consistency
// point and the WAL copies: the flush would make the captured WALs obsolete
// and delete them, so it must wait until they are copied.
func TestCheckpointHoldsWALsAgainstFlush(t *testing.T) {
	src := t.TempDir()
	opts := DefaultOptions()
	opts.DisableAutoCompaction = true
	db := openTestDB(t, src, opts)
	defer db.Close()
	tb := createIMTable(t, db)
	for i := int64(1); i <= 200; i++ {
		_, err := tb.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	want := ckptDump(t, db)
	flushed := make(chan error, 1)
	var started atomic.Bool
	setKillPointHook(func(name string) error {
		if name == kpCheckpointAfterCapture && started.CompareAndSwap(false, true) {
			go func() { flushed <- tb.Flush() }()
			time.Sleep(100 * time.Millisecond) // let the flush run if it can
		}
		return nil
	})
	defer setKillPointHook(nil)
	dst := filepath.Join(t.TempDir(), "backup")
	require.NoError(t, db.Checkpoint(dst))
	setKillPointHook(nil)
	require.NoError(t, <-flushed)
	require.Equal(t, want, ckptOpenChecked(t, dst, nil))
}

func TestMemFSLink(t *testing.T) {
	m := newMemFS()
	require.NoError(t, m.MkdirAll("/d"))
	require.NoError(t, m.writeFile("/d/a", []byte("hello")))
	m.syncAll()
	require.NoError(t, m.Link("/d/a", "/d/b"))
	got, err := m.readFile("/d/b")
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
	var le *os.LinkError
	err = m.Link("/d/a", "/d/b")
	require.True(t, errors.As(err, &le) && errors.Is(err, syscall.EEXIST), "%v", err)
	require.True(t, errors.Is(m.Link("/d/none", "/d/c"), syscall.ENOENT))
	require.True(t, errors.Is(m.Link("/d", "/e"), syscall.EPERM))
	require.True(t, errors.Is(m.Link("/d/a", "/x/c"), syscall.ENOENT))
	// The new name is durable only after SyncDir.
	_, err = m.crashClone(nil, 0).Stat("/d/b")
	require.True(t, isNotExist(err))
	require.NoError(t, m.SyncDir("/d"))
	got, err = m.crashClone(nil, 0).readFile("/d/b")
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
}

// TestCheckpointEmptyAndBrokenDatabases: an empty database checkpoints to
// an empty database; one with a table that failed to open is refused,
// naming the table, and leaves nothing behind.
func TestCheckpointEmptyAndBrokenDatabases(t *testing.T) {
	src := t.TempDir()
	db := openTestDB(t, src, nil)
	dst := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, db.Checkpoint(dst))
	require.Empty(t, ckptOpenChecked(t, dst, nil))

	for _, name := range []string{"good", "bad"} {
		s, err := NewSchema(name, imTableFields())
		require.NoError(t, err)
		tb, err := db.CreateTable(name, s)
		require.NoError(t, err)
		_, err = tb.Insert(imTableRow(1))
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())
	path := filepath.Join(src, tablesDirName, "bad", schemaFileName)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	raw[len(raw)/2] ^= 0x20
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	db = openTestDB(t, src, nil)
	defer db.Close()
	parent := t.TempDir()
	err = db.Checkpoint(filepath.Join(parent, "b"))
	require.True(t, errors.Is(err, ErrInvalidArgument), "%v", err)
	require.True(t, IsCorrupted(err), "wraps the table's error: %v", err)
	var e *Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "bad", e.Table)
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Empty(t, ents)
}

// TestCheckpointRefusesReadOnlyTable: a table that became read-only after
// a failed WAL fsync is not copied (its memory may hold a write whose call
// failed); the error is the table's.
func TestCheckpointRefusesReadOnlyTable(t *testing.T) {
	ffs := newFaultFS(newMemFS())
	opts := DefaultOptions()
	opts.FS = ffs
	opts.Durability = DurabilitySync
	db := openTestDB(t, "/db", opts)
	defer db.Close()
	tb := createIMTable(t, db)
	_, err := tb.Insert(imTableRow(1))
	require.NoError(t, err)
	ffs.failNth(fsOpSync, ffs.opCountOf(fsOpSync), failOnce, faultSyncError)
	_, err = tb.Insert(imTableRow(2))
	require.Error(t, err)
	ffs.clearFaults()
	err = db.Checkpoint("/cp")
	require.True(t, errors.Is(err, ErrReadOnly), "%v", err)
	_, serr := ffs.Stat("/cp")
	require.True(t, isNotExist(serr))
	require.Empty(t, ckptLeftovers(t, ffs, "cp."))
}

// TestCheckpointPowerLossAtEachOp takes a power-cut image before every
// mutating FS operation of a checkpoint (keeping none, some or all unsynced
// changes): the destination is absent, or complete with every row.
func TestCheckpointPowerLossAtEachOp(t *testing.T) {
	mfs := newMemFS()
	db, opts := ckptMemSetup(t, mfs)
	defer db.Close()
	want := ckptDump(t, db)
	n0 := mfs.opCount()
	require.NoError(t, db.Checkpoint("/probe"))
	ops := mfs.opCount() - n0
	t.Logf("%d mutating FS operations", ops)
	// A power cut right after Checkpoint returned keeps the whole copy.
	after := *opts
	after.FS = mfs.crashClone(nil, 0)
	require.Equal(t, want, ckptOpenChecked(t, "/probe", &after), "power cut after Checkpoint returned")

	errCrash := errors.New("simulated power cut")
	rng := rand.New(rand.NewPCG(3, 4))
	present := 0
	for k := 0; k < ops; k++ {
		for pi, p := range []float64{0, 0.5, 1} {
			dst := fmt.Sprintf("/cp%d-%d", k, pi)
			var clone *memFS
			target := mfs.opCount() + k
			mfs.setOpHook(func(i int, op fsOp, path string) error {
				if i == target {
					clone = mfs.crashClone(rng, p)
					return errCrash
				}
				return nil
			})
			err := db.Checkpoint(dst) // nil when the failed op was a Link: it copies instead
			mfs.setOpHook(nil)
			require.NotNil(t, clone, "op %d", k)
			if err == nil {
				require.Equal(t, want, ckptOpenChecked(t, dst, opts), "op %d: live copy", k)
			}
			if _, serr := clone.Stat(dst); isNotExist(serr) {
				continue
			}
			present++
			copts := *opts
			copts.FS = clone
			require.Equal(t, want, ckptOpenChecked(t, dst, &copts), "op %d p=%v", k, p)
		}
	}
	require.Greater(t, present, 0)
}
