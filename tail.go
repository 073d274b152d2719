package srdb

// Table.Tail: follow a table as it grows (docs/STREAMS.md). A tail reads
// the rows at or after its position through the ordinary query path (a
// pinned read state, so only acknowledged rows and never a deleted one),
// in batches, and when it has delivered everything it waits for the table's
// visibility watermark (Table.visible) to advance: no polling, no goroutine.

import (
	"context"
	"sync"
	"sync/atomic"
)

// tailBatch is the number of rows a tail reads per pinned read state. A
// batch is dropped and read again when an Update or Delete is published
// before its rows are delivered (tailState.mutations).
const tailBatch = 128

// tailBatchBytes bounds a read-ahead of large rows (approxRowSize): a batch
// ends after the row that reaches it.
const tailBatchBytes = 4 << 20

// tailState is a table's wake-up machinery for tails and consumers.
type tailState struct {
	// waiters counts tails between their last look at the table and the
	// end of their wait; publishVisible notifies only when it is not zero,
	// so a table nobody follows pays one atomic load per write.
	waiters atomic.Int32

	// mutations counts the Updates and Deletes published (incremented
	// after the write's op is visible, before its call returns): a tail
	// delivers a buffered row only while it is unchanged since the batch
	// was read.
	mutations atomic.Int64

	// mu guards ch: the channel the waiting tails select on, closed (and
	// forgotten, so the next waiter makes a new one) by notify.
	mu sync.Mutex
	ch chan struct{}
}

// channel returns the channel the next notify closes.
func (s *tailState) channel() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// notify wakes every tail waiting for new rows. Called after the visibility
// watermark advanced (publishVisible), and after a ReadOnly table installed
// a new snapshot.
//
// Why no wake-up is lost: a tail increments waiters, takes channel() and
// only then loads visible (to decide whether to read) and pins a read state
// (which loads it again). A publisher raises visible and then loads
// waiters. If it reads zero, the tail's loads come after the raise and it
// reads the row; otherwise it closes the channel, which is either the
// tail's (it wakes) or a newer one — made by a channel() call after the
// close, so after the raise, and the tail's loads see the row. The same
// holds for mutations and a ReadOnly table's new snapshot.
func (s *tailState) notify() {
	if s.waiters.Load() == 0 {
		return
	}
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// noteMutation records that an Update or Delete was made visible. Every
// write that changes or removes an existing row calls it after its op is
// published and before it returns.
func (t *Table) noteMutation() {
	t.tails.mutations.Add(1)
}

// tailCursor reads the live rows with _seq >= next in seq order, blocking
// for new ones. It is used by one goroutine at a time (a Tail's Rows, a
// Consumer).
type tailCursor struct {
	t    *Table
	next int64 // the next row delivered has _seq >= next

	buf  []*Row // rows read ahead, in seq order, from buf[bi]
	bi   int
	muts int64 // tailState.mutations before buf was read

	plan *plan // see fill

	// endVis and endMuts are Table.visible and tailState.mutations
	// loaded before the last fill that reached the end of the table's
	// visible rows (endVis -1: none did). While both are unchanged no new
	// row can be visible, and a wake-up (or the next read) waits without
	// reading the table again.
	endVis, endMuts int64
}

// reset moves the cursor to seq, dropping what it read ahead.
func (c *tailCursor) reset(seq int64) {
	c.next = seq
	c.buf, c.bi = nil, 0
	c.endVis = -1
}

// read returns the next row, waiting for one until ctx is done, stop (may
// be nil) is closed or the table closes. Errors: CodeCanceled wrapping
// ctx.Err(); ErrClosed once the table is closed or dropped; errStopped
// when stop was closed.
func (c *tailCursor) read(ctx context.Context, stop <-chan struct{}) (*Row, error) {
	t := c.t
	for {
		if err := ctx.Err(); err != nil {
			return nil, tableError(CodeCanceled, t.name, "tail stopped by its context: %w", err)
		}
		if err := t.checkOpen(); err != nil {
			return nil, err
		}
		if c.bi < len(c.buf) {
			if t.tails.mutations.Load() == c.muts {
				row := c.buf[c.bi]
				c.buf[c.bi] = nil
				c.bi++
				c.next = row.Seq() + 1
				if rule, ok := t.maxAgeRule(); ok && rule.hides(row.Seq(), row.timeNanos) {
					continue // expired (MaxAge) since it was read
				}
				return row, nil
			}
			c.buf, c.bi = nil, 0 // an Update or Delete since the read: read again
		}
		t.tails.waiters.Add(1)
		wake := t.tails.channel()
		muts := t.tails.mutations.Load()
		vis := t.visible.Load()
		if vis != c.endVis || muts != c.endMuts {
			rows, atEnd, err := c.fill()
			if err != nil {
				t.tails.waiters.Add(-1)
				return nil, err
			}
			if atEnd {
				// The read reached the end of what was visible at vis.
				c.endVis, c.endMuts = vis, muts
			} else {
				c.endVis = -1
			}
			if len(rows) > 0 {
				t.tails.waiters.Add(-1)
				c.buf, c.bi, c.muts = rows, 0, muts
				continue
			}
		}
		select {
		case <-wake:
		case <-ctx.Done():
		case <-t.done:
		case <-stop:
			t.tails.waiters.Add(-1)
			return nil, errStopped
		}
		t.tails.waiters.Add(-1)
	}
}

// errStopped ends a tailCursor.read whose stop channel was closed (the Rows
// was closed by its caller).
var errStopped = newError(CodeClosed, "tail closed")

// fill reads up to tailBatch live rows (and about tailBatchBytes) with
// _seq >= c.next, in seq order, from a freshly pinned read state; atEnd
// reports that it read every such row the state holds.
//
// The query is planned once per schema (planning costs more than reading
// a few rows): a plan of the scan _seq >= 1 in seq order, of which each fill
// runs a copy whose lower seq bound is c.next.
func (c *tailCursor) fill() (rows []*Row, atEnd bool, err error) {
	if c.plan == nil || c.plan.s != c.t.Schema() {
		q := c.t.Query().Gte("_seq", int64(1)).OrderBy("_seq").Limit(tailBatch)
		p, err := q.plan(planRows)
		if err != nil {
			return nil, false, err
		}
		c.plan = p
	}
	p := *c.plan
	p.seqLo = max(p.seqLo, c.next)
	rs, err := c.t.pin()
	if err != nil {
		return nil, false, err
	}
	r, err := p.openRows(rs, &queryStats{})
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	size := 0
	for size < tailBatchBytes && r.Next() {
		row := r.Row()
		rows = append(rows, row)
		size += approxRowSize(row)
	}
	if err := r.Err(); err != nil {
		return nil, false, err
	}
	return rows, size < tailBatchBytes && len(rows) < tailBatch, nil
}

// approxRowSize estimates the memory a decoded row holds: the bytes of its
// String and Bytes values plus 16 per field (an estimate: enough to bound a
// read-ahead of large rows).
func approxRowSize(r *Row) int {
	n := 0
	for _, v := range r.vals {
		switch x := v.(type) {
		case string:
			n += len(x)
		case []byte:
			n += len(x)
		}
		n += 16
	}
	return n
}

// tailRows is the state of a Rows returned by Table.Tail.
type tailRows struct {
	ctx  context.Context
	cur  tailCursor
	stop chan struct{} // closed by Close: wakes a waiting Next
	once sync.Once

	// mu guards err and ended; Next does not hold it while it waits.
	mu    sync.Mutex
	err   error
	ended bool
}

// Tail returns the rows with _seq >= fromSeq in seq order and then, as they
// are inserted, every new row: Next blocks until there is one, and returns
// false only when ctx is done (Err then matches ctx.Err() with errors.Is,
// and has Code CodeCanceled), when the table is closed or dropped (Err
// matches ErrClosed), or after Close (Err nil) or an error.
//
// A row is delivered only after its Insert was acknowledged (it is read
// through the same pinned read state as a query, which honours the
// visibility watermark), and never after its Delete returned. Rows are read
// ahead in small batches; an Update or Delete that returns before a row is
// delivered is seen by it (the batch is read again), one that returns later
// is not. Tail starts no goroutine and holds no files while it waits; a
// waiting Next wakes when a write is acknowledged (microseconds with a few
// tails; docs/BENCHMARKS.md has figures), when ctx is done, when the table
// closes, or when Close is called from another goroutine.
//
// Close the Rows when done. Apart from Close, a Tail's Rows is used by one
// goroutine.
func (t *Table) Tail(ctx context.Context, fromSeq int64) (*Rows, error) {
	if err := t.checkOpen(); err != nil {
		return nil, err
	}
	if ctx == nil {
		return nil, tableError(CodeInvalidArgument, t.name, "Tail: nil context")
	}
	tr := &tailRows{ctx: ctx, cur: tailCursor{t: t, next: max(fromSeq, 1), endVis: -1}, stop: make(chan struct{})}
	return &Rows{tail: tr}, nil
}

// tailNext is Rows.Next for a Tail.
func (r *Rows) tailNext() bool {
	tr := r.tail
	r.row = nil
	tr.mu.Lock()
	ended := tr.ended
	tr.mu.Unlock()
	if ended {
		return false
	}
	row, err := tr.cur.read(tr.ctx, tr.stop)
	if err != nil {
		tr.mu.Lock()
		if !tr.ended && err != errStopped {
			tr.err = withTable(err, tr.cur.t.name)
		}
		tr.ended = true
		tr.mu.Unlock()
		tr.cur.reset(tr.cur.next) // drop what was read ahead
		return false
	}
	r.row = row
	return true
}

// tailErr is Rows.Err for a Tail.
func (tr *tailRows) tailErr() error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.err
}

// tailClose is Rows.Close for a Tail: it ends the tail, waking a Next that
// waits in another goroutine, and returns Err.
func (tr *tailRows) tailClose() error {
	tr.once.Do(func() { close(tr.stop) })
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ended = true
	return tr.err
}
