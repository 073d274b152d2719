package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/srdb-go/srdb"
)

// The composite-key comparison (issue: composite indexes): the IM rows
// with a per-channel message sequence msg_seq (1, 2, 3, … in each channel),
// queried by (channel, msg_seq) in both engines, in one process:
//
//   - SRDB: a table with the composite index (channel_id, msg_seq), the
//     query builder's Eq(channel_id).Gte/Lt(msg_seq).OrderBy(msg_seq);
//   - Pebble: the layout a careful Pebble user writes by hand (and
//     WuKongIM's message store uses): each row stored under the key
//     'c' | len(channel) | channel | msg_seq (8 B big-endian), so one
//     iterator reads a channel's messages in msg_seq order.
//
// Both stores hold the same rows, on disk (b.TempDir), flushed and fully
// compacted before the first query. Every call picks a random channel;
// range20 reads the 20 messages from a random position in the middle of
// the channel, last20 the newest 20. Each row read is decoded into the
// row's Go values. Latency per call: p50 and p99 reported as metrics.
//
//	cd bench && go test -run '^$' -bench BenchmarkCompositeRange -benchtime 3000x -count 3
//
// SRDB_BENCH_COMPOSITE_ROWS sets the row count (default 1,000,000).

// compRow is msgRow with the per-channel message sequence.
type compRow struct {
	ChannelID string `srdb:"channel_id"`
	MsgSeq    int64  `srdb:"msg_seq"`
	FromUID   string `srdb:"from_uid"`
	MsgID     int64  `srdb:"msg_id"`
	MsgType   uint8  `srdb:"msg_type"`
	Payload   []byte `srdb:"payload"`
}

// compositeData is the dataset, built once per test binary.
type compositeData struct {
	srdbDB   *srdb.Database
	srdbT    *srdb.Table
	pebbleDB *pebble.DB
	counts   map[string]int64 // messages per channel
	channels []string         // channels with at least 40 messages
	err      error
}

var (
	compositeOnce sync.Once
	compositeSet  compositeData
)

const compositeSeed = 42

func compositeRows() int64 {
	if s := os.Getenv("SRDB_BENCH_COMPOSITE_ROWS"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

// buildComposite writes n rows into both stores (batches of 1,000, the fast
// durability modes) and settles them (flush + full compaction).
func buildComposite(dir string, n int64) (d compositeData) {
	opts := srdb.DefaultOptions()
	opts.Durability = srdb.DurabilityInterval
	db, err := srdb.Open(dir+"/srdb", opts)
	if err != nil {
		d.err = err
		return d
	}
	d.srdbDB = db
	fields, err := srdb.StructToFields(compRow{})
	if err != nil {
		d.err = err
		return d
	}
	s, err := srdb.NewSchema("messages", fields, srdb.WithIndex("channel_id", "msg_seq"))
	if err != nil {
		d.err = err
		return d
	}
	if d.srdbT, err = db.CreateTable("messages", s); err != nil {
		d.err = err
		return d
	}
	if d.pebbleDB, err = pebble.Open(dir+"/pebble", &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{}}); err != nil {
		d.err = err
		return d
	}
	d.counts = map[string]int64{}
	const batch = 1000
	rows := make([]compRow, 0, batch)
	var m msgRow
	var kb, vb []byte
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if _, err := d.srdbT.Insert(rows); err != nil {
			return err
		}
		b := d.pebbleDB.NewBatch()
		for i := range rows {
			r := &rows[i]
			kb = chanKey(kb[:0], r.ChannelID, r.MsgSeq)
			var err error
			vb, err = encodeMsg(vb[:0], &msgRow{ChannelID: r.ChannelID, FromUID: r.FromUID, MsgID: r.MsgID, MsgType: r.MsgType, Payload: r.Payload})
			if err != nil {
				return err
			}
			if err := b.Set(kb, vb, nil); err != nil {
				return err
			}
		}
		err := b.Commit(pebble.NoSync)
		b.Close()
		rows = rows[:0]
		return err
	}
	for i := range n {
		genRow(compositeSeed, i, &m)
		d.counts[m.ChannelID]++
		rows = append(rows, compRow{ChannelID: m.ChannelID, MsgSeq: d.counts[m.ChannelID], FromUID: m.FromUID,
			MsgID: m.MsgID, MsgType: m.MsgType, Payload: slices.Clone(m.Payload)})
		if len(rows) == batch {
			if d.err = flush(); d.err != nil {
				return d
			}
		}
	}
	if d.err = flush(); d.err != nil {
		return d
	}
	if d.err = d.srdbT.Flush(); d.err != nil {
		return d
	}
	if d.err = d.srdbT.Compact(); d.err != nil {
		return d
	}
	if d.err = d.pebbleDB.Flush(); d.err != nil {
		return d
	}
	if d.err = d.pebbleDB.Compact(context.Background(), []byte{0}, []byte{0xff}, true); d.err != nil {
		return d
	}
	for ch, c := range d.counts {
		if c >= 40 {
			d.channels = append(d.channels, ch)
		}
	}
	slices.Sort(d.channels)
	if len(d.channels) == 0 {
		d.err = errors.New("no channel has 40 messages: raise SRDB_BENCH_COMPOSITE_ROWS")
	}
	return d
}

// srdbMsgSeqRange reads the messages of channel with from <= msg_seq < to
// (newest first when desc; to 0: no upper bound) through the composite
// index, at most limit, decoding each into out (Query.Scan).
func srdbMsgSeqRange(t *srdb.Table, channel string, from, to int64, desc bool, limit int, out []compRow) (int, error) {
	q := t.Query().Eq("channel_id", channel)
	if from > 0 {
		q = q.Gte("msg_seq", from)
	}
	if to > 0 {
		q = q.Lt("msg_seq", to)
	}
	if desc {
		q = q.OrderByDesc("msg_seq")
	} else {
		q = q.OrderBy("msg_seq")
	}
	// Query.Scan decodes each row straight into its struct (no Row of
	// boxed values): what an application reading messages would write.
	var got []compRow
	if err := q.Limit(limit).Scan(&got); err != nil {
		return 0, err
	}
	return copy(out, got), nil
}

// pebbleMsgSeqRange is srdbMsgSeqRange over the hand-made key.
func pebbleMsgSeqRange(db *pebble.DB, channel string, from, to int64, desc bool, limit int, out []compRow) (int, error) {
	lo := chanKey(nil, channel, max(from, 0))
	var hi []byte
	if to > 0 {
		hi = chanKey(nil, channel, to)
	} else {
		hi = append(chanPrefix(nil, channel), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	step, ok := it.Next, it.First()
	if desc {
		step, ok = it.Prev, it.Last()
	}
	n := 0
	var m msgRow
	for ; ok && n < limit; ok = step() {
		if err = decodeMsg(it.Value(), &m); err != nil {
			break
		}
		seq, serr := seqFromChanKey(it.Key())
		if serr != nil {
			err = serr
			break
		}
		out[n] = compRow{ChannelID: m.ChannelID, MsgSeq: seq, FromUID: m.FromUID, MsgID: m.MsgID, MsgType: m.MsgType, Payload: slices.Clone(m.Payload)}
		n++
	}
	return n, errors.Join(err, it.Close())
}

func BenchmarkCompositeRange(b *testing.B) {
	compositeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "srdb-bench-composite-")
		if err != nil {
			compositeSet.err = err
			return
		}
		start := time.Now()
		compositeSet = buildComposite(dir, compositeRows())
		fmt.Fprintf(os.Stderr, "composite dataset: %d rows in %v (%s)\n", compositeRows(), time.Since(start).Round(time.Millisecond), dir)
	})
	d := &compositeSet
	if d.err != nil {
		b.Fatal(d.err)
	}
	engines := []struct {
		name  string
		query func(channel string, from, to int64, desc bool, limit int, out []compRow) (int, error)
	}{
		{"srdb", func(c string, from, to int64, desc bool, limit int, out []compRow) (int, error) {
			return srdbMsgSeqRange(d.srdbT, c, from, to, desc, limit, out)
		}},
		{"pebble", func(c string, from, to int64, desc bool, limit int, out []compRow) (int, error) {
			return pebbleMsgSeqRange(d.pebbleDB, c, from, to, desc, limit, out)
		}},
	}
	queries := []struct {
		name string
		run  func(q func(string, int64, int64, bool, int, []compRow) (int, error), c string, count, pos int64, out []compRow) (int, error)
		// first is the msg_seq the first row must have.
		first func(count, pos int64) int64
		step  int64
	}{
		{"range20", func(q func(string, int64, int64, bool, int, []compRow) (int, error), c string, count, pos int64, out []compRow) (int, error) {
			return q(c, pos, pos+20, false, 20, out)
		}, func(_, pos int64) int64 { return pos }, 1},
		{"last20", func(q func(string, int64, int64, bool, int, []compRow) (int, error), c string, count, pos int64, out []compRow) (int, error) {
			return q(c, 0, 0, true, 20, out)
		}, func(count, _ int64) int64 { return count }, -1},
	}
	for _, e := range engines {
		for _, qu := range queries {
			b.Run(e.name+"/"+qu.name, func(b *testing.B) {
				rng := rand.New(rand.NewPCG(7, 9))
				out := make([]compRow, 20)
				lat := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					c := d.channels[rng.IntN(len(d.channels))]
					count := d.counts[c]
					pos := count/4 + rng.Int64N(count/2) // the middle half of the channel
					start := time.Now()
					n, err := qu.run(e.query, c, count, pos, out)
					lat = append(lat, time.Since(start))
					if err != nil {
						b.Fatal(err)
					}
					if n != 20 || out[0].ChannelID != c || out[0].MsgSeq != qu.first(count, pos) || out[19].MsgSeq != qu.first(count, pos)+19*qu.step {
						b.Fatalf("%s %s of %s (count %d, pos %d): %d rows, first %s/%d, last %s/%d",
							e.name, qu.name, c, count, pos, n, out[0].ChannelID, out[0].MsgSeq, out[n-1].ChannelID, out[n-1].MsgSeq)
					}
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			})
		}
	}
}

// TestCompositeRangeSmoke builds a small dataset and checks that both
// stores answer the benchmark's queries identically.
func TestCompositeRangeSmoke(t *testing.T) {
	d := buildComposite(t.TempDir(), 60_000)
	if d.err != nil {
		t.Fatal(d.err)
	}
	defer d.srdbDB.Close()
	defer d.pebbleDB.Close()
	a, b := make([]compRow, 20), make([]compRow, 20)
	for _, c := range d.channels[:10] {
		count := d.counts[c]
		for _, q := range []struct {
			from, to int64
			desc     bool
		}{{count / 2, count/2 + 20, false}, {0, 0, true}, {1, 5, false}} {
			na, err := srdbMsgSeqRange(d.srdbT, c, q.from, q.to, q.desc, 20, a)
			if err != nil {
				t.Fatal(err)
			}
			nb, err := pebbleMsgSeqRange(d.pebbleDB, c, q.from, q.to, q.desc, 20, b)
			if err != nil {
				t.Fatal(err)
			}
			if na != nb || na == 0 {
				t.Fatalf("%s %+v: srdb %d rows, pebble %d", c, q, na, nb)
			}
			for i := range na {
				if a[i].MsgSeq != b[i].MsgSeq || a[i].MsgID != b[i].MsgID || string(a[i].Payload) != string(b[i].Payload) {
					t.Fatalf("%s %+v row %d: srdb %d/%d, pebble %d/%d", c, q, i, a[i].MsgSeq, a[i].MsgID, b[i].MsgSeq, b[i].MsgID)
				}
			}
		}
	}
}
