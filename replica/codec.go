package replica

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/shopspring/decimal"
	"github.com/srdb-go/srdb"
)

// Log command encoding.
//
// The leader encodes every write as one raft log entry; every node decodes
// the same bytes and applies them. Values are the canonical Go types of the
// core (srdb.Schema.CanonicalRows / CanonicalChanges convert a caller's data
// to them before encoding), so decoding gives back values that the core
// stores as the same bytes on every node.
//
//	command  := version u8 (=1) | kind u8 | body
//	kind 1 batch        : nops uvarint | op × nops
//	    op := opkind u8 | table str | insert: nrows uvarint | row × nrows
//	                                | update: seq varint | row (the changes)
//	                                | delete: seq varint
//	                                | deleteRange: lo varint | hi varint
//	                                | upsert: row
//	kind 2 deleteBefore : table str | cutoff varint (Unix nanoseconds)
//	kind 3 createTable  : table str | fields str (JSON of []srdb.Field)
//	                    | nindexes uvarint | (nf uvarint | str × nf) × nindexes
//	                    | nunique uvarint | (nf uvarint | str × nf) × nunique
//	kind 4 dropTable    : table str
//	kind 5 addField     : table str | field str (JSON of srdb.Field)
//	kind 6 createIndex  : table str | nf uvarint | str × nf
//	kind 7 setOptions   : table str | options str (JSON of srdb.TableOptions)
//	kind 8 createUniqueIndex : table str | nf uvarint | str × nf
//
// Fields and table options travel as the JSON of the core's structs, so a
// field the core adds to srdb.Field or srdb.TableOptions is replicated too.
//	row   := nvals uvarint | (name str | value) × nvals      ("_time" carries the row time)
//	str   := len uvarint | bytes
//	value := tag u8 | payload:
//	    0 nil | 1 int varint | 2 int8 varint | 3 int16 varint | 4 int32 varint
//	    5 int64 varint | 6 uint uvarint | 7 uint8 uvarint | 8 uint16 uvarint
//	    9 uint32 uvarint | 10 uint64 uvarint | 11 float32 u32 LE bits
//	    12 float64 u64 LE bits | 13 string str | 14 bool u8 | 15 decimal str
//	    16 time: seconds varint | nanoseconds uvarint | zone offset varint | zone name str
//	    17 duration varint | 18 JSON str (Object/Array; decoded as json.RawMessage)
//	    19 bytes str

const commandVersion = 1

type cmdKind uint8

const (
	cmdBatch cmdKind = iota + 1
	cmdDeleteBefore
	cmdCreateTable
	cmdDropTable
	cmdAddField
	cmdCreateIndex
	cmdSetOptions
	cmdCreateUniqueIndex
)

type opKind uint8

const (
	opInsert opKind = iota + 1
	opUpdate
	opDelete
	opDeleteRange
	opUpsert
)

// op is one write of a batch command.
type op struct {
	kind    opKind
	table   string
	rows    []map[string]any // opInsert; opUpsert (one row)
	seq     int64            // opUpdate, opDelete
	changes map[string]any   // opUpdate
	lo, hi  int64            // opDeleteRange
}

// command is a decoded log entry.
type command struct {
	kind    cmdKind
	ops     []op // cmdBatch
	table   string
	cutoff  int64        // cmdDeleteBefore
	fields  []srdb.Field // cmdCreateTable, cmdAddField (one)
	indexes [][]string   // cmdCreateTable composite indexes; cmdCreateIndex, cmdCreateUniqueIndex (one)
	unique  [][]string   // cmdCreateTable: the fields of each unique index
	options srdb.TableOptions
}

// insertOnly reports whether the command only inserts rows (such commands
// can be applied together in one srdb.Batch with the same result).
func (c *command) insertOnly() bool {
	if c.kind != cmdBatch {
		return false
	}
	for _, o := range c.ops {
		if o.kind != opInsert {
			return false
		}
	}
	return true
}

const (
	tagNil byte = iota
	tagInt
	tagInt8
	tagInt16
	tagInt32
	tagInt64
	tagUint
	tagUint8
	tagUint16
	tagUint32
	tagUint64
	tagFloat32
	tagFloat64
	tagString
	tagBool
	tagDecimal
	tagTime
	tagDuration
	tagJSON
	tagBytes
)

type encoder struct{ b []byte }

func (e *encoder) u8(v byte)        { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// json appends the JSON of v as a str.
func (e *encoder) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return &srdb.Error{Code: srdb.CodeInvalidArgument, Offset: -1, Msg: fmt.Sprintf("%T is not JSON-encodable", v), Err: err}
	}
	e.str(string(b))
	return nil
}

func (e *encoder) strs(s []string) {
	e.uvarint(uint64(len(s)))
	for _, x := range s {
		e.str(x)
	}
}

func (e *encoder) row(m map[string]any) error {
	e.uvarint(uint64(len(m)))
	for k, v := range m {
		e.str(k)
		if err := e.value(k, v); err != nil {
			return err
		}
	}
	return nil
}

// value encodes a canonical value; another type is an error naming field.
func (e *encoder) value(field string, v any) error {
	switch x := v.(type) {
	case nil:
		e.u8(tagNil)
	case int:
		e.u8(tagInt)
		e.varint(int64(x))
	case int8:
		e.u8(tagInt8)
		e.varint(int64(x))
	case int16:
		e.u8(tagInt16)
		e.varint(int64(x))
	case int32:
		e.u8(tagInt32)
		e.varint(int64(x))
	case int64:
		e.u8(tagInt64)
		e.varint(x)
	case uint:
		e.u8(tagUint)
		e.uvarint(uint64(x))
	case uint8:
		e.u8(tagUint8)
		e.uvarint(uint64(x))
	case uint16:
		e.u8(tagUint16)
		e.uvarint(uint64(x))
	case uint32:
		e.u8(tagUint32)
		e.uvarint(uint64(x))
	case uint64:
		e.u8(tagUint64)
		e.uvarint(x)
	case float32:
		e.u8(tagFloat32)
		e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(x))
	case float64:
		e.u8(tagFloat64)
		e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(x))
	case string:
		e.u8(tagString)
		e.str(x)
	case bool:
		e.u8(tagBool)
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case decimal.Decimal:
		e.u8(tagDecimal)
		e.str(x.String())
	case time.Time:
		e.u8(tagTime)
		name, offset := x.Zone()
		e.varint(x.Unix())
		e.uvarint(uint64(x.Nanosecond()))
		e.varint(int64(offset))
		e.str(name)
	case time.Duration:
		e.u8(tagDuration)
		e.varint(int64(x))
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return &srdb.Error{Code: srdb.CodeSchemaViolation, Field: field, Offset: -1, Msg: "value is not JSON-encodable", Err: err}
		}
		e.u8(tagJSON)
		e.str(string(b))
	case []byte:
		e.u8(tagBytes)
		e.str(string(x))
	default:
		return &srdb.Error{Code: srdb.CodeSchemaViolation, Field: field, Offset: -1, Msg: fmt.Sprintf("%T is not a canonical value", v)}
	}
	return nil
}

// encodeCommand encodes c (see the layout above).
func encodeCommand(c *command) ([]byte, error) {
	e := &encoder{}
	e.u8(commandVersion)
	e.u8(byte(c.kind))
	switch c.kind {
	case cmdBatch:
		e.uvarint(uint64(len(c.ops)))
		for _, o := range c.ops {
			e.u8(byte(o.kind))
			e.str(o.table)
			switch o.kind {
			case opInsert:
				e.uvarint(uint64(len(o.rows)))
				for _, r := range o.rows {
					if err := e.row(r); err != nil {
						return nil, withTable(err, o.table)
					}
				}
			case opUpdate:
				e.varint(o.seq)
				if err := e.row(o.changes); err != nil {
					return nil, withTable(err, o.table)
				}
			case opDelete:
				e.varint(o.seq)
			case opDeleteRange:
				e.varint(o.lo)
				e.varint(o.hi)
			case opUpsert:
				if err := e.row(o.rows[0]); err != nil {
					return nil, withTable(err, o.table)
				}
			}
		}
	case cmdDeleteBefore:
		e.str(c.table)
		e.varint(c.cutoff)
	case cmdCreateTable:
		e.str(c.table)
		if err := e.json(c.fields); err != nil {
			return nil, err
		}
		e.uvarint(uint64(len(c.indexes)))
		for _, ix := range c.indexes {
			e.strs(ix)
		}
		e.uvarint(uint64(len(c.unique)))
		for _, ix := range c.unique {
			e.strs(ix)
		}
	case cmdDropTable:
		e.str(c.table)
	case cmdAddField:
		e.str(c.table)
		if err := e.json(c.fields[0]); err != nil {
			return nil, err
		}
	case cmdCreateIndex, cmdCreateUniqueIndex:
		e.str(c.table)
		e.strs(c.indexes[0])
	case cmdSetOptions:
		e.str(c.table)
		if err := e.json(c.options); err != nil {
			return nil, err
		}
	}
	return e.b, nil
}

// withTable sets the Table of a *srdb.Error (a copy) when it has none.
func withTable(err error, table string) error {
	if e, ok := err.(*srdb.Error); ok && e.Table == "" {
		c := *e
		c.Table = table
		return &c
	}
	return err
}

// decoder reads a command; the first failure is kept in err and every later
// read returns zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

// maxDecodeCount bounds a decoded count by the bytes left, so a corrupt
// count cannot allocate more than the entry's size.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.off) {
		d.fail("count %d exceeds the %d bytes left", n, len(d.b)-d.off)
		return 0
	}
	return int(n)
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &srdb.Error{Code: srdb.CodeCorrupted, Offset: int64(d.off), Msg: "raft log command: " + fmt.Sprintf(format, args...)}
	}
}

func (d *decoder) u8() byte {
	if d.err != nil || d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) raw(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b)-d.off {
		d.fail("%d bytes past the end", n)
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *decoder) str() string { return string(d.raw(d.count())) }

func (d *decoder) strs() []string {
	n := d.count()
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

// json decodes a str holding JSON into v.
func (d *decoder) json(v any) {
	b := d.raw(d.count())
	if d.err != nil {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		d.fail("%T: %v", v, err)
	}
}

func (d *decoder) row() map[string]any {
	n := d.count()
	m := make(map[string]any, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		m[k] = d.value()
	}
	return m
}

func (d *decoder) value() any {
	switch tag := d.u8(); tag {
	case tagNil:
		return nil
	case tagInt:
		return int(d.varint())
	case tagInt8:
		return int8(d.varint())
	case tagInt16:
		return int16(d.varint())
	case tagInt32:
		return int32(d.varint())
	case tagInt64:
		return d.varint()
	case tagUint:
		return uint(d.uvarint())
	case tagUint8:
		return uint8(d.uvarint())
	case tagUint16:
		return uint16(d.uvarint())
	case tagUint32:
		return uint32(d.uvarint())
	case tagUint64:
		return d.uvarint()
	case tagFloat32:
		b := d.raw(4)
		if b == nil {
			return nil
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case tagFloat64:
		b := d.raw(8)
		if b == nil {
			return nil
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case tagString:
		return d.str()
	case tagBool:
		return d.u8() != 0
	case tagDecimal:
		s := d.str()
		v, err := decimal.NewFromString(s)
		if err != nil {
			d.fail("decimal %q: %v", s, err)
		}
		return v
	case tagTime:
		sec := d.varint()
		nsec := d.uvarint()
		offset := d.varint()
		name := d.str()
		if nsec >= 1e9 || offset < math.MinInt32 || offset > math.MaxInt32 {
			d.fail("bad time")
			return nil
		}
		t := time.Unix(sec, int64(nsec))
		if offset == 0 && name == "UTC" {
			return t.UTC()
		}
		return t.In(time.FixedZone(name, int(offset)))
	case tagDuration:
		return time.Duration(d.varint())
	case tagJSON:
		return json.RawMessage(d.str())
	case tagBytes:
		return []byte(d.str())
	default:
		d.fail("unknown value tag %d", tag)
		return nil
	}
}

// decodeCommand decodes a log entry written by encodeCommand.
func decodeCommand(b []byte) (*command, error) {
	d := &decoder{b: b}
	if v := d.u8(); v != commandVersion && d.err == nil {
		return nil, &srdb.Error{Code: srdb.CodeCorrupted, Offset: 0, Msg: fmt.Sprintf("raft log command version %d, this build reads %d", v, commandVersion)}
	}
	c := &command{kind: cmdKind(d.u8())}
	switch c.kind {
	case cmdBatch:
		n := d.count()
		c.ops = make([]op, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			o := op{kind: opKind(d.u8()), table: d.str()}
			switch o.kind {
			case opInsert:
				nr := d.count()
				o.rows = make([]map[string]any, 0, nr)
				for j := 0; j < nr && d.err == nil; j++ {
					o.rows = append(o.rows, d.row())
				}
			case opUpdate:
				o.seq = d.varint()
				o.changes = d.row()
			case opDelete:
				o.seq = d.varint()
			case opDeleteRange:
				o.lo = d.varint()
				o.hi = d.varint()
			case opUpsert:
				o.rows = []map[string]any{d.row()}
			default:
				d.fail("unknown operation %d", o.kind)
			}
			c.ops = append(c.ops, o)
		}
	case cmdDeleteBefore:
		c.table = d.str()
		c.cutoff = d.varint()
	case cmdCreateTable:
		c.table = d.str()
		d.json(&c.fields)
		n := d.count()
		for i := 0; i < n && d.err == nil; i++ {
			c.indexes = append(c.indexes, d.strs())
		}
		n = d.count()
		for i := 0; i < n && d.err == nil; i++ {
			c.unique = append(c.unique, d.strs())
		}
	case cmdDropTable:
		c.table = d.str()
	case cmdAddField:
		c.table = d.str()
		c.fields = make([]srdb.Field, 1)
		d.json(&c.fields[0])
	case cmdCreateIndex, cmdCreateUniqueIndex:
		c.table = d.str()
		c.indexes = [][]string{d.strs()}
	case cmdSetOptions:
		c.table = d.str()
		d.json(&c.options)
	default:
		d.fail("unknown command kind %d", c.kind)
	}
	if d.err == nil && d.off != len(b) {
		d.fail("%d bytes after the command", len(b)-d.off)
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}
