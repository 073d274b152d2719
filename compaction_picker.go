package srdb

import "math"

// This file holds the compaction picker: level budgets, scores, and the
// choice of a compaction's input files. It only reads versions; running a
// compaction is compaction.go.
//
// # Ordering rule
//
// For one seq, a version in a shallower place is newer: memtables, then L0
// newest file first (higher file number), then L1, L2, … Every compaction
// keeps that true:
//   - an L0 compaction takes ALL current L0 files, plus the L1 files that
//     overlap their combined seq range, and writes L1. Files flushed while it
//     runs get higher numbers and stay in L0, newer than its output;
//   - an Ln compaction (n ≥ 1) takes one Ln file plus the Ln+1 files that
//     overlap it. Other Ln files cannot hold a seq of the Ln file; they may
//     hold a newer version of a seq of an Ln+1 input, and they stay above
//     the output, in Ln.

// levelMaxBytes returns the byte budget of level (1 … numLevels-2):
// L1MaxBytes × LevelSizeMultiplier^(level-1). L0 is scored by file count and
// the last level has no budget; both return 0.
func (o *Options) levelMaxBytes(level int) int64 {
	if level < 1 || level >= numLevels-1 {
		return 0
	}
	n := float64(o.L1MaxBytes) * math.Pow(float64(o.LevelSizeMultiplier), float64(level-1))
	if n >= math.MaxInt64 {
		return math.MaxInt64
	}
	return max(int64(n), 1)
}

// targetFileSize returns the size at which compaction cuts its output files
// at level.
func (o *Options) targetFileSize(level int) int64 {
	if level >= 0 && level < len(o.TargetFileSizes) && o.TargetFileSizes[level] > 0 {
		return o.TargetFileSizes[level]
	}
	return defaultTargetFileSize(level)
}

// levelScores returns the compaction score of every level of v: for L0 the
// file count over L0CompactionTrigger, for L1 … L5 the level's bytes over its
// budget, 0 for the last level (it has nowhere to go). A level is due when
// its score is ≥ 1.
func levelScores(v *version, o *Options) [numLevels]float64 {
	var s [numLevels]float64
	if o.L0CompactionTrigger > 0 {
		s[0] = float64(v.numFiles(0)) / float64(o.L0CompactionTrigger)
	}
	for l := 1; l < numLevels-1; l++ {
		if budget := o.levelMaxBytes(l); budget > 0 {
			s[l] = float64(v.levelBytes(l)) / float64(budget)
		}
	}
	return s
}

// compactionPlan is one compaction chosen by the picker: the input files of
// each level, newest level first, and the output level.
type compactionPlan struct {
	// level is the input level that was due (for a manual compaction, the
	// shallowest level with files); outLevel receives the output.
	level, outLevel int
	// inputs[l] are the input files of level l, in the level's order (L0
	// newest first, L1+ by seq). Only levels level … outLevel are set.
	inputs [numLevels][]*fileMeta
	score  float64 // the score that made it due; 0 for manual
	manual bool    // a full manual compaction (Table.Compact)
	// move means the inputs are re-levelled without being rewritten: every
	// input is at level, they do not overlap each other or any outLevel
	// file, and they hold no tombstone (see pickCompaction).
	move bool
	// outputNums are the file numbers allocated for outputs, pending (see
	// Table.newOutputFileNum) until runCompaction returns.
	outputNums []uint64
	// schema is the schema whose indexed fields the outputs' index
	// sections cover (set when the outputs are written).
	schema *Schema
}

// inputFiles returns every input file, level by level.
func (p *compactionPlan) inputFiles() []*fileMeta {
	var all []*fileMeta
	for l := range p.inputs {
		all = append(all, p.inputs[l]...)
	}
	return all
}

// inputBytes returns the total size of the inputs.
func (p *compactionPlan) inputBytes() int64 {
	var n int64
	for _, f := range p.inputFiles() {
		n += int64(f.size)
	}
	return n
}

// seqRange returns the smallest and largest seq of the files.
func seqRange(files []*fileMeta) (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	for _, f := range files {
		lo, hi = min(lo, f.minSeq), max(hi, f.maxSeq)
	}
	return lo, hi
}

// pickCompaction returns the compaction of the level of v with the highest
// score ≥ 1 (ties go to the shallower level), or nil when no level is due.
// cursor[l] is the largest seq of the last file picked at level l (round
// robin through the files of L1+); pickCompaction advances it.
func pickCompaction(v *version, o *Options, cursor *[numLevels]int64) *compactionPlan {
	scores := levelScores(v, o)
	best := -1
	for l := 0; l < numLevels-1; l++ {
		if scores[l] >= 1 && (best < 0 || scores[l] > scores[best]) {
			best = l
		}
	}
	if best < 0 {
		return pickReclaimCompaction(v)
	}
	p := &compactionPlan{level: best, outLevel: best + 1, score: scores[best]}
	if best == 0 {
		p.inputs[0] = v.files(0)
	} else {
		files := v.files(best)
		i := 0
		for i < len(files) && files[i].minSeq <= cursor[best] {
			i++
		}
		if i == len(files) {
			i = 0 // wrap around
		}
		p.inputs[best] = files[i : i+1 : i+1]
		cursor[best] = files[i].maxSeq
	}
	lo, hi := seqRange(p.inputs[best])
	p.inputs[p.outLevel] = v.overlapping(p.outLevel, lo, hi)
	if len(p.inputs[p.outLevel]) == 0 && movable(v, p.inputs[best]) {
		p.move = true
		return p
	}
	p.inputs[p.outLevel] = withSmallNeighbour(v, p.outLevel, lo, p.inputs[p.outLevel], o.targetFileSize(p.outLevel))
	return p
}

// movable reports whether files can be re-levelled without a rewrite: none
// holds a tombstone or a row a range tombstone of v hides (a rewrite drops
// them) and no two overlap.
func movable(v *version, files []*fileMeta) bool {
	for i, f := range files {
		if f.numTombstones > 0 || v.reclaimable(f) > 0 {
			return false
		}
		for _, g := range files[:i] {
			if f.overlaps(g.minSeq, g.maxSeq) {
				return false
			}
		}
	}
	return true
}

// withSmallNeighbour returns the output-level inputs in extended by the
// file of level just before them (before seq lo when in is empty) when that
// file is under half the target size: appending workloads would otherwise
// leave a small tail file in the level after every compaction. The file is
// adjacent — no other file of the level lies between it and the inputs —
// so the outputs still cannot overlap a file that is not an input.
func withSmallNeighbour(v *version, level int, lo int64, in []*fileMeta, target int64) []*fileMeta {
	files := v.files(level)
	// i: index of the first input in files, or where the range would go.
	i := 0
	for i < len(files) && files[i].maxSeq < lo {
		i++
	}
	if len(in) > 0 {
		i = 0
		for i < len(files) && files[i] != in[0] {
			i++
		}
		if i == len(files) {
			return in // not a sub-slice of the level: leave it alone
		}
	}
	if i == 0 || int64(files[i-1].size) >= target/2 {
		return in
	}
	out := make([]*fileMeta, 0, len(in)+1)
	out = append(out, files[i-1])
	return append(out, in...)
}

// pickManualCompaction returns the full compaction of v: every file of
// every level into the deepest non-empty level (L1 when only L0 has
// files). It returns nil when there is nothing to do: no file, or a single
// tombstone-free file already in that level.
func pickManualCompaction(v *version) *compactionPlan {
	deepest := -1
	count := 0
	first := -1
	for l := 0; l < numLevels; l++ {
		if n := v.numFiles(l); n > 0 {
			deepest = l
			count += n
			if first < 0 {
				first = l
			}
		}
	}
	if deepest < 0 {
		return nil
	}
	out := max(deepest, 1)
	if only := v.files(out); count == 1 && deepest == out && only[0].numTombstones == 0 && v.reclaimable(only[0]) == 0 {
		return nil
	}
	p := &compactionPlan{level: first, outLevel: out, manual: true}
	for l := 0; l <= out; l++ {
		p.inputs[l] = v.files(l)
	}
	return p
}

// reclaimMinShare is the share of an SST's rows that range tombstones must
// hide (by estimate) for a compaction to rewrite it when no level is due.
// Below it the file waits for an ordinary compaction: a retention boundary
// file, a little more of which expires every RetentionInterval, is not
// rewritten again and again.
const reclaimMinShare = 0.5

// reclaimable estimates the share of f's rows the range tombstones of v
// hide: the share of f's seq range a tombstone covers, times, for a timed
// one, the share of f's time range before its cutoff (rows are nearly in
// time order). The largest over the tombstones; 0 when none can hide a row
// of f.
func (v *version) reclaimable(f *fileMeta) float64 {
	best := 0.0
	for _, t := range v.dels {
		if !t.mayHideIn(f) {
			continue
		}
		lo, hi := max(f.minSeq, t.seqLo), min(f.maxSeq, t.seqHi-1)
		share := float64(hi-lo+1) / float64(f.maxSeq-f.minSeq+1)
		if t.timed() && f.maxTime > f.minTime {
			share *= min(1, float64(t.timeBefore-f.minTime)/float64(f.maxTime-f.minTime))
		}
		best = max(best, share)
	}
	return best
}

// pickReclaimCompaction returns a compaction that rewrites the SST with the
// most bytes range tombstones hide, at least reclaimMinShare of it, or nil.
// An L0 file takes L0 with it (as an L0 compaction does: L0 files overlap
// and a newer one must not fall below an older one); an L1–L5 file goes
// down with the files it overlaps; an L6 file is rewritten in place.
func pickReclaimCompaction(v *version) *compactionPlan {
	bestLevel, bestBytes := -1, 0.0
	var best *fileMeta
	for l := range v.levels {
		for _, f := range v.levels[l] {
			share := v.reclaimable(f)
			if share < reclaimMinShare {
				continue
			}
			if b := share * float64(f.size); b > bestBytes {
				bestLevel, bestBytes, best = l, b, f
			}
		}
	}
	if best == nil {
		return nil
	}
	p := &compactionPlan{level: bestLevel, outLevel: min(bestLevel+1, numLevels-1)}
	switch {
	case bestLevel == 0:
		p.inputs[0] = v.files(0)
	default:
		p.inputs[bestLevel] = []*fileMeta{best}
	}
	if p.outLevel != bestLevel {
		lo, hi := seqRange(p.inputs[bestLevel])
		p.inputs[p.outLevel] = v.overlapping(p.outLevel, lo, hi)
	}
	return p
}
