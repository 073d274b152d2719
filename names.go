package srdb

// Names of tables, fields and indexes follow
//
//	^[A-Za-z][A-Za-z0-9_]{0,63}$
//
// so a name is always a safe single path element: it cannot be empty, "." or
// "..", contain a separator or a NUL, or start with "_" (reserved for the
// system fields _seq and _time).

// maxNameLen is the longest table, field or index name, in bytes.
const maxNameLen = 64

// System field names present on every row. User fields may not start with
// '_', so these can never clash with a schema field.
const (
	sysFieldSeq  = "_seq"  // int64 sequence number, unique per table
	sysFieldTime = "_time" // row timestamp in nanoseconds
)

// validateName reports whether name is a valid name of the given kind
// ("table", "field" or "index"). The error is ErrInvalidName naming the kind
// and the quoted name. It does not use regexp: it runs on every CreateTable,
// NewSchema and query.
func validateName(kind, name string) error {
	if len(name) == 0 {
		return newError(CodeInvalidName, "%s name %q is empty", kind, name)
	}
	if len(name) > maxNameLen {
		return newError(CodeInvalidName, "%s name %q is %d bytes long, the limit is %d", kind, name, len(name), maxNameLen)
	}
	if c := name[0]; !isASCIILetter(c) {
		if c == '_' {
			return newError(CodeInvalidName, "%s name %q must start with a letter (names starting with '_' are reserved)", kind, name)
		}
		return newError(CodeInvalidName, "%s name %q must start with a letter A-Z or a-z", kind, name)
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isASCIILetter(c) && !isASCIIDigit(c) && c != '_' {
			return newError(CodeInvalidName, "%s name %q contains %q at byte %d; only A-Z, a-z, 0-9 and '_' are allowed", kind, name, c, i)
		}
	}
	return nil
}

// isReservedFieldName reports whether name is reserved for system fields
// (every name starting with '_', including _seq and _time).
func isReservedFieldName(name string) bool {
	return len(name) > 0 && name[0] == '_'
}

func isASCIILetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }
