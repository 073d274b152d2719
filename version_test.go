package srdb

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// vtDescribe renders a version (files with every field, properties, indexes)
// so that two versions can be compared with a readable diff.
func vtDescribe(v *version) string {
	var b strings.Builder
	for l := range v.levels {
		if len(v.levels[l]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "L%d:", l)
		for _, f := range v.levels[l] {
			fmt.Fprintf(&b, " %d{size=%d seq=[%d,%d] time=%v[%d,%d] n=%d/%d raw=%d}", f.num, f.size,
				f.minSeq, f.maxSeq, f.hasTime, f.minTime, f.maxTime, f.numEntries, f.numTombstones, f.rawRowBytes)
		}
		b.WriteByte('\n')
	}
	for _, k := range sortedKeys(v.props) {
		fmt.Fprintf(&b, "prop %q=%q\n", k, v.props[k])
	}
	fmt.Fprintf(&b, "indexes %q\n", v.indexes())
	return b.String()
}

// vtBuild builds a version from edits applied in order.
func vtBuild(t testing.TB, edits ...*versionEdit) *version {
	t.Helper()
	b := newVersionBuilder(nil)
	for _, e := range edits {
		require.NoError(t, b.apply(e))
	}
	v, err := b.build()
	require.NoError(t, err)
	return v
}

func nums(files []*fileMeta) []uint64 {
	out := []uint64{}
	for _, f := range files {
		out = append(out, f.num)
	}
	return out
}

func TestVersionLevelOrder(t *testing.T) {
	e := &versionEdit{}
	for _, n := range []uint64{3, 9, 5, 1} {
		e.addFile(0, vtMeta(n, 10, 20)) // L0 may overlap
	}
	e.addFile(1, vtMeta(11, 50, 60))
	e.addFile(1, vtMeta(10, 1, 9))
	e.addFile(1, vtMeta(12, 61, 61))
	v := vtBuild(t, e)
	require.Equal(t, []uint64{9, 5, 3, 1}, nums(v.files(0)), "L0 newest first")
	require.Equal(t, []uint64{10, 11, 12}, nums(v.files(1)), "L1 by minSeq")
	require.Equal(t, 4, v.numFiles(0))
	require.Equal(t, 0, v.numFiles(5))
	require.Nil(t, v.files(-1))
	require.Nil(t, v.files(numLevels))
	require.Equal(t, uint64(1011+1010+1012), v.levelBytes(1))
	require.Equal(t, []uint64{9, 5, 3, 1, 10, 11, 12}, nums(v.allFiles()))
}

func TestVersionOverlapInvariant(t *testing.T) {
	for _, c := range []struct{ lo, hi int64 }{{5, 15}, {15, 20}, {0, 10}, {10, 10}, {12, 13}, {-5, 100}} {
		b := newVersionBuilder(nil)
		e := &versionEdit{}
		e.addFile(2, vtMeta(1, 10, 15))
		e.addFile(2, vtMeta(2, c.lo, c.hi))
		require.NoError(t, b.apply(e))
		_, err := b.build()
		require.Error(t, err, "%+v", c)
		require.Contains(t, err.Error(), "overlaps")
	}
	// Adjacent is fine.
	e := &versionEdit{}
	e.addFile(2, vtMeta(1, 10, 15))
	e.addFile(2, vtMeta(2, 16, 20))
	vtBuild(t, e)
}

func TestVersionOverlapping(t *testing.T) {
	e := &versionEdit{}
	e.addFile(0, vtMeta(7, 100, 200))
	e.addFile(0, vtMeta(8, 150, 160))
	e.addFile(0, vtMeta(9, 300, 400))
	for i := int64(0); i < 10; i++ {
		e.addFile(1, vtMeta(uint64(20+i), i*10, i*10+5)) // [0,5] [10,15] … [90,95]
	}
	v := vtBuild(t, e)
	require.Equal(t, []uint64{8, 7}, nums(v.overlapping(0, 155, 155)))
	require.Equal(t, []uint64{9, 7}, nums(v.overlapping(0, 200, 300)))
	require.Empty(t, v.overlapping(0, 201, 299))
	require.Equal(t, []uint64{20}, nums(v.overlapping(1, -100, 0)))
	require.Equal(t, []uint64{21, 22}, nums(v.overlapping(1, 15, 20)))
	require.Equal(t, []uint64{21, 22}, nums(v.overlapping(1, 12, 24)))
	require.Empty(t, v.overlapping(1, 16, 19))
	require.Equal(t, []uint64{29}, nums(v.overlapping(1, 95, 1000)))
	require.Empty(t, v.overlapping(1, 96, 1000))
	require.Len(t, v.overlapping(1, -1000, 1000), 10)
	require.Empty(t, v.overlapping(1, 50, 40), "empty range")
	require.Empty(t, v.overlapping(3, 0, 100))
	// Brute force against every range.
	for lo := int64(-2); lo < 100; lo += 3 {
		for hi := lo; hi < 100; hi += 7 {
			var want []uint64
			for _, f := range v.files(1) {
				if f.overlaps(lo, hi) {
					want = append(want, f.num)
				}
			}
			got := nums(v.overlapping(1, lo, hi))
			if want == nil {
				want = []uint64{}
			}
			require.Equal(t, want, got, "[%d,%d]", lo, hi)
		}
	}
}

func TestVersionBuilderRejects(t *testing.T) {
	base := &versionEdit{}
	base.addFile(0, vtMeta(1, 1, 10))
	base.addFile(1, vtMeta(2, 1, 10))
	base.addFile(0, vtMeta(3, 1, 10))
	bad := map[string]func(e *versionEdit){
		"delete missing":     func(e *versionEdit) { e.deleteFile(0, 99) },
		"delete wrong level": func(e *versionEdit) { e.deleteFile(1, 1) },
		"add duplicate":      func(e *versionEdit) { e.addFile(3, vtMeta(1, 1, 10)) },
		"add twice":          func(e *versionEdit) { e.addFile(3, vtMeta(7, 1, 10)); e.addFile(4, vtMeta(7, 1, 10)) },
		"add into touched level duplicate": func(e *versionEdit) {
			e.deleteFile(0, 1)
			e.addFile(0, vtMeta(2, 1, 10)) // 2 is in L1
		},
		"add duplicate of touched level": func(e *versionEdit) {
			e.deleteFile(0, 1)
			e.addFile(2, vtMeta(3, 1, 10)) // 3 is in the touched L0
		},
		"add number 0":         func(e *versionEdit) { e.addFile(3, vtMeta(0, 1, 10)) },
		"add nil":              func(e *versionEdit) { e.addFile(3, nil) },
		"add level -1":         func(e *versionEdit) { e.addFile(-1, vtMeta(5, 1, 10)) },
		"add level 7":          func(e *versionEdit) { e.addFile(7, vtMeta(5, 1, 10)) },
		"delete level 7":       func(e *versionEdit) { e.deleteFile(7, 1) },
		"min > max seq":        func(e *versionEdit) { e.addFile(3, vtMeta(5, 10, 9)) },
		"min > max time":       func(e *versionEdit) { m := vtMeta(5, 1, 2); m.minTime = 9999; e.addFile(3, m) },
		"tombstones > entries": func(e *versionEdit) { m := vtMeta(5, 1, 2); m.numTombstones = 3; e.addFile(3, m) },
		"move changes meta": func(e *versionEdit) {
			e.deleteFile(0, 1)
			m := vtMeta(1, 1, 10)
			m.size++
			e.addFile(2, m)
		},
		"bad index list": func(e *versionEdit) { e.setProperty(propIndexes, "\x05") },
	}
	for name, f := range bad {
		b := newVersionBuilder(nil)
		require.NoError(t, b.apply(base))
		e := &versionEdit{}
		f(e)
		require.Error(t, b.apply(e), name)
	}
}

func TestVersionBuilderMoveKeepsFileMeta(t *testing.T) {
	base := &versionEdit{}
	base.addFile(0, vtMeta(1, 1, 10))
	b := newVersionBuilder(nil)
	require.NoError(t, b.apply(base))
	v1, err := b.build()
	require.NoError(t, err)

	move := &versionEdit{}
	move.deleteFile(0, 1)
	move.addFile(4, vtMeta(1, 1, 10))
	b2 := newVersionBuilder(v1)
	require.NoError(t, b2.apply(move))
	v2, err := b2.build()
	require.NoError(t, err)
	require.Empty(t, v2.files(0))
	require.Same(t, v1.files(0)[0], v2.files(4)[0])
	require.Len(t, v1.files(0), 1, "base version unchanged")
}

func TestVersionBuilderCopiesAddedMeta(t *testing.T) {
	m := vtMeta(1, 1, 10)
	e := &versionEdit{}
	e.addFile(0, m)
	v := vtBuild(t, e)
	m.size = 0
	require.Equal(t, uint64(1001), v.files(0)[0].size)
}

func TestVersionProperties(t *testing.T) {
	e1 := &versionEdit{}
	e1.setProperty("a", "1")
	e1.setIndexes([]string{"x", "y"})
	v1 := vtBuild(t, e1)
	require.Equal(t, []string{"x", "y"}, v1.indexes())
	got, ok := v1.property("a")
	require.True(t, ok)
	require.Equal(t, "1", got)

	e2 := &versionEdit{}
	e2.deleteProperty("a")
	b := newVersionBuilder(v1)
	require.NoError(t, b.apply(e2))
	v2, err := b.build()
	require.NoError(t, err)
	_, ok = v2.property("a")
	require.False(t, ok)
	require.Equal(t, []string{"x", "y"}, v2.indexes(), "untouched property carried over")
	_, ok = v1.property("a")
	require.True(t, ok, "older version unchanged")

	e3 := &versionEdit{}
	e3.deleteProperty(propIndexes)
	b = newVersionBuilder(v2)
	require.NoError(t, b.apply(e3))
	v3, err := b.build()
	require.NoError(t, err)
	require.Nil(t, v3.indexes())
}
