package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/srdb-go/srdb"
)

// This file builds the --demo database: a chat service with messages,
// users, channels and an audit log, covering every kind of field the UI
// renders (Bytes, Decimal, Time, Duration, Object, Array, NULLs). The
// options are tiny so that 200k rows already make a tree of four or five
// levels, and the background writer keeps it changing.

// demoOptions are the options of a --demo database: 256 KiB memtables, a
// 1 MiB L1 growing 4x per level, and small SSTs.
func demoOptions() *srdb.Options {
	o := srdb.DefaultOptions()
	o.MemTableSize = 256 << 10
	o.L1MaxBytes = 1 << 20
	o.LevelSizeMultiplier = 4
	o.TargetFileSizes = []int64{256 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}
	o.L0CompactionTrigger = 4
	o.L0StopWritesTrigger = 16
	return o
}

// demoTable is the definition of one demo table.
type demoTable struct {
	name   string
	fields []srdb.Field
	opts   []srdb.SchemaOption
}

var demoTables = []demoTable{
	{"messages", []srdb.Field{
		{Name: "channel_id", Type: srdb.String, Indexed: true, Comment: "conversation the message belongs to"},
		{Name: "from_uid", Type: srdb.String, Indexed: true, Comment: "sender"},
		{Name: "msg_id", Type: srdb.Int64, Indexed: true, Comment: "client-assigned message id"},
		{Name: "msg_type", Type: srdb.Uint8, Comment: "0 text, 1 image, 2 file"},
		{Name: "payload", Type: srdb.Bytes, Comment: "opaque message body"},
		{Name: "reply_to", Type: srdb.Int64, Nullable: true, Comment: "msg_id this message answers"},
		{Name: "edited", Type: srdb.Time, Nullable: true, Comment: "when the message was last edited"},
	}, nil},
	{"users", []srdb.Field{
		{Name: "uid", Type: srdb.String, Indexed: true, Comment: "user id"},
		{Name: "name", Type: srdb.String, Comment: "display name"},
		{Name: "email", Type: srdb.String, Nullable: true},
		{Name: "balance", Type: srdb.Decimal, Comment: "account balance, exact"},
		{Name: "active", Type: srdb.Bool},
		{Name: "joined", Type: srdb.Time},
		{Name: "idle", Type: srdb.Duration, Comment: "time since last seen"},
		{Name: "score", Type: srdb.Float64},
		{Name: "level", Type: srdb.Uint16},
		{Name: "initial", Type: srdb.Rune},
		{Name: "profile", Type: srdb.Object, Nullable: true, Comment: "free-form settings"},
		{Name: "tags", Type: srdb.Array, Nullable: true},
		{Name: "avatar", Type: srdb.Bytes, Nullable: true, Comment: "thumbnail bytes"},
	}, []srdb.SchemaOption{srdb.WithUniqueIndex("uid")}},
	{"channels", []srdb.Field{
		{Name: "channel_id", Type: srdb.String, Indexed: true},
		{Name: "title", Type: srdb.String},
		{Name: "topic", Type: srdb.String, Nullable: true, Comment: "shown as text, never as HTML"},
		{Name: "members", Type: srdb.Int32},
		{Name: "private", Type: srdb.Bool},
		{Name: "created", Type: srdb.Time},
	}, nil},
	{"audit", []srdb.Field{
		{Name: "actor", Type: srdb.String, Indexed: true},
		{Name: "action", Type: srdb.String, Indexed: true},
		{Name: "detail", Type: srdb.Object},
		{Name: "latency", Type: srdb.Duration},
		{Name: "ok", Type: srdb.Bool},
	}, nil},
}

// Demo sizes relative to --demo-rows (the messages table).
const (
	demoChannels = 200
	demoUsers    = 2000
)

// xssTopic is a channel topic that would run script if the page rendered
// data as HTML; the UI shows it as text (and the browser test checks).
const xssTopic = `<img src=x onerror="document.title='pwned';window.__xss=1"> <b>bold?</b>`

var actions = []string{"login", "logout", "send", "edit", "delete", "join", "leave", "upload"}

// checkDemoDir refuses a --demo run on a directory that holds anything but
// an earlier demo database. --demo creates the demo tables and writes to
// them, so on another database it would add tables to it (and fail on a
// table of the same name with another schema). The check reads the
// directory without opening the database, so a refused run leaves it
// byte-identical. Accepted: a missing or empty directory, or one whose
// database.meta names only demo tables, each with the demo's fields (names,
// types, nullable, indexed) in its schema.json.
func checkDemoDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	refuse := func(why string) error {
		return fmt.Errorf("--demo refused, nothing changed: %s %s; --demo fills a missing or empty directory "+
			"or continues an earlier demo database. Serve this one without --demo, or give --demo another --db", dir, why)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "database.meta"))
	if errors.Is(err, fs.ErrNotExist) {
		return refuse("is not empty and holds no SRDB database (no database.meta)")
	}
	if err != nil {
		return err
	}
	var meta struct { // database.meta, docs/FORMAT.md
		Meta struct {
			Tables []string `json:"tables"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return refuse("holds a database.meta that cannot be read (" + err.Error() + ")")
	}
	var names []string
	for _, d := range demoTables {
		names = append(names, d.name)
	}
	for _, name := range meta.Meta.Tables {
		i := slices.IndexFunc(demoTables, func(d demoTable) bool { return d.name == name })
		if i < 0 {
			return refuse(fmt.Sprintf("holds table %q, which is not a demo table (%s)", name, strings.Join(names, ", ")))
		}
		if why := demoSchemaDiff(filepath.Join(dir, "tables", name, "schema.json"), demoTables[i]); why != "" {
			return refuse(fmt.Sprintf("holds a table %q that is not the demo's: %s", name, why))
		}
	}
	return nil
}

// demoSchemaDiff compares the schema.json at path with the demo table d and
// returns how they differ ("" when the fields match in name, type, nullable
// and indexed).
func demoSchemaDiff(path string, d demoTable) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "cannot read its schema: " + err.Error()
	}
	var file struct { // schema.json, docs/FORMAT.md
		Schema struct {
			Fields []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Indexed  bool   `json:"indexed"`
				Nullable bool   `json:"nullable"`
			} `json:"fields"`
		} `json:"schema"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return "cannot read its schema: " + err.Error()
	}
	got := file.Schema.Fields
	if len(got) != len(d.fields) {
		return fmt.Sprintf("%d fields, the demo's has %d", len(got), len(d.fields))
	}
	for i, f := range d.fields {
		g := got[i]
		if g.Name != f.Name || g.Type != f.Type.String() || g.Indexed != f.Indexed || g.Nullable != f.Nullable {
			return fmt.Sprintf("field %d is %s %s (indexed %v, nullable %v), the demo's is %s %s (indexed %v, nullable %v)",
				i+1, g.Name, g.Type, g.Indexed, g.Nullable, f.Name, f.Type, f.Indexed, f.Nullable)
		}
	}
	return ""
}

// fillDemo creates the demo tables and fills them, unless they already
// hold rows (a second --demo run continues with the data it finds).
func fillDemo(ctx context.Context, db *srdb.Database, messages int) error {
	tables := map[string]*srdb.Table{}
	for _, d := range demoTables {
		t, err := db.Table(d.name)
		if errors.Is(err, srdb.ErrTableNotFound) {
			var s *srdb.Schema
			if s, err = srdb.NewSchema(d.name, d.fields, d.opts...); err == nil {
				t, err = db.CreateTable(d.name, s)
			}
		}
		if err != nil {
			return err
		}
		tables[d.name] = t
	}
	rng := rand.New(rand.NewSource(1))
	base := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	if tables["channels"].Stats().Rows == 0 {
		var batch []map[string]any
		for i := range demoChannels {
			row := map[string]any{
				"channel_id": channelID(i), "title": fmt.Sprintf("Room %03d", i),
				"members": int32(2 + rng.Intn(500)), "private": i%7 == 0,
				"created": base.Add(time.Duration(i) * time.Hour),
			}
			switch {
			case i == 13:
				row["topic"] = xssTopic
			case i%3 != 0:
				row["topic"] = fmt.Sprintf("talk about subject %d", i)
			}
			batch = append(batch, row)
		}
		if _, err := tables["channels"].Insert(batch); err != nil {
			return err
		}
	}
	if tables["users"].Stats().Rows == 0 {
		var batch []map[string]any
		for i := range max(demoUsers, messages/100) {
			row := map[string]any{
				"uid": userID(i), "name": fmt.Sprintf("User %d", i),
				"balance": fmt.Sprintf("%d.%02d", rng.Intn(100000), rng.Intn(100)), "active": rng.Intn(4) != 0,
				"joined": base.Add(time.Duration(rng.Int63n(int64(24 * time.Hour * 30)))), "idle": time.Duration(rng.Int63n(int64(48 * time.Hour))),
				"score": rng.NormFloat64()*15 + 50, "level": uint16(rng.Intn(100)), "initial": rune('A' + i%26),
			}
			if i%2 == 0 {
				row["email"] = fmt.Sprintf("user%d@example.com", i)
			}
			if i%3 == 0 {
				row["profile"] = map[string]any{"lang": []string{"en", "fr", "de", "ja"}[i%4], "notify": i%2 == 0, "theme": map[string]any{"dark": i%5 == 0}}
				row["tags"] = []any{"beta", fmt.Sprintf("cohort-%d", i%12)}
			}
			if i%5 == 0 {
				av := make([]byte, 48)
				rng.Read(av)
				row["avatar"] = av
			}
			batch = append(batch, row)
			if len(batch) == 1000 {
				if _, err := tables["users"].Insert(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			if _, err := tables["users"].Insert(batch); err != nil {
				return err
			}
		}
	}
	msgs := tables["messages"]
	if msgs.Stats().Rows == 0 {
		w := newDemoWriter(db, rng, messages)
		for done := 0; done < messages; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(500, messages-done)
			if err := w.insertMessages(n, base.Add(time.Duration(done)*10*time.Millisecond)); err != nil {
				return err
			}
			if err := w.insertAudit(max(1, n/4)); err != nil {
				return err
			}
			done += n
		}
	}
	// Two consumer groups of the messages, shown with their lag in the
	// schema view: one caught up, one half way (created once; Commit
	// never moves a position back).
	if len(msgs.Consumers()) == 0 {
		last := msgs.Stats().LastSeq
		for group, pos := range map[string]int64{"push-notifier": last, "search-indexer": last / 2} {
			c, err := msgs.Consumer(group)
			if err != nil {
				return err
			}
			if err := c.Commit(pos); err != nil {
				return err
			}
		}
	}
	return nil
}

// demoWriter writes the demo traffic.
type demoWriter struct {
	db           *srdb.Database
	rng          *rand.Rand
	msgs, audit  *srdb.Table
	nextMsgID    int64
	keep         int64 // messages kept; older ones are expired (deleted)
	expireCursor int64 // next seq to expire
}

func newDemoWriter(db *srdb.Database, rng *rand.Rand, keep int) *demoWriter {
	msgs, _ := db.Table("messages")
	audit, _ := db.Table("audit")
	if msgs == nil || audit == nil {
		return &demoWriter{}
	}
	w := &demoWriter{db: db, rng: rng, msgs: msgs, audit: audit, nextMsgID: 1_000_000 + msgs.Stats().LastSeq, keep: int64(keep), expireCursor: 1}
	if first, err := msgs.Query().First(); err == nil {
		w.expireCursor = first.Seq() // a second --demo run continues where the first stopped
	}
	return w
}

// insertMessages inserts one batch of n messages stamped from t on.
func (w *demoWriter) insertMessages(n int, t time.Time) error {
	batch := make([]map[string]any, n)
	for i := range batch {
		w.nextMsgID++
		payload := make([]byte, 120+w.rng.Intn(160)) // printable ASCII: the grid shows it as text
		for j := copy(payload, fmt.Sprintf("message %d: ", w.nextMsgID)); j < len(payload); j++ {
			payload[j] = byte('a' + w.rng.Intn(26))
		}
		row := map[string]any{
			"_time":      t.Add(time.Duration(i) * time.Millisecond),
			"channel_id": channelID(w.rng.Intn(demoChannels)), "from_uid": userID(w.rng.Intn(demoUsers)),
			"msg_id": w.nextMsgID, "msg_type": uint8(w.rng.Intn(3)), "payload": payload,
		}
		if w.rng.Intn(5) == 0 {
			row["reply_to"] = w.nextMsgID - 1 - int64(w.rng.Intn(50))
		}
		batch[i] = row
	}
	_, err := w.msgs.Insert(batch)
	return err
}

// insertAudit inserts n audit rows.
func (w *demoWriter) insertAudit(n int) error {
	batch := make([]map[string]any, n)
	for i := range batch {
		batch[i] = map[string]any{
			"actor": userID(w.rng.Intn(demoUsers)), "action": actions[w.rng.Intn(len(actions))],
			"detail":  map[string]any{"ip": fmt.Sprintf("10.0.%d.%d", w.rng.Intn(256), w.rng.Intn(256)), "client": "web"},
			"latency": time.Duration(w.rng.Intn(5000)) * time.Microsecond, "ok": w.rng.Intn(20) != 0,
		}
	}
	_, err := w.audit.Insert(batch)
	return err
}

// tick is one round of background traffic: rate/10 new messages, a few
// edits, expiry of the oldest messages beyond keep, and some reads.
func (w *demoWriter) tick(rate int) error {
	n := max(1, rate/10)
	if err := w.insertMessages(n, time.Now()); err != nil {
		return err
	}
	if err := w.insertAudit(max(1, n/10)); err != nil {
		return err
	}
	st := w.msgs.Stats()
	for range max(1, n/20) { // edits: a new version of an existing seq
		seq := 1 + w.rng.Int63n(max(1, st.LastSeq))
		err := w.msgs.Update(seq, map[string]any{"edited": time.Now()})
		if err != nil && !srdb.IsNotFound(err) {
			return err
		}
	}
	if st.Rows > w.keep { // expire the oldest: one range tombstone; whole SSTs go at once
		k := min(st.Rows-w.keep, int64(n))
		if err := w.msgs.DeleteRange(w.expireCursor, w.expireCursor+k); err != nil {
			return err
		}
		w.expireCursor += k
	}
	for range 4 * n { // reads: message lookups by seq
		if _, err := w.msgs.Get(1 + w.rng.Int63n(max(1, st.LastSeq))); err != nil && !srdb.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// runDemoWriter keeps writing rate messages a second until ctx is cancelled.
func runDemoWriter(ctx context.Context, db *srdb.Database, rate, keep int) error {
	w := newDemoWriter(db, rand.New(rand.NewSource(time.Now().UnixNano())), keep)
	if w.msgs == nil || w.audit == nil {
		return errors.New("the demo tables are missing")
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := w.tick(rate); err != nil {
				return err
			}
		}
	}
}

func channelID(i int) string { return fmt.Sprintf("room-%03d", i) }
func userID(i int) string    { return fmt.Sprintf("user-%04d", i) }
