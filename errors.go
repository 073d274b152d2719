package srdb

import (
	"errors"
	"fmt"
	"strings"
)

// Error is the error type returned by every exported function of SRDB.
//
// Code places the error in a range: 1000–1999 general, 2000–2999 database,
// 3000–3999 table, 4000–4999 schema, 5000–5999 storage and corruption,
// 6000–6999 query. The sentinel values below (ErrNotFound, ErrCorrupted, …)
// match any *Error of the same Code through errors.Is, so
//
//	if errors.Is(err, srdb.ErrCorrupted) { … }
//
// works whatever table, file or offset the error names. Err holds the cause
// (an I/O error, a parse error) and is reachable with errors.Unwrap / errors.As.
type Error struct {
	Code   int    // numeric code, see the ranges above
	Msg    string // what went wrong, without the context fields below
	Table  string // table involved, if any
	Field  string // field involved, if any
	File   string // file involved (base name or path inside the database), if any
	Offset int64  // byte offset in File, or -1 when not applicable
	Err    error  // underlying cause, if any
}

// Error codes. They are part of the public contract and never change meaning.
const (
	CodeGeneral         = 1000 // unclassified error
	CodeNotFound        = 1001 // row or object not found
	CodeClosed          = 1002 // database or table already closed
	CodeInvalidArgument = 1003 // an argument is out of range or of the wrong kind
	CodeCanceled        = 1004 // a query's context (Query.WithContext) was cancelled or passed its deadline; Err is ctx.Err()
	CodeDatabase        = 2000 // database-level failure
	CodeLocked          = 2001 // the database directory is locked by another process
	CodeTableExists     = 3001 // CreateTable of an existing table
	CodeTableNotFound   = 3002 // Table / DropTable of an unknown table
	CodeReadOnly        = 3003 // the table became read-only after a failed write or fsync, or the database was opened with Options.ReadOnly
	CodeSchemaViolation = 4001 // a row does not fit the schema
	CodeInvalidName     = 4002 // a table, field or index name is not allowed
	CodeInvalidSchema   = 4003 // a schema definition is not valid
	CodeDuplicateKey    = 4004 // a row's key in a unique index is held by another live row
	CodeStorage         = 5000 // an I/O error of the file system
	CodeCorrupted       = 5001 // stored data failed a checksum, magic or bounds check
	CodeInvalidQuery    = 6001 // a query names an unknown field or a mismatched value
)

// Sentinel errors. Compare with errors.Is; the errors SRDB returns carry more
// context (table, field, file, offset) but match these by Code.
var (
	ErrNotFound        = &Error{Code: CodeNotFound, Msg: "not found", Offset: -1}
	ErrClosed          = &Error{Code: CodeClosed, Msg: "closed", Offset: -1}
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument, Msg: "invalid argument", Offset: -1}
	ErrCanceled        = &Error{Code: CodeCanceled, Msg: "canceled", Offset: -1}
	ErrLocked          = &Error{Code: CodeLocked, Msg: "database is locked by another process", Offset: -1}
	ErrTableExists     = &Error{Code: CodeTableExists, Msg: "table already exists", Offset: -1}
	ErrTableNotFound   = &Error{Code: CodeTableNotFound, Msg: "table not found", Offset: -1}
	ErrReadOnly        = &Error{Code: CodeReadOnly, Msg: "table is read-only after a failed write", Offset: -1}
	ErrSchemaViolation = &Error{Code: CodeSchemaViolation, Msg: "schema violation", Offset: -1}
	ErrInvalidName     = &Error{Code: CodeInvalidName, Msg: "invalid name", Offset: -1}
	ErrInvalidSchema   = &Error{Code: CodeInvalidSchema, Msg: "invalid schema", Offset: -1}
	ErrDuplicateKey    = &Error{Code: CodeDuplicateKey, Msg: "duplicate key", Offset: -1}
	ErrIO              = &Error{Code: CodeStorage, Msg: "i/o error", Offset: -1}
	ErrCorrupted       = &Error{Code: CodeCorrupted, Msg: "corrupted", Offset: -1}
	ErrInvalidQuery    = &Error{Code: CodeInvalidQuery, Msg: "invalid query", Offset: -1}
)

// codeNames gives the short prefix printed by Error for each sentinel code.
var codeNames = map[int]string{
	CodeNotFound:        "not found",
	CodeClosed:          "closed",
	CodeInvalidArgument: "invalid argument",
	CodeCanceled:        "canceled",
	CodeLocked:          "locked",
	CodeTableExists:     "table exists",
	CodeTableNotFound:   "table not found",
	CodeReadOnly:        "read-only",
	CodeSchemaViolation: "schema violation",
	CodeInvalidName:     "invalid name",
	CodeInvalidSchema:   "invalid schema",
	CodeDuplicateKey:    "duplicate key",
	CodeStorage:         "i/o error",
	CodeCorrupted:       "corrupted",
	CodeInvalidQuery:    "invalid query",
}

// Error formats the error as
// "srdb: <kind>: table "t": field "f": file F at offset N: <msg>: <cause>",
// leaving out the parts that are empty.
func (e *Error) Error() string {
	if e == nil {
		return "srdb: <nil *Error>"
	}
	var b strings.Builder
	b.WriteString("srdb: ")
	kind, ok := codeNames[e.Code]
	if !ok {
		kind = fmt.Sprintf("error %d", e.Code)
	}
	b.WriteString(kind)
	if e.Table != "" {
		fmt.Fprintf(&b, ": table %q", e.Table)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	if e.File != "" {
		fmt.Fprintf(&b, ": file %s", e.File)
		if e.Offset >= 0 {
			fmt.Fprintf(&b, " at offset %d", e.Offset)
		}
	}
	if e.Msg != "" && e.Msg != kind {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Is reports whether target is an *Error with the same Code, so every
// corruption error matches ErrCorrupted, every missing row ErrNotFound, …
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e != nil && t != nil && t.Code == e.Code
}

// IsNotFound reports whether err is (or wraps) ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsCorrupted reports whether err is (or wraps) ErrCorrupted.
func IsCorrupted(err error) bool { return errors.Is(err, ErrCorrupted) }

// IsClosed reports whether err is (or wraps) ErrClosed.
func IsClosed(err error) bool { return errors.Is(err, ErrClosed) }

// ErrorCode returns the Code of the first *Error in err's chain, 0 for nil
// and CodeGeneral for an error that is not an *Error.
func ErrorCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeGeneral
}

// newError builds an *Error of the given code with a formatted message.
// A %w verb in format is honoured: the wrapped error becomes Err.
func newError(code int, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Code: code, Msg: err.Error(), Offset: -1}
	if cause := errors.Unwrap(err); cause != nil {
		// Keep only the message part that precedes the cause so that Error()
		// does not print the cause twice.
		e.Msg = strings.TrimSuffix(strings.TrimSuffix(e.Msg, cause.Error()), ": ")
		e.Err = cause
	}
	return e
}

// corruptionError returns an ErrCorrupted error naming the file and offset.
// offset is -1 when the position is not known.
func corruptionError(file string, offset int64, format string, args ...any) *Error {
	e := newError(CodeCorrupted, format, args...)
	e.File = file
	e.Offset = offset
	return e
}

// ioError wraps an error of the file system (or of the FS injected in tests)
// as CodeStorage, naming the operation and file.
func ioError(op, file string, err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.File != "" {
		return e // already carries its context
	}
	return &Error{Code: CodeStorage, Msg: op, File: file, Offset: -1, Err: err}
}

// withTable returns a copy of err with Table set when err is an *Error whose
// Table is empty; other errors are returned unchanged.
func withTable(err error, table string) error {
	var e *Error
	if err == nil || !errors.As(err, &e) || e.Table != "" {
		return err
	}
	c := *e
	c.Table = table
	return &c
}

// tableError returns an error of the given code naming table (no file, no
// offset). format and args are as for fmt.Errorf, %w included.
func tableError(code int, table, format string, args ...any) *Error {
	e := newError(code, format, args...)
	e.Table = table
	return e
}

// tableFieldError is tableError naming a field of the table too.
func tableFieldError(code int, table, field, format string, args ...any) *Error {
	e := tableError(code, table, format, args...)
	e.Field = field
	return e
}

// fileError returns an error of the given code naming a file (no offset).
func fileError(code int, file, format string, args ...any) *Error {
	e := newError(code, format, args...)
	e.File = file
	return e
}

// tableClosedError is the ErrClosed error of a call on a closed (or
// dropped) table.
func tableClosedError(table string) *Error {
	return tableError(CodeClosed, table, "table is closed")
}
