package main

import (
	"errors"

	"github.com/srdb-go/srdb"
)

// srdbQueryAvailable: SRDB's query engine (Table.Query) is part of
// the engine, so last-20, page back and the filtered scan are measured.
const srdbQueryAvailable = true

// srdbLastN is "the last n messages of a channel" (and, with before > 0,
// "page back") through the query builder:
// Eq(channel_id).[Lt(_seq, before)].OrderByDesc(_seq).Limit(n).
func srdbLastN(t *srdb.Table, channel string, before int64, out []seqRow) (n int, err error) {
	q := t.Query().Eq("channel_id", channel)
	if before > 0 {
		q = q.Lt("_seq", before)
	}
	rows, err := q.OrderByDesc("_seq").Limit(len(out)).Rows()
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	for rows.Next() {
		if n == len(out) {
			return n, errors.New("srdb query returned more rows than its Limit")
		}
		row := rows.Row()
		out[n].seq = row.Seq()
		if err := srdbFill(row, &out[n].row); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// srdbScan is the filtered full scan: Eq on the non-indexed msg_type, every
// matching row decoded. scanned is the table's row count (the query reads
// every row to test the predicate).
func srdbScan(t *srdb.Table, msgType uint8) (scanned, matched int64, err error) {
	rows, err := t.Query().Eq("msg_type", msgType).Rows()
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	var r msgRow
	for rows.Next() {
		if err := srdbFill(rows.Row(), &r); err != nil {
			return 0, matched, err
		}
		if r.MsgType != msgType {
			return 0, matched, errors.New("srdb query returned a row that does not match its filter")
		}
		matched++
	}
	return t.Stats().Rows, matched, rows.Err()
}
