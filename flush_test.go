package srdb

import (
	"bytes"
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWriteMemtableSST flushes a memtable holding appends, in-place
// updates, updates of older seqs that arrive out of order (the memtable's
// late list), deletes and a composite index, then reads the SST back: its
// entries must be the memtable's newest versions in seq order (what memIter
// yields), and each index section exactly the sorted entries computed from
// those rows, whatever path the builder took (channel_id repeats and is
// grouped, msg_id arrives sorted, the composite index is sorted by
// comparison).
func TestWriteMemtableSST(t *testing.T) {
	fields := imTableFields()
	s, err := NewSchema("messages", fields, WithIndex("msg_type", "from_uid"))
	require.NoError(t, err)

	rng := rand.New(rand.NewSource(7))
	m := newMemtable(1)
	m.idx = newMemIndexSet(s)
	put := func(seq int64, ch int) {
		row := map[string]any{
			"channel_id": fmt.Sprintf("ch-%03d", ch), "from_uid": fmt.Sprintf("u%d", rng.Intn(20)),
			"msg_id": seq * 10, "msg_type": uint8(rng.Intn(4)), "payload": []byte(fmt.Sprintf("p%d", seq)),
		}
		rv, err := s.rowFromMap(row)
		require.NoError(t, err)
		buf, err := encodeRow(nil, seq, 1000+seq, s.types(), rv.vals)
		require.NoError(t, err)
		m.add(seq, kindSet, 1000+seq, buf)
	}
	for seq := int64(100); seq < 3000; seq++ {
		put(seq, rng.Intn(50))
	}
	for i := 0; i < 300; i++ {
		put(100+rng.Int63n(2900), rng.Intn(50)) // update in place
	}
	for _, seq := range []int64{57, 12, 99, 3, 40} {
		put(seq, rng.Intn(50)) // older than the memtable's first seq: late
	}
	for i := 0; i < 200; i++ {
		m.add(100+rng.Int63n(2900), kindDelete, 0, nil)
	}

	fs := newSSTMemFS()
	props, err := writeMemtableSST(fs, "d", 1, CompressionNone, s, m)
	require.NoError(t, err)
	require.Equal(t, uint64(m.len()), props.numEntries)
	r, err := openSST(fs, "d", 1)
	require.NoError(t, err)
	defer r.close()
	require.NoError(t, r.verify(nil))

	want := map[string][][]byte{}
	fieldsIdx := indexedFields(s)
	require.Len(t, fieldsIdx, 3)
	mi := m.newIter()
	it := r.newIter()
	ok := it.first()
	for mok := mi.first(); mok; mok = mi.next() {
		require.True(t, ok)
		require.Equal(t, mi.seq(), it.seq())
		require.Equal(t, mi.kind(), it.kind())
		require.True(t, bytes.Equal(mi.value(), it.value()), "seq %d", mi.seq())
		if mi.kind() == kindSet {
			v, err := parseRow(mi.value())
			require.NoError(t, err)
			for _, f := range fieldsIdx {
				key, err := f.appendKey(nil, v)
				require.NoError(t, err)
				want[f.name] = append(want[f.name], appendIndexSeq(key, mi.seq()))
			}
		}
		ok = it.next()
	}
	require.False(t, ok)
	require.NoError(t, it.close())
	for _, f := range fieldsIdx {
		slices.SortFunc(want[f.name], bytes.Compare)
		sec, found, err := r.indexSection(f.name)
		require.NoError(t, err)
		require.True(t, found, f.name)
		var got [][]byte
		require.NoError(t, sec.verify(func(e []byte) error { got = append(got, slices.Clone(e)); return nil }))
		require.Equal(t, want[f.name], got, f.name)
	}
}

// TestSSTWriterRawLeafBlock checks that the raw leaf block writeBlocks
// writes in place (records, then the trailer appended to them) is byte for
// byte what the general path (storedBlocks) stores for the same records.
func TestSSTWriterRawLeafBlock(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, n := range []int{1, 300, sstLeafRawTarget - 1, sstLeafRawTarget + 5000} {
		w := &sstWriter{codec: blockCodecRaw, blockTarget: blockTargetOf(blockCodecRaw)}
		w.blk = make([]byte, n)
		rng.Read(w.blk)
		fast := appendSSTBlockTrailer(slices.Clone(w.blk), 0, 0, n, blockCodecRaw)
		require.NoError(t, w.storedBlocks())
		require.Equal(t, w.stored, fast, "n=%d", n)
	}
}

// TestFlushedMemtableUnreachable: once its SST is installed and no reader
// pins it, a flushed memtable (its entries and index: heap memory) is
// garbage; the table's list of immutable memtables must not keep it
// reachable (removing the head by reslicing kept it in the backing array).
func TestFlushedMemtableUnreachable(t *testing.T) {
	db, tbl := visOpen(t, newMemFS(), DurabilityInterval)
	defer db.Close()
	for i := int64(1); i <= 1000; i++ {
		_, err := tbl.Insert(visRow(i))
		require.NoError(t, err)
	}
	var gone atomic.Bool
	func() {
		tbl.stateMu.RLock()
		defer tbl.stateMu.RUnlock()
		runtime.AddCleanup(tbl.mem, func(b *atomic.Bool) { b.Store(true) }, &gone)
	}()
	require.NoError(t, tbl.Flush())
	for i := 0; i < 100 && !gone.Load(); i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	require.True(t, gone.Load(), "the flushed memtable is still reachable")
}
