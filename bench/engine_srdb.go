package main

import (
	"errors"
	"fmt"

	"github.com/srdb-go/srdb"
)

const srdbTable = "messages"

// srdbEngine is SRDB with default options (except Durability and, for the
// kill test, MemTableSize), the IM rows inserted as structs.
type srdbEngine struct {
	db *srdb.Database
	t  *srdb.Table
}

// srdbBigMemtable keeps all rows of the kill test in one memtable and WAL.
const srdbBigMemtable = 1 << 30

func openSRDB(dir string, o engineOptions) (engine, error) {
	return openSRDBWith(dir, o, srdb.CompressionDefault)
}

// openSRDBCompressed returns the opener of SRDB with Options.Compression c
// (engines srdb-fast and srdb-dense).
func openSRDBCompressed(c srdb.Compression) func(string, engineOptions) (engine, error) {
	return func(dir string, o engineOptions) (engine, error) { return openSRDBWith(dir, o, c) }
}

func openSRDBWith(dir string, o engineOptions, c srdb.Compression) (engine, error) {
	opts := srdb.DefaultOptions()
	opts.Compression = c
	if o.sync {
		opts.Durability = srdb.DurabilitySync
	} else {
		opts.Durability = srdb.DurabilityInterval
	}
	if o.bigMemtable {
		opts.MemTableSize = srdbBigMemtable
	}
	db, err := srdb.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	t, err := db.Table(srdbTable)
	if errors.Is(err, srdb.ErrTableNotFound) {
		var fields []srdb.Field
		var s *srdb.Schema
		if fields, err = srdb.StructToFields(msgRow{}); err == nil {
			if s, err = srdb.NewSchema(srdbTable, fields); err == nil {
				t, err = db.CreateTable(srdbTable, s)
			}
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &srdbEngine{db: db, t: t}, nil
}

func (e *srdbEngine) insert(r *msgRow) (int64, error) { return e.t.Insert(r) }

func (e *srdbEngine) insertBatch(rows []msgRow) (int64, error) { return e.t.Insert(rows) }

func (e *srdbEngine) get(seq int64, r *msgRow) error {
	row, err := e.t.Get(seq)
	if srdb.IsNotFound(err) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return srdbFill(row, r)
}

// srdbFill copies a Row's values into r, checking their Go types.
func srdbFill(row *srdb.Row, r *msgRow) error {
	var ok [5]bool
	var v any
	v, _ = row.Get("channel_id")
	r.ChannelID, ok[0] = v.(string)
	v, _ = row.Get("from_uid")
	r.FromUID, ok[1] = v.(string)
	v, _ = row.Get("msg_id")
	r.MsgID, ok[2] = v.(int64)
	v, _ = row.Get("msg_type")
	r.MsgType, ok[3] = v.(uint8)
	v, _ = row.Get("payload")
	r.Payload, ok[4] = v.([]byte)
	for i, good := range ok {
		if !good {
			return fmt.Errorf("srdb row %d: field %d has an unexpected type", row.Seq(), i)
		}
	}
	return nil
}

func (e *srdbEngine) lastN(channel string, before int64, out []seqRow) (int, error) {
	return srdbLastN(e.t, channel, before, out)
}

func (e *srdbEngine) scan(msgType uint8) (int64, int64, error) {
	return srdbScan(e.t, msgType)
}

// compacter is Table.Compact, detected at run time so the harness
// builds before compaction is merged.
type compacter interface{ Compact() error }

func (e *srdbEngine) finish() error {
	if err := e.t.Flush(); err != nil {
		return err
	}
	if c, ok := any(e.t).(compacter); ok {
		return c.Compact()
	}
	return nil
}

func (e *srdbEngine) close() error { return e.db.Close() }

// srdbHasCompact reports whether this build's SRDB has Table.Compact.
func srdbHasCompact() bool {
	var t *srdb.Table
	_, ok := any(t).(compacter)
	return ok
}
