package main

import (
	"context"
	"errors"
	"log"
	"math"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// pebbleEngine is Pebble with default options (newest format, quiet logger;
// Snappy blocks, or zstd ones for pebble-zstd),
// used the way a careful user stores these rows: the row under its
// big-endian seq key and a channel index key, both in one Batch.
type pebbleEngine struct {
	db      *pebble.DB
	wo      *pebble.WriteOptions
	lastSeq atomic.Int64 // seqs are assigned by the harness, like SRDB does
	bufs    sync.Pool    // *[]byte scratch for keys and values
}

// pebbleBigMemtable keeps all rows of the kill test in one memtable and WAL.
const pebbleBigMemtable = 1 << 30

// quietLogger drops Pebble's informational messages.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)                    {}
func (quietLogger) Errorf(f string, args ...any)            { log.Printf("pebble: "+f, args...) }
func (quietLogger) Fatalf(f string, args ...any)            { log.Fatalf("pebble: "+f, args...) }
func (quietLogger) Eventf(string, ...any)                   {}
func (quietLogger) IsTracingEnabled(_ context.Context) bool { return false }

func openPebble(dir string, o engineOptions) (engine, error) {
	return openPebbleWith(dir, o, nil)
}

// openPebbleZstd opens Pebble with zstd (level 3) blocks on every level
// instead of the default Snappy (engine pebble-zstd).
func openPebbleZstd(dir string, o engineOptions) (engine, error) {
	return openPebbleWith(dir, o, sstable.ZstdCompression)
}

func openPebbleWith(dir string, o engineOptions, compression *sstable.CompressionProfile) (engine, error) {
	opts := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
	}
	if compression != nil {
		opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings {
			return pebble.UniformDBCompressionSettings(compression)
		})
	}
	if o.bigMemtable {
		opts.MemTableSize = pebbleBigMemtable
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	e := &pebbleEngine{db: db, wo: pebble.NoSync}
	if o.sync {
		e.wo = pebble.Sync
	}
	e.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	// Continue the seq sequence of an existing store.
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{rowKeyPrefix}, UpperBound: []byte{rowKeyPrefix + 1}})
	if err != nil {
		db.Close()
		return nil, err
	}
	if it.Last() {
		k := it.Key()
		if len(k) != 1+seqBytes {
			err = errBadValue
		} else {
			e.lastSeq.Store(seqOfRowKey(k))
		}
	}
	if err = errors.Join(err, it.Close()); err != nil {
		db.Close()
		return nil, err
	}
	return e, nil
}

// addRow adds the row and its channel index entry to b.
func (e *pebbleEngine) addRow(b *pebble.Batch, buf []byte, seq int64, r *msgRow) ([]byte, error) {
	buf = rowKey(buf[:0], seq)
	kl := len(buf)
	buf, err := encodeMsg(buf, r)
	if err != nil {
		return buf, err
	}
	if err := b.Set(buf[:kl], buf[kl:], nil); err != nil { // Set copies
		return buf, err
	}
	buf = chanKey(buf[:0], r.ChannelID, seq)
	return buf, b.Set(buf, nil, nil)
}

func (e *pebbleEngine) insert(r *msgRow) (int64, error) { return e.write(nil, r) }

func (e *pebbleEngine) insertBatch(rows []msgRow) (int64, error) { return e.write(rows, nil) }

// write commits rows and then extra (when not nil) as one Batch.
func (e *pebbleEngine) write(rows []msgRow, extra *msgRow) (int64, error) {
	n := int64(len(rows))
	if extra != nil {
		n++
	}
	first := e.lastSeq.Add(n) - n + 1
	b := e.db.NewBatch()
	defer b.Close()
	bp := e.bufs.Get().(*[]byte)
	defer e.bufs.Put(bp)
	seq := first
	var err error
	for i := range rows {
		if *bp, err = e.addRow(b, *bp, seq, &rows[i]); err != nil {
			return 0, err
		}
		seq++
	}
	if extra != nil {
		if *bp, err = e.addRow(b, *bp, seq, extra); err != nil {
			return 0, err
		}
	}
	return first, b.Commit(e.wo)
}

func (e *pebbleEngine) get(seq int64, r *msgRow) error {
	var kb [1 + seqBytes]byte
	v, closer, err := e.db.Get(rowKey(kb[:0], seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	err = decodeMsg(v, r)
	return errors.Join(err, closer.Close())
}

// lastN walks the channel index backwards, then fetches each row by seq.
func (e *pebbleEngine) lastN(channel string, before int64, out []seqRow) (int, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	lo := chanPrefix(nil, channel)
	hi := chanKey(nil, channel, before)
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.Last(); ok && n < len(out); ok = it.Prev() {
		if out[n].seq, err = seqFromChanKey(it.Key()); err != nil {
			break
		}
		n++
	}
	if err = errors.Join(err, it.Close()); err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		if err := e.get(out[i].seq, &out[i].row); err != nil {
			return i, err
		}
	}
	return n, nil
}

func (e *pebbleEngine) scan(msgType uint8) (scanned, matched int64, err error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{rowKeyPrefix}, UpperBound: []byte{rowKeyPrefix + 1}})
	if err != nil {
		return 0, 0, err
	}
	var r msgRow
	for ok := it.First(); ok; ok = it.Next() {
		scanned++
		v, verr := it.ValueAndErr()
		if verr != nil {
			err = verr
			break
		}
		t, terr := msgTypeOf(v)
		if terr != nil {
			err = terr
			break
		}
		if t == msgType {
			if err = decodeMsg(v, &r); err != nil {
				break
			}
			matched++
		}
	}
	return scanned, matched, errors.Join(err, it.Close())
}

// finish flushes the memtable and compacts the whole key space.
func (e *pebbleEngine) finish() error {
	if err := e.db.Flush(); err != nil {
		return err
	}
	return e.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true)
}

func (e *pebbleEngine) close() error { return e.db.Close() }
