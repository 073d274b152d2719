//go:build !srdbquery

package main

import "github.com/srdb-go/srdb"

// srdbQueryAvailable is false in the default build: SRDB's query engine is
// not merged yet, so last-20 and the filtered scan report "n/a". Build with
// -tags srdbquery (srdb_query.go) once Table.Query exists.
const srdbQueryAvailable = false

func srdbLastN(*srdb.Table, string, int64, []seqRow) (int, error) { return 0, errUnsupported }

func srdbScan(*srdb.Table, uint8) (int64, int64, error) { return 0, 0, errUnsupported }
