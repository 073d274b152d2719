package srdb

import (
	"bufio"
	"bytes"
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// roMsgIDs returns the msg_id of every row of the messages table, checking
// that each row is exactly imTableRow(msg_id) (no torn or foreign row) and
// that no msg_id appears twice.
func roMsgIDs(t *testing.T, db *Database) []int64 {
	t.Helper()
	tb, err := db.Table("messages")
	require.NoError(t, err)
	rows, err := tb.Query().Rows()
	require.NoError(t, err)
	defer rows.Close()
	var ids []int64
	seen := map[int64]bool{}
	for rows.Next() {
		d := rows.Row().Data()
		id, ok := d["msg_id"].(int64)
		require.True(t, ok, "row %d: msg_id %v", rows.Row().Seq(), d["msg_id"])
		require.False(t, seen[id], "msg_id %d twice", id)
		seen[id] = true
		want := imTableRow(id)
		for k, v := range want {
			if !reflect.DeepEqual(v, d[k]) { // require only on a mismatch: it is slow
				require.Equal(t, v, d[k], "msg_id %d field %s", id, k)
			}
		}
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// roDirSnapshot returns every file under dir with its bytes.
func roDirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[p] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = string(b)
		return nil
	}))
	return out
}

// TestReadOnlyBesideWriter: a ReadOnly Database on the directory of an open
// writer (which holds LOCK) sees the rows acknowledged before its Open,
// memtable rows from the WAL included; keeps reading while the writer
// compacts away the SSTs it mapped; and Refresh shows the writer's newest
// state, tables created and dropped since included.
func TestReadOnlyBesideWriter(t *testing.T) {
	dir := t.TempDir()
	w := openTestDB(t, dir, &Options{Durability: DurabilityInterval, DisableAutoCompaction: true})
	defer w.Close()
	wt := createIMTable(t, w)
	for i := int64(1); i <= 300; i++ {
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, wt.Flush())
	for i := int64(301); i <= 400; i++ { // memtable and WAL only
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	other, err := NewSchema("gone", []Field{{Name: "v", Type: Int64}})
	require.NoError(t, err)
	gone, err := w.CreateTable("gone", other)
	require.NoError(t, err)
	_, err = gone.Insert(map[string]any{"v": int64(1)})
	require.NoError(t, err)

	r, err := Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer r.Close()
	require.True(t, r.ReadOnly())
	require.Equal(t, []string{"gone", "messages"}, r.Tables())
	ids := roMsgIDs(t, r)
	require.Len(t, ids, 400)
	require.Equal(t, int64(400), ids[len(ids)-1])
	rt, err := r.Table("messages")
	require.NoError(t, err)
	n, err := rt.Query().Count()
	require.NoError(t, err)
	require.EqualValues(t, 400, n)

	// A Rows opened on the first snapshot, read across the writer's
	// compaction (which removes every SST the reader mapped) and the
	// reader's Refresh.
	open, err := rt.Query().Rows()
	require.NoError(t, err)
	require.True(t, open.Next())
	gotOpen := 1

	sstsBefore, _ := filepath.Glob(filepath.Join(dir, tablesDirName, "messages", "*.sst"))
	require.NotEmpty(t, sstsBefore)
	for i := int64(401); i <= 700; i++ {
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, wt.Flush())
	require.NoError(t, wt.Compact())
	for i := int64(701); i <= 750; i++ {
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	for _, p := range sstsBefore {
		_, err := os.Stat(p)
		require.True(t, os.IsNotExist(err), "compaction should have removed %s", p)
	}
	// Before Refresh: the snapshot as of Open, read from unlinked files;
	// Check passes although the directory holds SSTs newer than it.
	require.Len(t, roMsgIDs(t, r), 400)
	require.NoError(t, r.Check())
	require.NoError(t, w.DropTable("gone"))
	s3, err := NewSchema("fresh", []Field{{Name: "v", Type: Int64}})
	require.NoError(t, err)
	_, err = w.CreateTable("fresh", s3)
	require.NoError(t, err)

	goneR, err := r.Table("gone")
	require.NoError(t, err)
	require.NoError(t, r.Refresh())
	ids = roMsgIDs(t, r)
	require.Len(t, ids, 750)
	require.Equal(t, ckptDump(t, w)["messages"], ckptDump(t, r)["messages"])
	require.Equal(t, []string{"fresh", "messages"}, r.Tables())
	_, err = goneR.Query().Count()
	require.ErrorIs(t, err, ErrClosed, "a handle of a table dropped by the writer is closed by Refresh")
	rt2, err := r.Table("messages")
	require.NoError(t, err)
	require.Same(t, rt, rt2, "Refresh keeps the *Table of a table that still exists")

	for open.Next() {
		gotOpen++
	}
	require.NoError(t, open.Err())
	require.NoError(t, open.Close())
	require.Equal(t, 400, gotOpen, "a Rows keeps the state it started on")

	// Files the reader no longer needs are unmapped: only the live SSTs stay.
	v := rt.vs.current()
	live := len(v.allFiles())
	v.unref()
	require.Equal(t, live, rt.cache.openReaders())
}

// TestReadOnlyWritesRefused: every write API of a ReadOnly database returns
// a CodeReadOnly error and changes nothing in the directory (byte for
// byte), including on a table with a torn WAL tail (a crash artefact the
// writer would truncate).
func TestReadOnlyWritesRefused(t *testing.T) {
	dir := t.TempDir()
	w := openTestDB(t, dir, nil)
	wt := createIMTable(t, w)
	for i := int64(1); i <= 50; i++ {
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	// A torn tail: garbage after the last record of the newest WAL.
	wals, _ := filepath.Glob(filepath.Join(dir, tablesDirName, "messages", "*.wal"))
	require.NotEmpty(t, wals)
	sort.Strings(wals)
	f, err := os.OpenFile(wals[len(wals)-1], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{1, 2, 3, 4, 5, 6, 7})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	before := roDirSnapshot(t, dir)
	r, err := Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	tb, err := r.Table("messages")
	require.NoError(t, err)
	require.Len(t, roMsgIDs(t, r), 50)
	s, err := NewSchema("x", []Field{{Name: "v", Type: Int64}})
	require.NoError(t, err)
	ro := func(what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		require.Equal(t, CodeReadOnly, ErrorCode(err), "%s: %v", what, err)
		require.ErrorIs(t, err, ErrReadOnly, what)
	}
	_, err = tb.Insert(imTableRow(51))
	ro("Insert", err)
	ro("Update", tb.Update(1, map[string]any{"msg_type": uint8(3)}))
	ro("Delete", tb.Delete(1))
	ro("Flush", tb.Flush())
	ro("Compact", tb.Compact())
	ro("CreateIndex", tb.CreateIndex("channel_id"))
	ro("DropIndex", tb.DropIndex("msg_id"))
	ro("AddField", tb.AddField(Field{Name: "extra", Type: String, Nullable: true}))
	ro("DropField", tb.DropField("from_uid"))
	_, err = r.CreateTable("x", s)
	ro("CreateTable", err)
	_, err = r.EnsureTable("x", s)
	ro("EnsureTable (new)", err)
	wider, err := NewSchema("messages", append(imTableFields(), Field{Name: "extra", Type: String, Nullable: true}))
	require.NoError(t, err)
	_, err = r.EnsureTable("messages", wider)
	ro("EnsureTable (AddField)", err)
	same, err := NewSchema("messages", imTableFields())
	require.NoError(t, err)
	_, err = r.EnsureTable("messages", same)
	require.NoError(t, err, "EnsureTable that changes nothing works")
	ro("DropTable", r.DropTable("messages"))
	require.True(t, tb.Stats().ReadOnly)
	require.True(t, r.Metrics().Tables[0].ReadOnly)
	require.NoError(t, r.Refresh())
	require.NoError(t, r.Check())
	require.Len(t, roMsgIDs(t, r), 50)
	require.NoError(t, r.Close())
	require.Equal(t, before, roDirSnapshot(t, dir), "a ReadOnly database changed the directory")

	// Refresh of a writable database is refused; ReadOnly Open of a
	// directory that is no database is ErrNotFound and creates nothing.
	ro2 := openTestDB(t, t.TempDir(), nil)
	require.ErrorIs(t, ro2.Refresh(), ErrInvalidArgument)
	require.NoError(t, ro2.Close())
	empty := filepath.Join(t.TempDir(), "none")
	_, err = Open(empty, &Options{ReadOnly: true})
	require.ErrorIs(t, err, ErrNotFound)
	_, err = os.Stat(empty)
	require.True(t, os.IsNotExist(err))
}

// TestReadOnlyNoMutatingFSCall: with a faultFS that fails every mutating
// operation (create, write, sync, rename, remove, truncate, mkdir, lock),
// ReadOnly Open, reads, Refresh and Close succeed and none was attempted.
func TestReadOnlyNoMutatingFSCall(t *testing.T) {
	dir := t.TempDir()
	w := openTestDB(t, dir, &Options{DisableAutoCompaction: true})
	defer w.Close()
	wt := createIMTable(t, w)
	for i := int64(1); i <= 200; i++ {
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
		if i%70 == 0 {
			require.NoError(t, wt.Flush())
		}
	}
	ffs := newFaultFS(OSFS())
	ffs.failNth(fsOpMutating, 0, failFromThenOn, faultEIO)
	r, err := Open(dir, &Options{ReadOnly: true, FS: ffs})
	require.NoError(t, err)
	require.Len(t, roMsgIDs(t, r), 200)
	for i := int64(201); i <= 260; i++ {
		_, err := wt.Insert(imTableRow(i))
		require.NoError(t, err)
	}
	require.NoError(t, wt.Compact())
	require.NoError(t, r.Refresh())
	require.Len(t, roMsgIDs(t, r), 260)
	require.NoError(t, r.Check())
	require.NoError(t, r.Close())
	require.Equal(t, 0, ffs.opCountOf(fsOpMutating), "mutating FS calls: %v", ffs.opLog())
	require.Equal(t, 0, ffs.faultsInjected())
}

const roWriterEnv = "SRDB_RO_WRITER_DIR"

// TestReadOnlyWriterChildProcess is the writer of TestReadOnlyAttachProcess;
// it skips unless roWriterEnv is set. It inserts msg_id 1, 2, … one at a
// time, writing "S <id>" to fd 3 before each Insert and "A <id>" after it
// returned nil, flushing every 150 rows and compacting every 600, with a
// small memtable so that background flushes and compactions run too, for
// SRDB_RO_WRITER_FOR (a duration).
func TestReadOnlyWriterChildProcess(t *testing.T) {
	dir := os.Getenv(roWriterEnv)
	if dir == "" {
		t.Skip("child process of TestReadOnlyAttachProcess")
	}
	runFor, err := time.ParseDuration(os.Getenv("SRDB_RO_WRITER_FOR"))
	require.NoError(t, err)
	out := os.NewFile(3, "acks")
	bw := bufio.NewWriter(out)
	db, err := Open(dir, &Options{Durability: DurabilityInterval, MemTableSize: 32 << 10, L0CompactionTrigger: 2})
	require.NoError(t, err)
	tb := createIMTable(t, db)
	for i, end := int64(1), time.Now().Add(runFor); time.Now().Before(end); i++ {
		fmt.Fprintf(bw, "S %d\n", i)
		require.NoError(t, bw.Flush())
		_, err := tb.Insert(imTableRow(i))
		require.NoError(t, err)
		fmt.Fprintf(bw, "A %d\n", i)
		if i%150 == 0 {
			require.NoError(t, tb.Flush())
		}
		if i%600 == 0 {
			require.NoError(t, tb.Compact())
		}
	}
	require.NoError(t, bw.Flush())
	require.NoError(t, db.Close())
}

// TestReadOnlyAttachProcess: a writer process inserts, flushes and compacts
// continuously; this process opens the directory ReadOnly and Refreshes
// again and again. Each snapshot holds every row acknowledged before the
// Open or Refresh began, no row whose Insert had not at least started
// ("sent"), every row exactly as written, and never fewer rows than the
// snapshot before.
func TestReadOnlyAttachProcess(t *testing.T) {
	if os.Getenv(roWriterEnv) != "" {
		t.Skip("parent test")
	}
	dir := t.TempDir()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnlyWriterChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), roWriterEnv+"="+dir, "SRDB_RO_WRITER_FOR=2s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	cmd.ExtraFiles = []*os.File{pw}
	require.NoError(t, cmd.Start())
	pw.Close()

	var mu sync.Mutex // guards sent, acked
	var sent, acked int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		br := bufio.NewReader(pr)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			kind, num, _ := strings.Cut(strings.TrimSpace(line), " ")
			n, _ := strconv.ParseInt(num, 10, 64)
			mu.Lock()
			if kind == "S" {
				sent = n
			} else {
				acked = n
			}
			mu.Unlock()
		}
	}()
	get := func() (int64, int64) {
		mu.Lock()
		defer mu.Unlock()
		return sent, acked
	}
	// check verifies a snapshot against the ack mark taken before it.
	check := func(db *Database, ackedBefore int64, prev int) int {
		ids := roMsgIDs(t, db)
		for i, id := range ids {
			require.Equal(t, int64(i+1), id, "rows are a prefix 1..n: missing msg_id %d", i+1)
		}
		require.GreaterOrEqual(t, int64(len(ids)), ackedBefore, "a row acknowledged before Open/Refresh is missing")
		require.GreaterOrEqual(t, len(ids), prev, "a Refresh went back in time")
		if len(ids) > 0 {
			last := ids[len(ids)-1]
			deadline := time.Now().Add(10 * time.Second)
			for s, _ := get(); s < last; s, _ = get() {
				require.True(t, time.Now().Before(deadline), "msg_id %d visible but never sent (phantom)", last)
				time.Sleep(time.Millisecond)
			}
		}
		return len(ids)
	}

	var db *Database
	for db == nil { // until the writer made database.meta and the table
		_, a := get()
		r, err := Open(dir, &Options{ReadOnly: true})
		if err == nil {
			if _, terr := r.Table("messages"); terr == nil {
				db = r
				check(db, a, 0)
				break
			}
			require.NoError(t, r.Close())
		}
		select {
		case <-readerDone:
			t.Fatalf("writer exited before the table existed: %s", stderr.String())
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	defer db.Close()
	// Readers of db run through every Refresh: each scan sees one snapshot,
	// a prefix 1..n of the msg_ids, never fewer rows than the scan before.
	stopScans := make(chan struct{})
	var scans sync.WaitGroup
	for g := 0; g < 2; g++ {
		scans.Add(1)
		go func() {
			defer scans.Done()
			last := 0
			for {
				select {
				case <-stopScans:
					return
				default:
				}
				tb, err := db.Table("messages")
				if err != nil {
					t.Errorf("Table: %v", err)
					return
				}
				rows, err := tb.Query().Rows()
				if err != nil {
					t.Errorf("Rows: %v", err)
					return
				}
				n := 0
				for rows.Next() {
					n++
					if id := rows.Row().Data()["msg_id"]; id != int64(n) {
						t.Errorf("concurrent scan: row %d has msg_id %v", n, id)
					}
				}
				if err := rows.Err(); err != nil {
					t.Errorf("concurrent scan: %v", err)
				}
				rows.Close()
				if n < last {
					t.Errorf("concurrent scan saw %d rows after %d", n, last)
				}
				last = n
			}
		}()
	}
	defer func() { close(stopScans); scans.Wait() }()
	prev, refreshes, opens := 0, 0, 1
	for done := false; !done; {
		select {
		case <-readerDone:
			done = true
		default:
		}
		_, a := get()
		if refreshes%10 == 9 { // now and then a fresh Open instead
			r, err := Open(dir, &Options{ReadOnly: true})
			require.NoError(t, err)
			check(r, a, prev)
			require.NoError(t, r.Close())
			opens++
		} else {
			require.NoError(t, db.Refresh())
			prev = check(db, a, prev)
		}
		refreshes++
	}
	require.NoError(t, cmd.Wait(), "writer: %s", stderr.String())
	s, a := get()
	require.Equal(t, s, a, "the writer's last insert was acknowledged")
	require.NoError(t, db.Refresh())
	require.Equal(t, int(a), check(db, a, prev))
	require.GreaterOrEqual(t, refreshes, 5)
	t.Logf("%d rows; %d refreshes, %d opens while the writer ran", a, refreshes, opens)
}

// TestReadOnlyCheckpoint: Checkpoint of a ReadOnly database copies its
// snapshot (as of Open, then as of the last Refresh), rows replayed from
// the WAL included, although the writer has since flushed that WAL and
// compacted away the SSTs (the copy comes from the files the reader holds
// open and mapped).
func TestReadOnlyCheckpoint(t *testing.T) {
	dir := t.TempDir()
	w := openTestDB(t, dir, &Options{DisableAutoCompaction: true})
	defer w.Close()
	ckptFill(t, w)
	want := ckptDump(t, w)
	r, err := Open(dir, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, want, ckptDump(t, r))

	wt, err := w.Table("messages")
	require.NoError(t, err)
	for i := int64(1000); i < 1100; i++ {
		row := imTableRow(i)
		delete(row, "from_uid")
		_, err := wt.Insert(row)
		require.NoError(t, err)
	}
	require.NoError(t, wt.Flush())
	require.NoError(t, wt.Compact())
	rt, err := r.Table("messages")
	require.NoError(t, err)
	gone := 0
	for _, wal := range rt.roSnap.wals {
		_, err := os.Stat(makeFilepath(rt.dir, fileTypeWAL, wal.num))
		require.True(t, os.IsNotExist(err), "the writer should have removed WAL %d", wal.num)
		gone++
	}
	v := rt.vs.current()
	for _, f := range v.allFiles() {
		_, err := os.Stat(makeFilepath(rt.dir, fileTypeSST, f.num))
		require.True(t, os.IsNotExist(err), "the writer should have removed SST %d", f.num)
		gone++
	}
	v.unref()
	require.Greater(t, gone, 1)

	dst := filepath.Join(t.TempDir(), "ckpt")
	require.NoError(t, r.Checkpoint(dst))
	require.Equal(t, want, ckptOpenChecked(t, dst, nil), "checkpoint of the snapshot as of Open")

	require.NoError(t, r.Refresh())
	want2 := ckptDump(t, w)
	require.NotEqual(t, want, want2)
	dst2 := filepath.Join(t.TempDir(), "ckpt2")
	require.NoError(t, r.Checkpoint(dst2))
	require.Equal(t, want2, ckptOpenChecked(t, dst2, nil), "checkpoint of the snapshot as of Refresh")
}

// A table the writer drops and creates again under the same name gets a new
// *Table on Refresh even when nothing of the new table is flushed yet (same
// MANIFEST number, no SST to compare): the old handle reports ErrClosed and
// never shows the new table's rows.
func TestReadOnlyRefreshSeesTableRecreated(t *testing.T) {
	for _, flushOld := range []bool{true, false} {
		t.Run(fmt.Sprintf("flushOld=%v", flushOld), func(t *testing.T) {
			dir := t.TempDir()
			w := openTestDB(t, dir, &Options{Durability: DurabilityInterval, DisableAutoCompaction: true})
			defer w.Close()
			s, err := NewSchema("x", []Field{{Name: "v", Type: Int64}})
			require.NoError(t, err)
			wt, err := w.CreateTable("x", s)
			require.NoError(t, err)
			for i := int64(1); i <= 3; i++ {
				_, err := wt.Insert(map[string]any{"v": i})
				require.NoError(t, err)
			}
			if flushOld {
				require.NoError(t, wt.Flush())
			}
			r, err := Open(dir, &Options{ReadOnly: true})
			require.NoError(t, err)
			defer r.Close()
			old, err := r.Table("x")
			require.NoError(t, err)
			n, err := old.Query().Count()
			require.NoError(t, err)
			require.Equal(t, 3, n)

			require.NoError(t, w.DropTable("x"))
			wt, err = w.CreateTable("x", s)
			require.NoError(t, err)
			for i := int64(100); i < 105; i++ { // WAL only
				_, err := wt.Insert(map[string]any{"v": i})
				require.NoError(t, err)
			}
			require.NoError(t, r.Refresh())
			cur, err := r.Table("x")
			require.NoError(t, err)
			require.NotSame(t, old, cur, "a re-created table needs a new handle")
			_, err = old.Query().Count()
			require.ErrorIs(t, err, ErrClosed)
			last, err := cur.Query().Last()
			require.NoError(t, err)
			v, _ := last.Get("v")
			require.Equal(t, int64(104), v)
		})
	}
}
