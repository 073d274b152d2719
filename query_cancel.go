package srdb

import "context"

// Cancellation of a running query. A query stops when its context
// (Query.WithContext) is done or when its table is closed (Database.Close,
// DropTable). Both are checked when the query starts and then every
// interruptEvery entries its sources examine — scanned table entries, index
// entries, point lookups — whether or not they match, so a filter that
// matches nothing stops as promptly as one that matches everything. The
// loops that examine rows (scans, index walks, the sort buffer's fill,
// Count) all pull from a source, so the check lives in the sources alone.

// interruptEvery is how many entries a source examines between two checks.
// A check costs a context lookup and a channel poll; between checks a row
// costs one counter decrement.
const interruptEvery = 1024

// interrupter counts the entries one source examines. Its zero value checks
// at the first step (the start of the query).
type interrupter struct{ left int }

// step counts one examined entry and, every interruptEvery entries, returns
// the reason p must stop (p.interrupted), if any.
func (c *interrupter) step(p *plan) error {
	c.left--
	if c.left > 0 {
		return nil
	}
	c.left = interruptEvery
	return p.interrupted()
}

// interrupted returns ErrClosed once the table is closing, or an *Error of
// CodeCanceled wrapping ctx.Err() once the query's context is done, or nil.
func (p *plan) interrupted() error {
	if err := p.t.checkOpen(); err != nil {
		return err
	}
	if p.ctx == nil {
		return nil
	}
	if err := p.ctx.Err(); err != nil {
		return tableError(CodeCanceled, p.t.name, "query stopped by its context: %w", err)
	}
	return nil
}

// WithContext makes the query's terminal methods (Rows and the Rows it
// returns, Count, Scan, Paginate, First, Last) stop once ctx is done: they
// return, and Rows.Next ends with Rows.Err returning, an *Error of
// CodeCanceled that wraps ctx.Err(), so errors.Is(err, context.Canceled)
// or errors.Is(err, context.DeadlineExceeded) holds. ctx is checked when
// the query starts and then every few thousand rows examined (matching or
// not). A nil ctx is ErrInvalidQuery. Like the builder methods, WithContext
// changes the Query and returns it.
func (q *Query) WithContext(ctx context.Context) *Query {
	if q == nil {
		return nil
	}
	if ctx == nil {
		q.setErr(queryError("", "WithContext: nil context"))
		return q
	}
	q.ctx = ctx
	return q
}
