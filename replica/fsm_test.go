package replica

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shopspring/decimal"
	"github.com/srdb-go/srdb"
)

// testFSM opens a state machine on dir without raft.
func testFSM(t *testing.T, dir string) *fsm {
	t.Helper()
	n := &Node{id: filepath.Base(dir), dir: dir, logger: slog.New(slog.DiscardHandler), stopped: make(chan struct{})}
	db, err := srdb.Open(filepath.Join(dir, "data"), n.dbOptions())
	if err != nil {
		t.Fatal(err)
	}
	applied, err := loadApplied(db)
	if err != nil {
		t.Fatal(err)
	}
	f := &fsm{node: n, db: db}
	f.applied.Store(applied)
	n.fsm = f
	return f
}

// testLog builds a log of every command kind, with commands that fail on
// apply (schema violations, missing rows and tables) among insert-only
// runs, so that groupings of ApplyBatch differ in what they refuse.
func testLog(t *testing.T) []*raft.Log {
	t.Helper()
	var logs []*raft.Log
	add := func(c *command) {
		b, err := encodeCommand(c)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Term: 1, Type: raft.LogCommand, Data: b})
	}
	logs = append(logs, &raft.Log{Index: 1, Term: 1, Type: raft.LogConfiguration})
	fields := []srdb.Field{
		{Name: "channel", Type: srdb.String, Indexed: true},
		{Name: "n", Type: srdb.Int64},
		{Name: "body", Type: srdb.String},
		{Name: "price", Type: srdb.Decimal, Nullable: true},
		{Name: "meta", Type: srdb.Object, Nullable: true},
		{Name: "at", Type: srdb.Time, Nullable: true},
		{Name: "raw", Type: srdb.Bytes, Nullable: true},
		{Name: "f", Type: srdb.Float32, Nullable: true},
		{Name: "u", Type: srdb.Uint16, Nullable: true},
		{Name: "d", Type: srdb.Duration, Nullable: true},
	}
	add(&command{kind: cmdCreateTable, table: "msgs", fields: fields, indexes: [][]string{{"channel", "n"}}})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	k := 0
	row := func() map[string]any {
		k++
		r := map[string]any{"channel": fmt.Sprintf("c%d", k%7), "n": int64(k), "body": fmt.Sprintf("body %d", k),
			"_time": base.Add(time.Duration(k) * time.Second)}
		if k%3 == 0 {
			r["price"] = decimal.New(int64(k), -2)
			r["meta"] = map[string]any{"k": float64(k), "s": "x"}
			r["at"] = base.Add(time.Duration(k) * time.Hour).In(time.FixedZone("CET", 3600))
			r["raw"] = []byte{byte(k), 0, 255}
			r["f"] = float32(k) / 3
			r["u"] = uint16(k)
			r["d"] = time.Duration(k) * time.Millisecond
		}
		return r
	}
	inserts := func(table string, cmds int) {
		for range cmds {
			rows := make([]map[string]any, 1+rng.IntN(4))
			for i := range rows {
				rows[i] = row()
			}
			add(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: table, rows: rows}}})
			if rng.IntN(10) == 0 { // refused on apply: n is not an int
				add(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: table, rows: []map[string]any{{"channel": "x", "n": "nope", "body": "b", "_time": base}}}}})
			}
			if rng.IntN(15) == 0 { // refused: unknown table
				add(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: "nosuch", rows: []map[string]any{row()}}}})
			}
		}
	}
	inserts("msgs", 150)
	add(&command{kind: cmdBatch, ops: []op{{kind: opUpdate, table: "msgs", seq: 5, changes: map[string]any{"body": "updated"}}}})
	add(&command{kind: cmdBatch, ops: []op{{kind: opDelete, table: "msgs", seq: 7}}})
	add(&command{kind: cmdBatch, ops: []op{{kind: opDeleteRange, table: "msgs", lo: 10, hi: 20}}})
	add(&command{kind: cmdBatch, ops: []op{{kind: opUpdate, table: "msgs", seq: 7, changes: map[string]any{"body": "gone"}}}}) // NotFound
	add(&command{kind: cmdAddField, table: "msgs", fields: []srdb.Field{{Name: "extra", Type: srdb.Int32, Nullable: true}}})
	add(&command{kind: cmdAddField, table: "msgs", fields: []srdb.Field{{Name: "bad", Type: srdb.Int32}}}) // not Nullable: refused
	inserts("msgs", 50)
	add(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: "msgs", rows: []map[string]any{{"channel": "e", "n": int64(-1), "body": "e", "extra": int32(42), "_time": base}}}}})
	add(&command{kind: cmdCreateIndex, table: "msgs", indexes: [][]string{{"extra"}}})
	add(&command{kind: cmdCreateTable, table: "seqs", fields: []srdb.Field{{Name: "channel", Type: srdb.String}, {Name: "last", Type: srdb.Int64}}})
	add(&command{kind: cmdCreateTable, table: "seqs", fields: []srdb.Field{{Name: "channel", Type: srdb.String}}}) // exists: refused
	add(&command{kind: cmdBatch, ops: []op{
		{kind: opInsert, table: "msgs", rows: []map[string]any{row(), row()}},
		{kind: opInsert, table: "seqs", rows: []map[string]any{{"channel": "c1", "last": int64(2), "_time": base}}},
	}})
	add(&command{kind: cmdBatch, ops: []op{ // atomic: refused whole by its second op
		{kind: opInsert, table: "seqs", rows: []map[string]any{{"channel": "c2", "last": int64(1), "_time": base}}},
		{kind: opUpdate, table: "msgs", seq: 1 << 40, changes: map[string]any{"body": "x"}},
	}})
	add(&command{kind: cmdBatch, ops: []op{{kind: opUpdate, table: "seqs", seq: 1, changes: map[string]any{"last": int64(3)}}}})
	add(&command{kind: cmdSetOptions, table: "msgs", options: srdb.TableOptions{MaxAge: 100000 * time.Hour}})
	add(&command{kind: cmdDeleteBefore, table: "msgs", cutoff: base.Add(30 * time.Second).UnixNano()})
	inserts("seqs", 0)
	inserts("msgs", 100)
	// Unique keys and upserts: a register keyed by channel, created unique;
	// msgs made unique on (channel, n) after the fact.
	add(&command{kind: cmdCreateTable, table: "reg", fields: []srdb.Field{{Name: "channel", Type: srdb.String}, {Name: "last", Type: srdb.Int64}},
		unique: [][]string{{"channel"}}})
	for i := range 40 {
		add(&command{kind: cmdBatch, ops: []op{
			{kind: opInsert, table: "msgs", rows: []map[string]any{row()}},
			{kind: opUpsert, table: "reg", rows: []map[string]any{{"channel": fmt.Sprintf("c%d", i%5), "last": int64(i), "_time": base.Add(time.Duration(i) * time.Minute)}}},
		}})
	}
	add(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: "reg", rows: []map[string]any{{"channel": "c1", "last": int64(-1), "_time": base}}}}}) // duplicate key: refused
	add(&command{kind: cmdCreateUniqueIndex, table: "msgs", indexes: [][]string{{"channel", "n"}}})
	add(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: "msgs", rows: []map[string]any{{"channel": "c1", "n": int64(1), "body": "dup", "_time": base}}}}}) // duplicate key: refused
	add(&command{kind: cmdCreateUniqueIndex, table: "msgs", indexes: [][]string{{"body"}}})                                                                           // "body N" is not unique after the updates? refused or not, alike everywhere
	add(&command{kind: cmdCreateTable, table: "tmp", fields: []srdb.Field{{Name: "x", Type: srdb.Int}}})
	add(&command{kind: cmdDropTable, table: "tmp"})
	add(&command{kind: cmdDropTable, table: "tmp"}) // gone: refused
	add(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: MetaTable, rows: []map[string]any{{"x": 1}}}}})
	logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Term: 2, Type: raft.LogNoop})
	return logs
}

// resultKey is an apply result reduced to what must agree across nodes.
func resultKey(v any) string {
	r, ok := v.(applyResult)
	if !ok {
		return fmt.Sprintf("%v", v)
	}
	if r.err != nil {
		return fmt.Sprintf("error code %d", srdb.ErrorCode(r.err))
	}
	return fmt.Sprint(r.seqs)
}

// applyChunks applies logs to f in chunks of the given sizes (cycled).
func applyChunks(f *fsm, logs []*raft.Log, sizes func() int) []string {
	var out []string
	for i := 0; i < len(logs); {
		n := min(sizes(), len(logs)-i)
		for _, r := range f.ApplyBatch(logs[i : i+n]) {
			out = append(out, resultKey(r))
		}
		i += n
	}
	return out
}

// TestFSMDeterministic applies the same log to 3 state machines, one entry
// at a time, all at once, and in random chunks: every node returns the same
// results (seqs and error codes), holds the same rows (seq, time, fields)
// and passes Check. A fourth restarts half way and replays the whole log:
// the entries it applied are skipped, not applied twice.
func TestFSMDeterministic(t *testing.T) {
	logs := testLog(t)
	base := t.TempDir()
	one := testFSM(t, filepath.Join(base, "one"))
	all := testFSM(t, filepath.Join(base, "all"))
	rnd := testFSM(t, filepath.Join(base, "rnd"))
	rng := rand.New(rand.NewPCG(3, 4))
	resOne := applyChunks(one, logs, func() int { return 1 })
	resAll := applyChunks(all, logs, func() int { return len(logs) })
	resRnd := applyChunks(rnd, logs, func() int { return 1 + rng.IntN(64) })
	for i := range logs {
		if resOne[i] != resAll[i] || resOne[i] != resRnd[i] {
			t.Errorf("entry %d: results differ: one %s, all %s, random %s", logs[i].Index, resOne[i], resAll[i], resRnd[i])
		}
	}
	failed := 0
	for _, r := range resOne {
		if len(r) > 5 && r[:5] == "error" {
			failed++
		}
	}
	if failed < 8 {
		t.Fatalf("only %d commands failed on apply; the log should exercise refusals", failed)
	}

	restart := filepath.Join(base, "restart")
	rs := testFSM(t, restart)
	applyChunks(rs, logs[:len(logs)/2], func() int { return 7 })
	if err := rs.db.Close(); err != nil {
		t.Fatal(err)
	}
	rs = testFSM(t, restart)
	if rs.applied.Load() == 0 {
		t.Fatal("applied index not durable")
	}
	applyChunks(rs, logs, func() int { return 5 })

	dOne := map[string][]dumpRow{}
	for name, f := range map[string]*fsm{"one": one, "all": all, "rnd": rnd, "restart": rs} {
		if err := f.db.Check(); err != nil {
			t.Errorf("%s: Check: %v", name, err)
		}
		d := map[string][]dumpRow{}
		if err := dumpDB(f.db, d); err != nil {
			t.Fatal(err)
		}
		if name == "one" {
			dOne = d
		}
		defer f.db.Close()
		if f.applied.Load() != one.applied.Load() {
			t.Errorf("%s applied %d, one applied %d", name, f.applied.Load(), one.applied.Load())
		}
	}
	if len(dOne["msgs"]) < 500 {
		t.Fatalf("msgs has %d rows", len(dOne["msgs"]))
	}
	if len(dOne["reg"]) != 5 {
		t.Fatalf("reg has %d rows; 40 upserts of 5 keys must leave 5", len(dOne["reg"]))
	}
	for name, f := range map[string]*fsm{"all": all, "rnd": rnd, "restart": rs} {
		d := map[string][]dumpRow{}
		if err := dumpDB(f.db, d); err != nil {
			t.Fatal(err)
		}
		compareDumps(t, "one", dOne, name, d)
	}
}

// TestCodecRoundTrip: every canonical type decodes to a value the core
// stores as the same row; truncated or corrupt commands are errors, never
// a panic.
func TestCodecRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	row := map[string]any{
		"a": int(-1), "b": int8(-2), "c": int16(-3), "d": int32(-4), "e": int64(-5),
		"f": uint(1), "g": uint8(2), "h": uint16(3), "i": uint32(4), "j": uint64(1 << 63),
		"k": float32(1.5), "l": 2.25, "m": "s", "n": true, "o": decimal.RequireFromString("-12.345"),
		"p": at, "q": time.Second, "r": map[string]any{"x": 1.0}, "s": []any{"y", 2.0}, "t": []byte{0, 1}, "u": nil,
		"_time": at.UTC(),
	}
	c := &command{kind: cmdBatch, ops: []op{{kind: opInsert, table: "t", rows: []map[string]any{row}}, {kind: opDeleteRange, table: "t", lo: -3, hi: 9},
		{kind: opUpsert, table: "u", rows: []map[string]any{{"k": "v", "_time": at.UTC()}}}}}
	b, err := encodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	g := got.ops[0].rows[0]
	for k, v := range row {
		w := g[k]
		switch v.(type) {
		case map[string]any, []any:
			want, _ := json.Marshal(v)
			if string(w.(json.RawMessage)) != string(want) {
				t.Errorf("%s: got %s, want %s", k, w, want)
			}
		case decimal.Decimal:
			if !w.(decimal.Decimal).Equal(v.(decimal.Decimal)) {
				t.Errorf("%s: got %v, want %v", k, w, v)
			}
		case time.Time:
			wt := w.(time.Time)
			wn, wo := wt.Zone()
			vn, vo := v.(time.Time).Zone()
			if !wt.Equal(v.(time.Time)) || wn != vn || wo != vo {
				t.Errorf("%s: got %v, want %v", k, w, v)
			}
		default:
			if !reflect.DeepEqual(w, v) {
				t.Errorf("%s: got %#v, want %#v", k, w, v)
			}
		}
	}
	if got.ops[1].lo != -3 || got.ops[1].hi != 9 {
		t.Errorf("DeleteRange: %+v", got.ops[1])
	}
	if u := got.ops[2]; u.kind != opUpsert || u.table != "u" || len(u.rows) != 1 || u.rows[0]["k"] != "v" {
		t.Errorf("Upsert: %+v", u)
	}
	schemaCmds := []*command{
		{kind: cmdCreateTable, table: "t", fields: []srdb.Field{{Name: "a", Type: srdb.Decimal, Indexed: true, Nullable: true, Comment: "c"}, {Name: "b", Type: srdb.Bytes}}, indexes: [][]string{{"a", "b"}}, unique: [][]string{{"a", "b"}, {"a"}}},
		{kind: cmdCreateUniqueIndex, table: "t", indexes: [][]string{{"b"}}},
		{kind: cmdAddField, table: "t", fields: []srdb.Field{{Name: "x", Type: srdb.Time, Nullable: true}}},
		{kind: cmdCreateIndex, table: "t", indexes: [][]string{{"a", "x"}}},
		{kind: cmdSetOptions, table: "t", options: srdb.TableOptions{MaxAge: 90 * time.Minute}},
		{kind: cmdDeleteBefore, table: "t", cutoff: -5},
		{kind: cmdDropTable, table: "t"},
	}
	for _, sc := range schemaCmds {
		enc, err := encodeCommand(sc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(enc)
		if err != nil {
			t.Fatalf("kind %d: %v", sc.kind, err)
		}
		if !reflect.DeepEqual(got, sc) {
			t.Errorf("kind %d: decoded %+v, want %+v", sc.kind, got, sc)
		}
	}
	// Every truncation and many byte flips: an error or a command, no panic.
	for i := range b {
		if _, err := decodeCommand(b[:i]); err == nil {
			t.Errorf("truncated at %d decoded", i)
		}
		x := append([]byte(nil), b...)
		x[i] ^= 0xff
		_, _ = decodeCommand(x)
	}
	if _, err := encodeCommand(&command{kind: cmdBatch, ops: []op{{kind: opInsert, table: "t", rows: []map[string]any{{"x": struct{}{}}}}}}); srdb.ErrorCode(err) != srdb.CodeSchemaViolation {
		t.Errorf("non-canonical value: %v", err)
	}
}

// TestFSMFailStops: an apply that fails for a reason that is not the
// entry's (here the database is closed under the state machine) stops the
// node: that entry and every later one answer ErrNodeFailed, nothing is
// recorded, and after a restart the entries are applied.
func TestFSMFailStops(t *testing.T) {
	dir := t.TempDir()
	f := testFSM(t, dir)
	logs := testLog(t)[:5]
	applyChunks(f, logs[:2], func() int { return 1 })
	before := f.applied.Load()
	if before == 0 {
		t.Fatal("nothing applied")
	}
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.ApplyBatch(logs[2:]) {
		if r, ok := r.(applyResult); ok && !errors.Is(r.err, ErrNodeFailed) {
			t.Fatalf("apply on a closed database: %v, want ErrNodeFailed", r.err)
		}
	}
	if f.applied.Load() != before {
		t.Fatalf("applied moved to %d after failures", f.applied.Load())
	}
	if _, err := f.Snapshot(); !errors.Is(err, ErrNodeFailed) {
		t.Fatalf("snapshot of a failed node: %v", err)
	}
	f = testFSM(t, dir)
	defer f.db.Close()
	for _, r := range f.ApplyBatch(logs) {
		if r, ok := r.(applyResult); ok && errors.Is(r.err, ErrNodeFailed) {
			t.Fatalf("after restart: %v", r.err)
		}
	}
	ref := testFSM(t, filepath.Join(dir, "ref"))
	defer ref.db.Close()
	applyChunks(ref, logs, func() int { return 1 })
	if f.applied.Load() != ref.applied.Load() || f.applied.Load() <= before {
		t.Fatalf("applied %d after restart, want %d", f.applied.Load(), ref.applied.Load())
	}
	d1, d2 := map[string][]dumpRow{}, map[string][]dumpRow{}
	if err := dumpDB(f.db, d1); err != nil {
		t.Fatal(err)
	}
	if err := dumpDB(ref.db, d2); err != nil {
		t.Fatal(err)
	}
	compareDumps(t, "restarted", d1, "reference", d2)
}

// TestRecoverDirs: NewNode finishes or undoes a restore's directory swap
// that a crash interrupted.
func TestRecoverDirs(t *testing.T) {
	mk := func(dir string, names ...string) {
		for _, n := range names {
			if err := os.MkdirAll(filepath.Join(dir, n), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, n, "f"), []byte(n), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	has := func(dir, name, content string) bool {
		b, err := os.ReadFile(filepath.Join(dir, name, "f"))
		return err == nil && string(b) == content
	}
	for _, tc := range []struct {
		present []string
		data    string // content of data/f afterwards
	}{
		{[]string{"data", "data.new"}, "data"},          // crash while unpacking
		{[]string{"data.old", "data.new"}, "data.old"},  // crash after the first rename
		{[]string{"data.old"}, "data.old"},              // same, data.new gone
		{[]string{"data", "data.old"}, "data"},          // crash before removing data.old
		{[]string{"data", "snapshots.tmp/3-1"}, "data"}, // a checkpoint of a snapshot left behind
	} {
		dir := t.TempDir()
		mk(dir, tc.present...)
		if err := recoverDirs(dir); err != nil {
			t.Fatalf("%v: %v", tc.present, err)
		}
		if !has(dir, "data", tc.data) {
			t.Errorf("%v: data does not hold %s", tc.present, tc.data)
		}
		for _, gone := range []string{"data.new", "data.old", "snapshots.tmp"} {
			if _, err := os.Stat(filepath.Join(dir, gone)); err == nil {
				t.Errorf("%v: %s left behind", tc.present, gone)
			}
		}
	}
}

// TestRestoreRefusesBadSnapshots: a stream with a bad magic, a path leaving
// the directory, a symlink, or a header index its meta table does not hold
// is refused with the database left as it was.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	src := testFSM(t, filepath.Join(t.TempDir(), "src"))
	applyChunks(src, testLog(t)[:20], func() int { return 4 })
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var good bytes.Buffer
	if err := writeSnapshot(&good, snap.(*snapshot).dir, src.applied.Load()); err != nil {
		t.Fatal(err)
	}
	src.db.Close()

	header := func(index uint64) []byte {
		h := make([]byte, 16)
		copy(h, snapshotMagic)
		binary.LittleEndian.PutUint64(h[8:], index)
		return h
	}
	tarOf := func(add func(tw *tar.Writer)) []byte {
		var b bytes.Buffer
		b.Write(header(1000))
		tw := tar.NewWriter(&b)
		add(tw)
		tw.Close()
		return b.Bytes()
	}
	wrongIndex := append(header(src.applied.Load()+1), good.Bytes()[16:]...)
	cases := map[string][]byte{
		"magic": append([]byte("NOTASNAP"), good.Bytes()[8:]...),
		"dotdot": tarOf(func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o600})
			tw.Write([]byte("x"))
		}),
		"symlink": tarOf(func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
		}),
		"index": wrongIndex,
	}
	dst := testFSM(t, filepath.Join(t.TempDir(), "dst"))
	defer func() { dst.db.Close() }()
	for name, b := range cases {
		if err := dst.Restore(io.NopCloser(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: restored", name)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dst.node.dir), "evil")); err == nil {
			t.Fatalf("%s: wrote outside the node directory", name)
		}
		if dst.applied.Load() != 0 || dst.failed.Load() != nil {
			t.Errorf("%s: state changed: applied %d", name, dst.applied.Load())
		}
	}
	if err := dst.Restore(io.NopCloser(bytes.NewReader(good.Bytes()))); err != nil {
		t.Fatalf("good snapshot: %v", err)
	}
	if dst.applied.Load() != src.applied.Load() || dst.node.swaps.Load() != 1 {
		t.Fatalf("after restore: applied %d, want %d", dst.applied.Load(), src.applied.Load())
	}
	if err := dst.db.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestDeterministicCodes: refusals of the command are applied alike on
// every node; errors of the environment stop the node.
func TestDeterministicCodes(t *testing.T) {
	for code, want := range map[int]bool{
		srdb.CodeNotFound: true, srdb.CodeInvalidArgument: true, srdb.CodeTableExists: true,
		srdb.CodeTableNotFound: true, srdb.CodeSchemaViolation: true, srdb.CodeInvalidName: true,
		srdb.CodeInvalidSchema: true, srdb.CodeInvalidQuery: true, 4999: true,
		srdb.CodeGeneral: false, srdb.CodeClosed: false, srdb.CodeCanceled: false, srdb.CodeDatabase: false,
		srdb.CodeLocked: false, srdb.CodeReadOnly: false, srdb.CodeStorage: false, srdb.CodeCorrupted: false,
	} {
		err := fmt.Errorf("wrapped: %w", &srdb.Error{Code: code, Offset: -1})
		if got := deterministic(err); got != want {
			t.Errorf("code %d: deterministic %v, want %v", code, got, want)
		}
	}
	if deterministic(errors.New("plain")) || deterministic(fmt.Errorf("%w: x", ErrNodeFailed)) {
		t.Error("a plain error or ErrNodeFailed counted as the command's")
	}
}
