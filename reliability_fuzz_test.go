package srdb

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// Fuzz targets and seeds of the reliability suite that the other
// files lack: database.meta, and forged cyclic B+Tree nodes for FuzzOpenSST.
// docs/RELIABILITY.md, "Fuzzing", lists every target.

// FuzzDecodeMetaFile feeds arbitrary bytes to the database.meta decoder: it
// must not panic, every error must be ErrCorrupted naming the file, and a
// decoded table list must be valid names without duplicates that round-trip
// through encodeMetaFile.
func FuzzDecodeMetaFile(f *testing.F) {
	for _, tables := range [][]string{nil, {"a"}, {"events", "messages", "m_2"}} {
		data, err := encodeMetaFile(tables)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte(`{"format":1,"crc32c":"00000000","meta":{"tables":[]}}`))
	f.Add(resealMetaFile(`{"tables":["a","a"]}`))
	f.Add(resealMetaFile(`{"tables":["../x"]}`))
	f.Add(resealMetaFile(`{"tables":null}`))
	f.Add(resealMetaFile(`{"tables":[1]}`))
	f.Add([]byte(`{"format":1,"format":2}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeMetaFile(t, data)
		// Mutations rarely keep the checksum valid: also try the bytes as
		// the "meta" value of a file with a correct checksum.
		if len(data) > 0 && data[0] == '{' {
			checkDecodeMetaFile(t, resealMetaFile(string(data)))
		}
	})
}

// resealMetaFile wraps body as the "meta" value of a database.meta with a
// correct checksum.
func resealMetaFile(body string) []byte {
	return fmt.Appendf(nil, `{"format":1,"crc32c":"%08x","meta":%s}`, checksum([]byte(body)), body)
}

// checkDecodeMetaFile decodes data and checks the error or the result.
func checkDecodeMetaFile(t *testing.T, data []byte) {
	const path = "db/database.meta"
	tables, err := decodeMetaFile(data, path)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeCorrupted || e.File != path {
			t.Fatalf("error %v is not ErrCorrupted naming %s", err, path)
		}
		return
	}
	seen := map[string]bool{}
	for _, n := range tables {
		if validateName("table", n) != nil || seen[n] {
			t.Fatalf("decoded bad or duplicate table name %q", n)
		}
		seen[n] = true
	}
	enc, err := encodeMetaFile(tables)
	if err != nil {
		t.Fatal(err)
	}
	again, err := decodeMetaFile(enc, path)
	if err != nil {
		t.Fatalf("re-encoded meta does not decode: %v", err)
	}
	sorted := slices.Sorted(slices.Values(tables))
	if !slices.Equal(sorted, again) && !(len(sorted) == 0 && len(again) == 0) {
		t.Fatalf("round trip: %q became %q", sorted, again)
	}
}

// sstCyclicSeeds returns small SSTs (a two-level B+Tree) whose tree holds
// forged, correctly checksummed cycles: the root pointing to itself, and to
// itself from its last entry too. A reader without a visited-node (level)
// budget would loop on them. (TestSSTForgedTree covers deeper forgeries;
// the seeds stay small so the fuzzer stays fast.)
func sstCyclicSeeds(tb testing.TB) [][]byte {
	es := sstTestEntries(leafCap+2, 1, 1, 0, 0)
	fs := newSSTMemFS()
	w, err := newSSTWriter(fs, "d", 1)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range es {
		if err := w.add(e.seq, e.kind, e.time, e.value); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := w.finish(); err != nil {
		tb.Fatal(err)
	}
	orig, err := fs.readFile("d/000001.sst")
	if err != nil {
		tb.Fatal(err)
	}
	h, problem, _ := decodeSSTHeader(orig)
	if problem != "" || h.height != 2 {
		tb.Fatalf("fixture: %q, height %d", problem, h.height)
	}
	root := h.rootOff
	setChild := func(node uint64, i int, child uint64) []byte {
		d := bytes.Clone(orig)
		btreePutU48(d[node+nodeHeaderSize+uint64(i)*innerEntrySize+innerChildOff:], child)
		sstResealNode(d, node)
		return d
	}
	return [][]byte{
		setChild(root, 0, root),
		setChild(root, 1, root),
	}
}

// TestSSTCyclicSeedsEndInCorruption runs the cyclic seeds through every read
// path of the fuzz target: each must end in ErrCorrupted, never loop (the
// seeds are also in the FuzzOpenSST corpus).
func TestSSTCyclicSeedsEndInCorruption(t *testing.T) {
	for i, d := range sstCyclicSeeds(t) {
		fs := newSSTMemFS()
		if err := fs.writeFile("d/000001.sst", d); err != nil {
			t.Fatal(err)
		}
		r, err := openSST(fs, "d", 1)
		if err != nil {
			if !errors.Is(err, ErrCorrupted) {
				t.Fatalf("seed %d: %v", i, err)
			}
			continue
		}
		if err := r.verify(nil); !errors.Is(err, ErrCorrupted) {
			t.Fatalf("seed %d: verify: %v", i, err)
		}
		_ = r.close()
		sstFuzzOne(t, d)
	}
}
