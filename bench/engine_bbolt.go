package main

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// bboltEngine is bbolt with default options (plus NoSync in the fast mode),
// used the way a careful user stores these rows: bucket "rows" maps the
// big-endian seq (from the bucket's NextSequence) to the row, bucket "chan"
// maps chLen | channel | seq to nothing, both written in one transaction.
// Concurrent writers go through db.Batch, bbolt's own group commit, with
// MaxBatchSize equal to the number of writers.
type bboltEngine struct {
	db      *bolt.DB
	writers int
}

var (
	bboltRows = []byte("rows")
	bboltChan = []byte("chan")
)

const (
	bboltFile = "bbolt.db"
	// bboltRowsFill packs the append-only rows bucket full (bbolt's advice
	// for sequential keys); the channel bucket keeps the default.
	bboltRowsFill = 1.0
)

func openBbolt(dir string, o engineOptions) (engine, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, bboltFile), 0o600, &bolt.Options{NoSync: !o.sync})
	if err != nil {
		return nil, err
	}
	if o.writers > 1 {
		db.MaxBatchSize = o.writers
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bboltRows); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bboltChan)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &bboltEngine{db: db, writers: o.writers}, nil
}

// put stores rows in tx and returns the first seq.
func bboltPut(tx *bolt.Tx, rows []msgRow) (int64, error) {
	rb, cb := tx.Bucket(bboltRows), tx.Bucket(bboltChan)
	rb.FillPercent = bboltRowsFill
	var first int64
	var kb [seqBytes]byte
	var ckBuf []byte // bbolt copies keys, not values
	for i := range rows {
		s, err := rb.NextSequence()
		if err != nil {
			return 0, err
		}
		if s > math.MaxInt64 {
			return 0, errors.New("bbolt: seq overflow")
		}
		seq := int64(s)
		if i == 0 {
			first = seq
		}
		v, err := encodeMsg(nil, &rows[i]) // bbolt keeps v until commit
		if err != nil {
			return 0, err
		}
		binary.BigEndian.PutUint64(kb[:], uint64(seq))
		if err := rb.Put(kb[:], v); err != nil {
			return 0, err
		}
		ckBuf = chanKey(ckBuf[:0], rows[i].ChannelID, seq)
		if err := cb.Put(ckBuf[1:], []byte{}); err != nil { // no prefix byte: own bucket
			return 0, err
		}
	}
	return first, nil
}

// write runs one transaction, through db.Batch when there are concurrent
// writers.
func (e *bboltEngine) write(rows []msgRow) (int64, error) {
	var first int64
	fn := func(tx *bolt.Tx) error {
		var err error
		first, err = bboltPut(tx, rows)
		return err
	}
	var err error
	if e.writers > 1 {
		err = e.db.Batch(fn)
	} else {
		err = e.db.Update(fn)
	}
	return first, err
}

func (e *bboltEngine) insert(r *msgRow) (int64, error) {
	return e.write([]msgRow{*r})
}

func (e *bboltEngine) insertBatch(rows []msgRow) (int64, error) { return e.write(rows) }

func bboltGet(tx *bolt.Tx, seq int64, r *msgRow) error {
	var kb [seqBytes]byte
	binary.BigEndian.PutUint64(kb[:], uint64(seq))
	v := tx.Bucket(bboltRows).Get(kb[:])
	if v == nil {
		return errNotFound
	}
	return decodeMsg(v, r)
}

func (e *bboltEngine) get(seq int64, r *msgRow) error {
	return e.db.View(func(tx *bolt.Tx) error { return bboltGet(tx, seq, r) })
}

// lastN walks the channel bucket backwards from before, then reads each row
// by seq in the same read transaction.
func (e *bboltEngine) lastN(channel string, before int64, out []seqRow) (int, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	prefix := chanPrefix(nil, channel)[1:]
	seek := chanKey(nil, channel, before)[1:]
	n := 0
	err := e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltChan).Cursor()
		k, _ := c.Seek(seek)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && n < len(out); k, _ = c.Prev() {
			if len(k) != len(prefix)+seqBytes || string(k[:len(prefix)]) != string(prefix) {
				break
			}
			out[n].seq = int64(binary.BigEndian.Uint64(k[len(prefix):]))
			n++
		}
		for i := 0; i < n; i++ {
			if err := bboltGet(tx, out[i].seq, &out[i].row); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

func (e *bboltEngine) scan(msgType uint8) (scanned, matched int64, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltRows).Cursor()
		var r msgRow
		for k, v := c.First(); k != nil; k, v = c.Next() {
			scanned++
			t, err := msgTypeOf(v)
			if err != nil {
				return err
			}
			if t == msgType {
				if err := decodeMsg(v, &r); err != nil {
					return err
				}
				matched++
			}
		}
		return nil
	})
	return scanned, matched, err
}

// finish fsyncs the file; bbolt has no memtable and no compaction.
func (e *bboltEngine) finish() error { return e.db.Sync() }

func (e *bboltEngine) close() error { return e.db.Close() }
