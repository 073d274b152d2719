package srdb

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWALAppendBatchMatchesAppend checks that appendBatch writes exactly the
// record append writes for the assembled payload, for batches of 1 to 300
// rows of 0 to 300 bytes (uvarint lengths of one and two bytes), and that
// the offsets it returns agree.
func TestWALAppendBatchMatchesAppend(t *testing.T) {
	fs := newMemFS()
	wa, err := createWAL(fs, "a.wal", 1, DurabilityNone, 0, nil)
	require.NoError(t, err)
	wb, err := createWAL(fs, "b.wal", 1, DurabilityNone, 0, nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewSource(7))
	seq := int64(1)
	for i := 0; i < 200; i++ {
		rows := make([]encodedRow, 1+rng.Intn(300))
		payload := binary.AppendUvarint(nil, uint64(len(rows)))
		for j := range rows {
			rows[j].buf = make([]byte, rng.Intn(300))
			rng.Read(rows[j].buf)
			payload = binary.AppendUvarint(payload, uint64(len(rows[j].buf)))
			payload = append(payload, rows[j].buf...)
		}
		ea, err := wa.append(walRecordBatch, seq, payload)
		require.NoError(t, err)
		eb, err := wb.appendBatch(seq, rows)
		require.NoError(t, err)
		require.Equal(t, ea, eb)
		seq += int64(len(rows))
	}
	require.Equal(t, wa.appended, wb.appended)
	require.NoError(t, wa.close())
	require.NoError(t, wb.close())
	a, err := readWholeFileForTest(fs, "a.wal")
	require.NoError(t, err)
	b, err := readWholeFileForTest(fs, "b.wal")
	require.NoError(t, err)
	// The headers differ (random salt) and so do the sync marks; the records
	// before the first sync mark are the whole batch stream.
	require.Equal(t, len(a), len(b))
	n := int(wa.marked) // the final mark claims everything before it
	require.Equal(t, a[walHeaderSize:n], b[walHeaderSize:n])
}

// readWholeFileForTest reads a file of any size from fs.
func readWholeFileForTest(fs FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	return b, err
}
