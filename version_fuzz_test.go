package srdb

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// vtSeedManifests returns MANIFEST images made by the real code: a fresh
// table, a workload without roll-over, and the live MANIFEST after several
// roll-overs.
func vtSeedManifests(t testing.TB) [][]byte {
	var out [][]byte
	for _, c := range []struct {
		steps int
		limit int64
	}{{0, 1 << 30}, {8, 1 << 30}, {60, 1 << 30}, {120, 600}} {
		fs := newMemFS()
		w := newVTWorkload(t, fs, c.limit, uint64(c.steps))
		for range c.steps {
			w.step()
		}
		b, err := fs.readFile(w.manifestPath())
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// consumerSeedManifest returns the MANIFEST of a table with consumer
// groups: created, committed, moved back by SeekTo, one dropped.
func consumerSeedManifest(t testing.TB) []byte {
	fs := newMemFS()
	o := DefaultOptions()
	o.FS = fs
	db, err := Open("/db", o)
	require.NoError(t, err)
	s, err := NewSchema("v", visFields())
	require.NoError(t, err)
	tbl, err := db.CreateTable("v", s)
	require.NoError(t, err)
	for n := int64(1); n <= 5; n++ {
		_, err := tbl.Insert(visRow(n))
		require.NoError(t, err)
	}
	a, err := tbl.Consumer("a")
	require.NoError(t, err)
	require.NoError(t, a.Commit(4))
	require.NoError(t, a.SeekTo(2))
	_, err = tbl.Consumer("b")
	require.NoError(t, err)
	require.NoError(t, tbl.DropConsumer("b"))
	require.NoError(t, db.Close())
	names, err := fs.List("/db/tables/v")
	require.NoError(t, err)
	for _, n := range names {
		if strings.HasPrefix(n, manifestPrefix) {
			b, err := fs.readFile("/db/tables/v/" + n)
			require.NoError(t, err)
			return b
		}
	}
	t.Fatal("no MANIFEST")
	return nil
}

func FuzzDecodeVersionEdit(f *testing.F) {
	f.Add([]byte{})
	f.Add(vtFullEdit().encode())
	e := &versionEdit{}
	e.addFile(1, vtMeta(5, 10, 20))
	e.deleteFile(0, 3)
	f.Add(e.encode())
	e = &versionEdit{addedDels: []rangeTombstone{{1, 100, anyTime}, {5, 9, 12345}}, droppedDels: []rangeTombstone{{1, 2, anyTime}}}
	e.setProperty(propTableOptions, string(encodeTableOptions(TableOptions{MaxAge: 3, MaxBytes: 4})))
	f.Add(e.encode())
	for _, pos := range []string{encodeConsumerPos(42), "\x01", "\x02\x05"} { // consumer.go: valid, torn, unknown version
		ce := &versionEdit{}
		ce.setProperty(propConsumerPrefix+"g", pos)
		ce.deleteProperty(propConsumerPrefix + "old")
		f.Add(ce.encode())
	}
	for _, m := range vtSeedManifests(f) {
		if len(m) > manifestHeaderSize+recordHeaderSize {
			f.Add(m[manifestHeaderSize+recordHeaderSize:]) // snapshot payload and what follows
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeVersionEdit(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupted)
			return
		}
		// Re-encoding is canonical: decode(encode(e)) == e, and encoding
		// that again gives the same bytes.
		b2 := e.encode()
		e2, err := decodeVersionEdit(b2)
		require.NoError(t, err)
		require.Equal(t, e, e2)
		require.Equal(t, b2, e2.encode())
		// Applying it to an empty version must not panic either.
		bld := newVersionBuilder(nil)
		if bld.apply(e) == nil {
			_, _ = bld.build()
		}
	})
}

func FuzzReadManifest(f *testing.F) {
	for _, m := range append(vtSeedManifests(f), consumerSeedManifest(f)) {
		f.Add(m)
		if len(m) > 40 {
			f.Add(m[:len(m)-7]) // torn tail
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const name = "MANIFEST-000001"
		r, err := replayManifestFrom(bytes.NewReader(b), int64(len(b)), name)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupted)
		} else {
			require.NotNil(t, r.v)
			require.LessOrEqual(t, r.goodLen, int64(len(b)))
			require.Positive(t, r.records)
		}

		// The whole recovery, on a directory holding the SSTs the MANIFEST
		// names (when they are small), so that it gets past the size check.
		fs := newMemFS()
		dir := "/fuzz"
		require.NoError(t, fs.writeFile(filepath.Join(dir, "CURRENT"), []byte(name+"\n")))
		require.NoError(t, fs.writeFile(filepath.Join(dir, name), b))
		if r != nil {
			budget := uint64(1 << 20) // bytes of SSTs the harness writes
			for _, m := range r.v.allFiles() {
				if m.size <= budget {
					budget -= m.size
					require.NoError(t, fs.writeFile(makeFilepath(dir, fileTypeSST, m.num), make([]byte, m.size)))
				}
			}
		}
		vs, err := recoverVersionSet(fs, dir, versionSetOptions{})
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupted)
			return
		}
		require.NotNil(t, r, "recovery accepted what replay refused")
		// A recovered set accepts a new edit and recovers again to the same
		// state.
		require.NoError(t, vs.logAndApply(&versionEdit{}))
		want := vtState(vs)
		require.NoError(t, vs.close())
		vs, err = recoverVersionSet(fs, dir, versionSetOptions{})
		require.NoError(t, err)
		require.Equal(t, want, vtState(vs))
		require.NoError(t, vs.close())
	})
}

// FuzzDecodeTableOptions: the value of the table options property decodes
// to non-negative options that survive an encode and decode, or fails with
// ErrCorrupted; it never panics.
func FuzzDecodeTableOptions(f *testing.F) {
	f.Add(encodeTableOptions(TableOptions{}))
	f.Add(encodeTableOptions(TableOptions{MaxAge: 72 * 3600 * 1e9, MaxBytes: 1 << 30}))
	f.Add([]byte{2, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeTableOptions(b, "MANIFEST-000001")
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupted)
			return
		}
		require.GreaterOrEqual(t, o.MaxAge, time.Duration(0))
		require.GreaterOrEqual(t, o.MaxBytes, int64(0))
		back, err := decodeTableOptions(encodeTableOptions(o), "MANIFEST-000001")
		require.NoError(t, err)
		require.Equal(t, o, back)
	})
}
