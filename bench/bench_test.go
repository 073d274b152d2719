package main

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary act as a bench child, as the bench binary
// does: the smoke test re-executes it.
func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(childEnv); ok {
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness on a few thousand rows for every engine
// and checks that every phase measured something and lost nothing.
func TestSmoke(t *testing.T) {
	args := []string{"-n", "3000", "-runs", "1", "-sync-n", "200", "-kill-n", "1500",
		"-gets", "500", "-queries", "200", "-batch", "50", "-dir", t.TempDir()}
	var progress bytes.Buffer
	c, err := parseFlags(args, &progress)
	require.NoError(t, err)
	results, err := collect(c, &progress)
	require.NoError(t, err, progress.String())

	for _, spec := range c.engines {
		runs := results[spec.name]
		require.Len(t, runs, 1, spec.name)
		r := runs[0]
		for name, res := range map[string]*childResult{"ingest-1": r.ingest1, "ingest-8": r.ingest8, "batch": r.batch, "sync-8": r.sync8} {
			assert.Greater(t, res.RowsPerSec, 0.0, "%s %s", spec.name, name)
		}
		assert.Greater(t, r.ingest1.PeakRSS, int64(1<<20), spec.name)
		assert.Greater(t, r.ingest1.DiskBytes, int64(c.rows*payloadBytes), spec.name)
		assert.Greater(t, r.read.GetP99, 0.0, spec.name)
		assert.GreaterOrEqual(t, r.read.GetP99, r.read.GetP50, spec.name)
		assert.Greater(t, r.kill.OpenSec, 0.0, spec.name)
		// Pebble NoSync buffers its WAL in the process, so a SIGKILL may lose
		// acknowledged rows; SRDB Interval and bbolt NoSync hand every write
		// to the kernel before acknowledging it.
		if spec.name != "pebble" {
			assert.Zero(t, r.kill.Lost, "%s lost acknowledged rows after SIGKILL", spec.name)
		}
		assert.LessOrEqual(t, r.kill.Lost, c.killN, spec.name)
		if spec.name == "srdb" && !srdbQueryAvailable {
			assert.True(t, r.read.Unsupported)
			assert.Zero(t, r.read.Last20P99)
			assert.Zero(t, r.read.ScanPerSec)
			continue
		}
		assert.False(t, r.read.Unsupported, spec.name)
		assert.Greater(t, r.read.Last20P99, 0.0, spec.name)
		assert.Greater(t, r.read.PageP99, 0.0, spec.name)
		assert.Greater(t, r.read.ScanPerSec, 0.0, spec.name)
	}

	report := renderReport(c, results)
	assert.Contains(t, report, "| metric | better | SRDB | Pebble | bbolt | SRDB/Pebble | SRDB/bbolt |")
	assert.Contains(t, report, "Performance floors")
	assert.Contains(t, report, "cd bench && go run . -n 3000")
	for _, m := range metrics(c) {
		assert.Contains(t, report, "| "+m.label+" |")
	}
}

func TestGenRowDeterministic(t *testing.T) {
	var a, b, c msgRow
	genRow(7, 42, &a)
	genRow(7, 42, &b)
	genRow(7, 43, &c)
	assert.True(t, equalRows(&a, &b))
	assert.False(t, equalRows(&a, &c))
	assert.Len(t, a.Payload, payloadBytes)
	assert.Equal(t, logicalRowBytes, len(a.ChannelID)+len(a.FromUID)+msgIDBytes+msgTypeBytes+len(a.Payload)+seqBytes)
	assert.Equal(t, 240, logicalRowBytes)
	assert.Less(t, a.MsgType, uint8(numMsgTypes))

	// Channels are spread over all 1,000 and msg_type over its 8 values.
	seen := map[string]bool{}
	types := map[uint8]int{}
	for i := int64(0); i < 20000; i++ {
		genRow(1, i, &a)
		seen[a.ChannelID] = true
		types[a.MsgType]++
	}
	assert.Len(t, seen, numChannels)
	assert.Len(t, types, numMsgTypes)
	assert.Equal(t, int64(types[scanMsgType]), expectedMatches(1, 20000, scanMsgType))
}

func TestEncodeDecodeMsg(t *testing.T) {
	var r, got msgRow
	genRow(1, 5, &r)
	v, err := encodeMsg(nil, &r)
	require.NoError(t, err)
	require.NoError(t, decodeMsg(v, &got))
	assert.True(t, equalRows(&r, &got))
	typ, err := msgTypeOf(v)
	require.NoError(t, err)
	assert.Equal(t, r.MsgType, typ)

	// Every truncation before the payload is an error, never a panic.
	fixed := lenBytes + len(r.ChannelID) + lenBytes + len(r.FromUID) + msgIDBytes + msgTypeBytes
	for n := 0; n < fixed; n++ {
		assert.ErrorIs(t, decodeMsg(v[:n], &got), errBadValue, "len %d", n)
		_, err := msgTypeOf(v[:n])
		assert.ErrorIs(t, err, errBadValue, "len %d", n)
	}

	long := r
	long.ChannelID = strings.Repeat("x", maxStringLen+1)
	_, err = encodeMsg(nil, &long)
	assert.Error(t, err)
}

func TestKeys(t *testing.T) {
	k := chanKey(nil, "channel-0001", 258)
	assert.True(t, bytes.HasPrefix(k, chanPrefix(nil, "channel-0001")))
	seq, err := seqFromChanKey(k)
	require.NoError(t, err)
	assert.Equal(t, int64(258), seq)
	_, err = seqFromChanKey(k[:3])
	assert.Error(t, err)
	// Big-endian seqs sort as numbers.
	assert.Negative(t, bytes.Compare(rowKey(nil, 255), rowKey(nil, 256)))
	assert.Negative(t, bytes.Compare(chanKey(nil, "a", 255), chanKey(nil, "a", 256)))
	assert.Equal(t, int64(256), seqOfRowKey(rowKey(nil, 256)))
}

// TestCheckQueryCatchesWrongAnswers makes sure the read phase's verification
// can fail: a wrong seq, a wrong channel, a short answer, a changed value.
func TestCheckQueryCatchesWrongAnswers(t *testing.T) {
	const seed, rows = 3, 50000
	bySeq := channelSeqs(seed, rows)
	ch := 17
	seqs := bySeq[ch]
	require.GreaterOrEqual(t, len(seqs), queryLen+5)
	good := func(before int64) []seqRow {
		end := len(seqs)
		if before > 0 {
			end = 0
			for end < len(seqs) && seqs[end] < before {
				end++
			}
		}
		var out []seqRow
		for i := end - 1; i >= 0 && len(out) < queryLen; i-- {
			var r msgRow
			genRow(seed, seqs[i]-1, &r)
			out = append(out, seqRow{seq: seqs[i], row: r})
		}
		return out
	}
	require.NoError(t, checkQuery(seed, ch, seqs, 0, good(0)))
	before := seqs[len(seqs)-3]
	require.NoError(t, checkQuery(seed, ch, seqs, before, good(before)))

	short := good(0)[:queryLen-1]
	assert.Error(t, checkQuery(seed, ch, seqs, 0, short))
	swapped := good(0)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	assert.Error(t, checkQuery(seed, ch, seqs, 0, swapped))
	wrongCh := good(0)
	wrongCh[3].row.ChannelID = channelNames[ch+1]
	assert.Error(t, checkQuery(seed, ch, seqs, 0, wrongCh))
	changed := good(0)
	changed[5].row.Payload = append([]byte(nil), changed[5].row.Payload...)
	changed[5].row.Payload[0] ^= 1
	assert.Error(t, checkQuery(seed, ch, seqs, 0, changed))
	assert.Error(t, checkQuery(seed, ch, seqs, 0, good(before)), "page-back answer given for last-20")
}

func TestStats(t *testing.T) {
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
	assert.Equal(t, 2.0, median([]float64{math.NaN(), 2}))
	assert.True(t, math.IsNaN(median([]float64{math.NaN()})))
	s := make([]float64, 100)
	for i := range s {
		s[i] = float64(i + 1)
	}
	assert.Equal(t, 50.0, percentile(s, 50))
	assert.Equal(t, 99.0, percentile(s, 99))
	assert.Equal(t, 100.0, percentile(s, 100))
	assert.Equal(t, "1,234,567", formatCount(1234567))
	assert.Equal(t, "999", formatCount(999))
	assert.Equal(t, "-1,000", formatCount(-1000))
	assert.Equal(t, "n/a", fmtRatio(1, math.NaN()))
	assert.Equal(t, "2.00×", fmtRatio(4, 2))
}

func TestParseFlags(t *testing.T) {
	var sink bytes.Buffer
	c, err := parseFlags([]string{"-engines", "bbolt,srdb", "-n", "100", "-kill-n", "500000"}, &sink)
	require.NoError(t, err)
	require.Len(t, c.engines, 2)
	assert.Equal(t, "srdb", c.engines[0].name, "report order, not flag order")
	assert.Equal(t, int64(100), c.killN, "capped at -n")
	assert.Equal(t, int64(100), c.syncN)

	_, err = parseFlags([]string{"-engines", "rocksdb"}, &sink)
	assert.ErrorContains(t, err, "unknown engine")
	_, err = parseFlags([]string{"-n", "0"}, &sink)
	assert.Error(t, err)
	_, err = parseFlags([]string{"extra"}, &sink)
	assert.Error(t, err)
}

// TestTextPayload: -payload text gives deterministic chat-like payloads of
// 20–380 bytes with a mean near payloadBytes, made of vocabulary words,
// the first words the most frequent.
func TestTextPayload(t *testing.T) {
	payloadText = true
	defer func() { payloadText = false }()
	var a, b msgRow
	genRow(7, 42, &a)
	genRow(7, 42, &b)
	assert.True(t, equalRows(&a, &b))
	vocab := map[string]int{}
	for i, w := range chatVocabulary {
		vocab[w] = i
	}
	var total, first, late int
	const n = 5000
	for i := int64(0); i < n; i++ {
		genRow(1, i, &a)
		require.GreaterOrEqual(t, len(a.Payload), textMinBytes)
		require.LessOrEqual(t, len(a.Payload), textMinBytes+textSpan-1)
		total += len(a.Payload)
		words := strings.Fields(string(a.Payload))
		for _, w := range words[:len(words)-1] { // the last one may be cut
			k, ok := vocab[w]
			require.True(t, ok, "%q is not a vocabulary word", w)
			if k == 0 {
				first++
			} else if k == len(chatVocabulary)-1 {
				late++
			}
		}
	}
	assert.InDelta(t, payloadBytes, float64(total)/n, 10)
	assert.Greater(t, first, 20*late, "Zipf: the first word is far more frequent than the last")

	_, err := parseFlags([]string{"-payload", "binary"}, &bytes.Buffer{})
	assert.ErrorContains(t, err, "-payload")
	c, err := parseFlags([]string{"-payload", "text", "-engines", "srdb-fast,pebble-zstd"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, c.text)
	assert.Equal(t, []string{"srdb-fast", "pebble-zstd"}, []string{c.engines[0].name, c.engines[1].name})
}
