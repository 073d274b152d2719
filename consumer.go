package srdb

// Consumer groups (docs/STREAMS.md): a named, durable read position per
// table. Each group's committed position is one MANIFEST table property,
// "consumer.<group>", so a Commit appends one small version edit (O(1), no
// rewrite of the other groups), is fsynced with the MANIFEST, is part of
// every MANIFEST snapshot and hence of Checkpoint, and is read back by Open
// and by a ReadOnly attach.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// propConsumerPrefix starts the MANIFEST property key of every consumer
// group: "consumer." + group name. No other property key starts with it.
const propConsumerPrefix = "consumer."

// maxConsumerGroupLen bounds a group name in bytes (the property key, with
// its prefix, stays under maxPropKeyLen).
const maxConsumerGroupLen = 128

// Value of a consumer property (the committed position). Frozen: it is on
// disk, inside MANIFEST records (whose CRC covers it).
//
//	+---------+----------------------------+
//	| version | position                   |
//	| 1 byte  | uvarint, 0 … MaxInt64      |
//	+---------+----------------------------+
//
// version is consumerPosVersion; the uvarint must end exactly at the end of
// the value. position is the last consumed seq: rows with _seq <= position
// are consumed (0 before any commit).
const consumerPosVersion = 1

// encodeConsumerPos returns the property value of position pos (≥ 0).
func encodeConsumerPos(pos int64) string {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64)
	buf = append(buf, consumerPosVersion)
	buf = binary.AppendUvarint(buf, uint64(pos))
	return string(buf)
}

// decodeConsumerPos parses a property value written by encodeConsumerPos.
// Its errors are plain descriptions: version replay reports them as
// corruption of the MANIFEST record holding the value.
func decodeConsumerPos(v string) (int64, error) {
	if len(v) == 0 {
		return 0, errors.New("consumer position: empty value")
	}
	if v[0] != consumerPosVersion {
		return 0, fmt.Errorf("consumer position: unknown format version %d", v[0])
	}
	pos, n := binary.Uvarint([]byte(v[1:]))
	if n <= 0 || 1+n != len(v) {
		return 0, fmt.Errorf("consumer position: bad uvarint (%d bytes)", len(v)-1)
	}
	if pos > math.MaxInt64 {
		return 0, fmt.Errorf("consumer position %d out of range", pos)
	}
	return int64(pos), nil
}

// checkConsumerProperty validates a property set by a version edit when its
// key is a consumer's (versionBuilder.apply); other keys pass.
func checkConsumerProperty(key, value string) error {
	if !strings.HasPrefix(key, propConsumerPrefix) {
		return nil
	}
	if err := validateGroupName(key[len(propConsumerPrefix):]); err != nil {
		return errors.New("consumer group name not valid")
	}
	_, err := decodeConsumerPos(value)
	return err
}

// validateGroupName reports what is wrong with a consumer group name, or
// nil: it must be 1 to maxConsumerGroupLen bytes of valid UTF-8, every
// character printable (letters, marks, numbers, punctuation, symbols and
// the ASCII space).
func validateGroupName(group string) error {
	switch {
	case group == "":
		return errors.New("empty name")
	case len(group) > maxConsumerGroupLen:
		return fmt.Errorf("name of %d bytes (at most %d)", len(group), maxConsumerGroupLen)
	case !utf8.ValidString(group):
		return errors.New("name is not valid UTF-8")
	}
	for _, r := range group {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("name holds the non-printable character %U", r)
		}
	}
	return nil
}

// consumerState serialises the changes of a table's consumer positions.
type consumerState struct {
	// mu is held across the read, check and logAndApply of a position
	// change (create, Commit, SeekTo, DropConsumer), so that a check (never
	// backwards, group exists) holds when the edit lands. Taken with no
	// table lock held; versionSet.mu is taken under it.
	mu sync.Mutex
}

// Consumer is a consumer group's reader of a table: Next returns the rows
// after the group's position one by one (blocking for new ones, like
// Tail), and Commit records durably how far the group got. Several
// Consumer values of one group (in one process or after a restart) share
// the committed position; each reads on from the last row it delivered,
// starting after the position committed when it was obtained. See
// docs/STREAMS.md for the delivery rules.
//
// A Consumer is used by one goroutine at a time; Position, Lag and Commit
// may also be called from others.
type Consumer struct {
	t     *Table
	group string
	key   string     // MANIFEST property key
	cur   tailCursor // read position of this value
}

// consumerError returns an error of the given code naming the table and the
// group.
func (t *Table) consumerError(code int, group, format string, args ...any) error {
	return tableError(code, t.name, "consumer group %q: "+format, append([]any{group}, args...)...)
}

// consumerPos returns the committed position of the group whose property
// key is key, and whether the group exists.
func (t *Table) consumerPos(key string) (int64, bool, error) {
	v := t.vs.current()
	raw, ok := v.property(key)
	v.unref()
	if !ok {
		return 0, false, nil
	}
	pos, err := decodeConsumerPos(raw)
	if err != nil { // versionBuilder.apply checked it: not reached
		return 0, false, corruptionError(makeFilename(fileTypeManifest, t.vs.manifestFileNum()), -1, "property %q: %v", key, err)
	}
	return pos, true, nil
}

// setConsumerPosLocked makes pos the durable position of the group (one MANIFEST
// record), or removes the group when pos < 0. Caller holds consumers.mu.
func (t *Table) setConsumerPosLocked(key string, pos int64) error {
	if err := t.readOnlyErr(); err != nil {
		return err
	}
	edit := &versionEdit{}
	if pos < 0 {
		edit.deleteProperty(key)
	} else {
		edit.setProperty(key, encodeConsumerPos(pos))
		// The MANIFEST's last seq covers the position: after a crash that
		// lost the tail of the WAL (DurabilityNone) no new row reuses a seq
		// the group has already consumed.
		edit.setLastSeq(pos)
	}
	if err := t.vs.logAndApply(edit); err != nil {
		return t.failManifest(err)
	}
	return nil
}

// Consumer returns a reader for the consumer group, creating the group (at
// position 0: every row is still to be consumed) durably on first use. The
// Consumer starts after the group's committed position.
//
// Errors: CodeInvalidName for an empty, over-long (more than 128 bytes) or
// non-printable name; on a ReadOnly database the group must exist
// (CodeReadOnly otherwise); ErrClosed after Close.
func (t *Table) Consumer(group string) (*Consumer, error) {
	if err := t.checkOpen(); err != nil {
		return nil, err
	}
	if err := validateGroupName(group); err != nil {
		return nil, t.consumerError(CodeInvalidName, group, "%v", err)
	}
	key := propConsumerPrefix + group
	t.consumers.mu.Lock()
	defer t.consumers.mu.Unlock()
	pos, ok, err := t.consumerPos(key)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := t.refuseReadOnly("Consumer (create group " + group + ")"); err != nil {
			return nil, err
		}
		if err := t.setConsumerPosLocked(key, 0); err != nil {
			return nil, withTable(err, t.name)
		}
	}
	return &Consumer{t: t, group: group, key: key, cur: tailCursor{t: t, next: pos + 1, endVis: -1}}, nil
}

// Consumers returns the names of the table's consumer groups, sorted (nil
// for a closed table).
func (t *Table) Consumers() []string {
	if t.checkOpen() != nil {
		return nil
	}
	v := t.vs.current()
	defer v.unref()
	var names []string
	for k := range v.props {
		if strings.HasPrefix(k, propConsumerPrefix) {
			names = append(names, k[len(propConsumerPrefix):])
		}
	}
	sort.Strings(names)
	return names
}

// ConsumerPositions returns every consumer group of the table with its
// committed position, as of one moment (nil for a closed table). Unlike
// Consumer it never creates a group: tools that only look use it.
func (t *Table) ConsumerPositions() map[string]int64 {
	if t.checkOpen() != nil {
		return nil
	}
	v := t.vs.current()
	defer v.unref()
	out := map[string]int64{}
	for k, raw := range v.props {
		if strings.HasPrefix(k, propConsumerPrefix) {
			pos, _ := decodeConsumerPos(raw) // checked by versionBuilder.apply
			out[k[len(propConsumerPrefix):]] = pos
		}
	}
	return out
}

// DropConsumer removes the consumer group and its position durably.
// Consumer values of the group still in use can read on, but their Commit
// and SeekTo return ErrNotFound (Consumer creates the group afresh).
// Errors: ErrNotFound for an unknown group, CodeInvalidName, CodeReadOnly
// on a ReadOnly database, ErrClosed.
func (t *Table) DropConsumer(group string) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	if err := validateGroupName(group); err != nil {
		return t.consumerError(CodeInvalidName, group, "%v", err)
	}
	if err := t.refuseReadOnly("DropConsumer"); err != nil {
		return err
	}
	key := propConsumerPrefix + group
	t.consumers.mu.Lock()
	defer t.consumers.mu.Unlock()
	if _, ok, err := t.consumerPos(key); err != nil {
		return err
	} else if !ok {
		return t.consumerError(CodeNotFound, group, "no such consumer group")
	}
	return withTable(t.setConsumerPosLocked(key, -1), t.name)
}

// usable checks c and its table.
func (c *Consumer) usable() error {
	if c == nil || c.t == nil {
		return newError(CodeInvalidArgument, "nil Consumer (not returned by Table.Consumer)")
	}
	return c.t.checkOpen()
}

// Group returns the consumer group's name.
func (c *Consumer) Group() string {
	if c == nil {
		return ""
	}
	return c.group
}

// Next returns the next row after the last one this Consumer delivered (the
// first live row after the committed position for a new Consumer), waiting
// until one is inserted, ctx is done (CodeCanceled wrapping ctx.Err(), so
// errors.Is(err, ctx.Err())) or the table is closed or dropped (ErrClosed).
// Rows are delivered as Tail delivers them: acknowledged, live, in seq
// order. Next does not commit: call Commit with the row's seq once it is
// processed (at-least-once delivery across restarts).
func (c *Consumer) Next(ctx context.Context) (*Row, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if ctx == nil {
		return nil, c.t.consumerError(CodeInvalidArgument, c.group, "Next: nil context")
	}
	row, err := c.cur.read(ctx, nil)
	if err != nil {
		return nil, withTable(err, c.t.name)
	}
	return row, nil
}

// Commit records durably that the rows with _seq <= seq are consumed: when
// it returns nil the position is in the MANIFEST, fsynced (it survives
// kill -9 and power loss in every durability mode). A position never moves
// backwards: a seq at or below Position is a no-op that returns nil (so
// late or repeated commits are harmless). Commit does not move this
// Consumer's read position (SeekTo does).
//
// Errors: CodeInvalidArgument for a negative seq or one above the table's
// highest seq; ErrNotFound when the group was dropped; CodeReadOnly on a
// ReadOnly database or a table made read-only by a failed write; ErrClosed.
func (c *Consumer) Commit(seq int64) error {
	if err := c.usable(); err != nil {
		return err
	}
	t := c.t
	if err := t.refuseReadOnly("Commit"); err != nil {
		return err
	}
	if seq < 0 {
		return t.consumerError(CodeInvalidArgument, c.group, "Commit of negative seq %d", seq)
	}
	if high := t.seqHigh.Load(); seq > high {
		return t.consumerError(CodeInvalidArgument, c.group, "Commit of seq %d above the table's highest seq %d", seq, high)
	}
	t.consumers.mu.Lock()
	defer t.consumers.mu.Unlock()
	pos, ok, err := t.consumerPos(c.key)
	if err != nil {
		return err
	}
	if !ok {
		return t.consumerError(CodeNotFound, c.group, "Commit: the group was dropped")
	}
	if seq <= pos {
		return nil
	}
	return withTable(t.setConsumerPosLocked(c.key, seq), t.name)
}

// Position returns the group's committed position: the last consumed seq
// (0 before any commit, and once the group was dropped).
func (c *Consumer) Position() int64 {
	if c.usable() != nil {
		return 0
	}
	pos, _, _ := c.t.consumerPos(c.key)
	return pos
}

// SeekTo moves the group to seq: the next Next of this Consumer returns the
// first live row with _seq >= seq, and the committed position becomes
// seq-1, durably — backwards too (to replay rows) — when SeekTo returns
// nil. Other Consumer values of the group keep their read position. seq
// may be at most the table's highest seq + 1 ("skip to the end").
//
// Errors: CodeInvalidArgument for seq < 1 or beyond that bound;
// ErrNotFound when the group was dropped; CodeReadOnly; ErrClosed.
func (c *Consumer) SeekTo(seq int64) error {
	if err := c.usable(); err != nil {
		return err
	}
	t := c.t
	if err := t.refuseReadOnly("SeekTo"); err != nil {
		return err
	}
	if seq < 1 {
		return t.consumerError(CodeInvalidArgument, c.group, "SeekTo(%d): seqs start at 1", seq)
	}
	if high := t.seqHigh.Load(); seq > high+1 {
		return t.consumerError(CodeInvalidArgument, c.group, "SeekTo(%d) beyond the table's highest seq %d + 1", seq, high)
	}
	t.consumers.mu.Lock()
	defer t.consumers.mu.Unlock()
	pos, ok, err := t.consumerPos(c.key)
	if err != nil {
		return err
	}
	if !ok {
		return t.consumerError(CodeNotFound, c.group, "SeekTo: the group was dropped")
	}
	if pos != seq-1 {
		if err := t.setConsumerPosLocked(c.key, seq-1); err != nil {
			return withTable(err, t.name)
		}
	}
	c.cur.reset(seq)
	return nil
}

// Lag returns the number of live rows after the committed position (rows
// deleted meanwhile are not counted). It reads like Query.Count.
func (c *Consumer) Lag() (int64, error) {
	if err := c.usable(); err != nil {
		return 0, err
	}
	n, err := c.t.Query().Gt("_seq", c.Position()).Count()
	return int64(n), err
}
