package srdb

import (
	"cmp"
	"encoding/binary"
	"log/slog"
	"math"
	"slices"
	"time"
)

// TableOptions are the per-table settings a table keeps in its metadata
// (durably, in its MANIFEST) and changes with SetOptions.
type TableOptions struct {
	// MaxAge expires rows whose _time is older than now − MaxAge (0: keep
	// every row). An expired row is never returned by Get, a query, Count
	// or Tail from the moment its time passes, before any compaction; the
	// table enforces the rule durably every Options.RetentionInterval,
	// which drops whole SSTs of expired rows and leaves partly expired ones
	// to compaction.
	MaxAge time.Duration
	// MaxBytes bounds the bytes of the table's SSTs (0: no bound): while
	// they exceed it the oldest rows are deleted, whole SSTs first, every
	// Options.RetentionInterval. The memtable and its WAL are not counted.
	MaxBytes int64
	// Compression is the codec of the data written from now on: flushes
	// and compactions write their SSTs with it, existing files keep theirs
	// until a compaction rewrites them (a level may mix codecs).
	// CompressionDefault inherits Options.Compression.
	Compression Compression
}

// propTableOptions is the MANIFEST property holding the TableOptions.
//
//	+---------+--------------------+-----------------+-------------+
//	| version | MaxAge (ns)        | MaxBytes        | Compression |
//	| 1 byte  | uvarint            | uvarint         | 1 byte      |
//	+---------+--------------------+-----------------+-------------+
//
// version is 1 (no Compression byte: CompressionDefault) or 2; the encoder
// writes version 1 while Compression is CompressionDefault, so options set
// before compression existed encode as they did. The MANIFEST record's CRC
// covers it.
const (
	propTableOptions    = "options"
	tableOptionsVersion = 2
)

// encodeTableOptions encodes o as the value of propTableOptions.
func encodeTableOptions(o TableOptions) []byte {
	version := byte(tableOptionsVersion)
	if o.Compression == CompressionDefault {
		version = 1
	}
	b := []byte{version}
	b = binary.AppendUvarint(b, uint64(o.MaxAge))
	b = binary.AppendUvarint(b, uint64(o.MaxBytes))
	if version >= 2 {
		b = append(b, byte(o.Compression))
	}
	return b
}

// decodeTableOptions decodes the value of propTableOptions; file names the
// MANIFEST in errors.
func decodeTableOptions(v []byte, file string) (TableOptions, error) {
	c := &byteCursor{b: v, file: file, base: -1}
	var o TableOptions
	if len(v) == 0 || v[0] < 1 || v[0] > tableOptionsVersion {
		return o, c.errorf("table options: unknown encoding version")
	}
	version := c.u8()
	age, err := editUvarint(c, "MaxAge")
	if err != nil {
		return o, err
	}
	bytes, err := editUvarint(c, "MaxBytes")
	if err != nil {
		return o, err
	}
	comp := CompressionDefault
	if version >= 2 {
		if c.empty() {
			return o, c.errorf("table options: Compression missing")
		}
		if comp = Compression(c.u8()); !comp.valid() || comp == CompressionDefault {
			return o, c.errorf("table options: unknown Compression %d", comp)
		}
	}
	if age > math.MaxInt64 || bytes > math.MaxInt64 || !c.empty() {
		return o, c.errorf("table options: MaxAge %d / MaxBytes %d out of range or trailing bytes", age, bytes)
	}
	return TableOptions{MaxAge: time.Duration(age), MaxBytes: int64(bytes), Compression: comp}, nil
}

// compression returns the codec the table's writers use now: its
// TableOptions.Compression, else Options.Compression, else none.
func (t *Table) compression() Compression {
	if o := t.tableOpts.Load(); o != nil && o.Compression != CompressionDefault {
		return o.Compression
	}
	if t.opts.Compression != CompressionDefault {
		return t.opts.Compression
	}
	return CompressionNone
}

// Options returns the table's options (the zero value when none were set).
func (t *Table) Options() TableOptions {
	if t == nil {
		return TableOptions{}
	}
	if o := t.tableOpts.Load(); o != nil {
		return *o
	}
	return TableOptions{}
}

// SetOptions replaces the table's options. The change is durable and
// crash-safe when SetOptions returns (one MANIFEST record: after a crash
// the table has either the old or the new options); a MaxAge takes effect
// for reads at once, and the background enforcement of MaxAge and MaxBytes
// runs right away. A new Compression applies to the SSTs written from then
// on (the next flush or compaction). Negative values and an unknown
// Compression are ErrInvalidArgument.
func (t *Table) SetOptions(o TableOptions) error {
	if err := t.checkOpen(); err != nil {
		return err
	}
	if err := t.refuseReadOnly("SetOptions"); err != nil {
		return err
	}
	if o.MaxAge < 0 {
		return tableError(CodeInvalidArgument, t.name, "TableOptions.MaxAge %v is negative", o.MaxAge)
	}
	if o.MaxBytes < 0 {
		return tableError(CodeInvalidArgument, t.name, "TableOptions.MaxBytes %d is negative", o.MaxBytes)
	}
	if !o.Compression.valid() {
		return tableError(CodeInvalidArgument, t.name, "TableOptions.Compression %d is not a Compression", o.Compression)
	}
	if err := t.readOnlyErr(); err != nil {
		return err
	}
	edit := &versionEdit{}
	if o == (TableOptions{}) {
		edit.deleteProperty(propTableOptions)
	} else {
		edit.setProperty(propTableOptions, string(encodeTableOptions(o)))
	}
	t.flushMu.Lock()
	err := t.vs.logAndApply(edit)
	if err == nil {
		t.tableOpts.Store(&o)
		t.installVersion(nil)
	}
	t.flushMu.Unlock()
	if err != nil {
		return t.failManifest(err)
	}
	if err := killPoint("set_options.after_manifest"); err != nil {
		return t.fail(err)
	}
	t.wakeRetention()
	return nil
}

// loadTableOptions reads the options from the current version (at Open and
// after a ReadOnly refresh).
func (t *Table) loadTableOptions() error {
	v := t.vs.current()
	raw, ok := v.property(propTableOptions)
	v.unref()
	if !ok {
		t.tableOpts.Store(nil)
		return nil
	}
	o, err := decodeTableOptions([]byte(raw), makeFilename(fileTypeManifest, t.vs.manifestFileNum()))
	if err != nil {
		return withTable(err, t.name)
	}
	t.tableOpts.Store(&o)
	return nil
}

// maxAgeRule returns the range tombstone MaxAge amounts to now: every row
// older than now − MaxAge, whatever its seq.
func (t *Table) maxAgeRule() (rangeTombstone, bool) {
	o := t.tableOpts.Load()
	if o == nil || o.MaxAge <= 0 {
		return rangeTombstone{}, false
	}
	tb, ok := timeBeforeNanos(t.now().Add(-o.MaxAge))
	if !ok {
		return rangeTombstone{}, false
	}
	return rangeTombstone{seqLo: 1, seqHi: math.MaxInt64, timeBefore: tb}, true
}

// wakeRetention asks the retention loop to enforce the options now.
func (t *Table) wakeRetention() {
	select {
	case t.retentionWake <- struct{}{}:
	default:
	}
}

// retentionLoop enforces MaxAge and MaxBytes every RetentionInterval and
// when woken, until the table closes. A failure is logged (a failed write
// already made the table read-only) and retried at the next tick.
func (t *Table) retentionLoop() {
	defer t.bg.Done()
	tick := time.NewTicker(t.opts.RetentionInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		case <-t.retentionWake:
		}
		if t.readOnlyErr() != nil {
			continue
		}
		if err := t.enforceRetention(); err != nil && t.checkOpen() == nil {
			t.logger.Warn("srdb: retention", slog.String("table", t.name), slog.Any("err", err))
		}
	}
}

// enforceRetention makes the options' deletions durable: the rows MaxAge
// expires as of now get a range tombstone (correcting the row counter and
// dropping SSTs of expired rows), and while the SSTs exceed MaxBytes the
// oldest rows get one too.
func (t *Table) enforceRetention() error {
	t.retentionMu.Lock()
	defer t.retentionMu.Unlock()
	o := t.Options()
	if o.MaxAge > 0 {
		if rule, ok := t.maxAgeRule(); ok && t.maxAgeDue(rule) {
			if _, err := t.writeRangeTombstone(rule); err != nil {
				return err
			}
			t.retentionLast = t.now()
		}
	}
	if o.MaxBytes > 0 {
		v := t.vs.current()
		hi, ok := maxBytesCutoff(v, o.MaxBytes)
		v.unref()
		if ok {
			if _, err := t.writeRangeTombstone(rangeTombstone{seqLo: 1, seqHi: hi, timeBefore: anyTime}); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxAgeWriteEvery is how often, at most, retention writes a MaxAge
// tombstone when no SST has expired whole. Each one is a WAL record kept in
// the memtable's tombstone list (which every read state of the memtable
// walks) until the memtable is flushed; in between, reads apply the rule
// anyway and Count subtracts the rows expired since the last one.
const maxAgeWriteEvery = time.Minute

// maxAgeDue reports whether retention should write the MaxAge tombstone
// rule now: some SST would be dropped whole, or maxAgeWriteEvery passed
// since the last one. Caller holds retentionMu.
func (t *Table) maxAgeDue(rule rangeTombstone) bool {
	if t.retentionLast.IsZero() || t.now().Sub(t.retentionLast) >= maxAgeWriteEvery {
		return true
	}
	v := t.vs.current()
	defer v.unref()
	rule.seqHi = t.seqHigh.Load() + 1
	return len(hiddenFiles(v, rule)) > 0
}

// maxBytesCutoff returns the seq below which rows must go for the SSTs of v
// to fit in maxBytes: the files with the oldest rows (by their newest seq)
// are given up whole while that is not enough, and the first file that is
// more than enough gives up its oldest rows whose encoded bytes make up the
// remaining excess (compaction then rewrites it without them). false when
// v already fits.
func maxBytesCutoff(v *version, maxBytes int64) (int64, bool) {
	var total int64
	var files []*fileMeta
	for _, level := range v.levels {
		for _, f := range level {
			total += int64(f.size)
			files = append(files, f)
		}
	}
	excess := total - maxBytes
	if excess <= 0 {
		return 0, false
	}
	slices.SortFunc(files, func(a, b *fileMeta) int { return cmp.Compare(a.maxSeq, b.maxSeq) })
	hi := int64(0)
	for _, f := range files {
		if excess <= 0 {
			break
		}
		if size := int64(f.size); size <= excess {
			excess -= size
			hi = max(hi, f.maxSeq+1)
			continue
		}
		// Cut by the rows' own bytes (smaller than their share of the file,
		// which also holds the tree and index sections), so that one cut
		// is enough: the oldest rows whose bytes make up the excess.
		perRow := float64(max(f.rawRowBytes, 1)) / float64(max(f.numEntries, 1))
		rows := math.Ceil(float64(excess) / perRow)
		seqsPerEntry := float64(f.maxSeq-f.minSeq+1) / float64(max(f.numEntries, 1))
		hi = max(hi, min(f.maxSeq+1, f.minSeq+int64(math.Ceil(rows*seqsPerEntry))))
		break
	}
	return hi, hi > 1
}

// countLive returns the number of live rows: the row counter, less the
// rows MaxAge expired that no range tombstone hides yet (the retention loop
// writes one every RetentionInterval, so they are few and lie in the
// oldest sources; countHidden reads only the sources old enough to hold
// them).
func (t *Table) countLive() (int64, error) {
	rule, ok := t.maxAgeRule()
	if !ok {
		return t.liveRows.Load(), nil
	}
	n := t.liveRows.Load()
	expired, err := t.countHiddenLatest(rule)
	if err != nil {
		return 0, withTable(err, t.name)
	}
	return max(n-expired, 0), nil
}

// now is the clock MaxAge is measured against: time.Now, or the clock a
// test installed (Table.clock).
func (t *Table) now() time.Time {
	if c := t.clock.Load(); c != nil {
		return (*c)()
	}
	return time.Now()
}
