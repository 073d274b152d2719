package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// The IM workload: chat messages spread over 1,000 channels.
const (
	numChannels  = 1000
	numUsers     = 100000
	payloadBytes = 200
	// logicalRowBytes is what one row is worth to its user: the values of
	// the five fields (12 + 11 + 8 + 1 + 200 = 232 B) plus the 8-byte seq
	// every engine must store to find the row again. Disk use is compared
	// against it.
	logicalRowBytes = 12 + 11 + 8 + 1 + payloadBytes + 8
	// scanMsgType is the msg_type the filtered scan looks for (1 row in 8).
	scanMsgType = 3
	numMsgTypes = 8
	msgIDBase   = 1_000_000_000
)

// msgRow is one row of the IM workload. The srdb tags make it SRDB's schema
// (StructToFields) and its Insert form; Pebble and bbolt store it through
// encodeMsg.
type msgRow struct {
	ChannelID string `srdb:"channel_id;indexed"`
	FromUID   string `srdb:"from_uid"`
	MsgID     int64  `srdb:"msg_id;indexed"`
	MsgType   uint8  `srdb:"msg_type"`
	Payload   []byte `srdb:"payload"`
}

// seqRow is a row with the seq its engine gave it.
type seqRow struct {
	seq int64
	row msgRow
}

// channelNames holds the 1,000 channel ids ("channel-0000" …), built once so
// the generator does not allocate them per row.
var channelNames = func() []string {
	names := make([]string, numChannels)
	for i := range names {
		names[i] = fmt.Sprintf("channel-%04d", i)
	}
	return names
}()

// mix64 is SplitMix64's finaliser: a cheap, well-spread hash of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// genRow fills r with row number i (0-based) of the workload for seed. The
// row depends only on (seed, i), so any goroutine can generate any row and a
// reader can regenerate a row to check it. r.Payload is reused when it has
// room; the caller must not keep it across calls.
func genRow(seed uint64, i int64, r *msgRow) {
	h := rowHash(seed, i)
	r.ChannelID = channelNames[h%numChannels]
	var ub [16]byte
	u := append(ub[:0], "user-"...)
	uid := (h >> 16) % numUsers
	for d := uint64(100000); d >= 1; d /= 10 { // six digits, zero-padded
		u = append(u, byte('0'+(uid/d)%10))
	}
	r.FromUID = string(u)
	r.MsgID = msgIDBase + i
	r.MsgType = msgTypeOfHash(h)
	src := rand.NewPCG(seed, uint64(i))
	if payloadText {
		r.Payload = chatText(r.Payload[:0], src)
		return
	}
	if cap(r.Payload) < payloadBytes {
		r.Payload = make([]byte, payloadBytes)
	}
	r.Payload = r.Payload[:payloadBytes]
	// Random bytes (the default): chat payloads are incompressible, so
	// compressing engines get no free ride.
	for off := 0; off+8 <= payloadBytes; off += 8 {
		binary.LittleEndian.PutUint64(r.Payload[off:], src.Uint64())
	}
}

// payloadText selects chat-like text payloads (-payload text) instead of
// random bytes. The parent sets it from the flag and every child from its
// task, before any row is generated.
var payloadText bool

// Text payloads: 20 + U[0, 360] bytes (mean payloadBytes, so the logical
// row size is the same as with random payloads) of words drawn from
// chatVocabulary with a Zipf distribution (s = 1.1: the first words are the
// most frequent, as in chat), separated by spaces, cut at the length.
const (
	textMinBytes = 20
	textSpan     = 2*(payloadBytes-textMinBytes) + 1 // U[0, 360]
	zipfS        = 1.1
)

// chatVocabulary is the fixed word list of text payloads, most frequent
// first.
var chatVocabulary = strings.Fields(`the i you to a and it is that of in for me
on this we my ok so have be just do not with are can what was at but your
it's no yes lol thanks get will all know like if he she they about up out one
there now when how time go see good think more today tomorrow meeting call
later send file link update team project channel message review deploy build
test release fix bug issue ticket please sorry sure great nice cool done
morning night lunch coffee home work office remote week weekend monday friday
again still really maybe also need want let's check look wait soon back
free busy happy love haha yeah right well new old first last next any some
every other than then them their our us him her his its from into over after
before because while where which who why would could should might must`)

// zipfCDF is the cumulative Zipf weight of chatVocabulary, normalised to 1.
var zipfCDF = func() []float64 {
	cdf := make([]float64, len(chatVocabulary))
	sum := 0.0
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), zipfS)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return cdf
}()

// chatText appends a text payload drawn from src to dst.
func chatText(dst []byte, src *rand.PCG) []byte {
	n := textMinBytes + int(src.Uint64()%textSpan)
	for len(dst) < n {
		if len(dst) > 0 {
			dst = append(dst, ' ')
		}
		u := float64(src.Uint64()>>11) / (1 << 53)
		dst = append(dst, chatVocabulary[sort.SearchFloat64s(zipfCDF, u)%len(chatVocabulary)]...)
	}
	return dst[:n]
}

// rowHash is the hash every generated value of row i derives from.
func rowHash(seed uint64, i int64) uint64 { return mix64(seed ^ mix64(uint64(i))) }

func msgTypeOfHash(h uint64) uint8 { return uint8((h >> 40) % numMsgTypes) }

// expectedMatches returns how many of rows 0..n-1 have msg_type t.
func expectedMatches(seed uint64, n int64, t uint8) int64 {
	var c int64
	for i := int64(0); i < n; i++ {
		if msgTypeOfHash(rowHash(seed, i)) == t {
			c++
		}
	}
	return c
}

// equalRows reports whether two rows hold the same values.
func equalRows(a, b *msgRow) bool {
	return a.ChannelID == b.ChannelID && a.FromUID == b.FromUID && a.MsgID == b.MsgID &&
		a.MsgType == b.MsgType && string(a.Payload) == string(b.Payload)
}

// Value encoding used for Pebble and bbolt, the compact form a careful user
// of a key-value store would write by hand:
//
//	+--------+---------+--------+-----+----------+----------+---------+
//	| chLen  | channel | uidLen | uid | msg_id   | msg_type | payload |
//	| 1 B    | chLen B | 1 B    |     | 8 B BE   | 1 B      | rest    |
//	+--------+---------+--------+-----+----------+----------+---------+
//
// Row key: rowKeyPrefix | seq (8 B big-endian), so keys sort by seq.
// Channel index key: chanKeyPrefix | chLen (1 B) | channel | seq (8 B BE),
// value empty, written in the same batch or transaction as the row.
const (
	rowKeyPrefix  = 'r'
	chanKeyPrefix = 'c'
	seqBytes      = 8
	lenBytes      = 1
	msgIDBytes    = 8
	msgTypeBytes  = 1
	maxStringLen  = 255
)

var errBadValue = errors.New("bench: malformed stored value")

// encodeMsg appends the value encoding of r to dst.
func encodeMsg(dst []byte, r *msgRow) ([]byte, error) {
	if len(r.ChannelID) > maxStringLen || len(r.FromUID) > maxStringLen {
		return nil, fmt.Errorf("bench: string longer than %d bytes", maxStringLen)
	}
	dst = append(dst, byte(len(r.ChannelID)))
	dst = append(dst, r.ChannelID...)
	dst = append(dst, byte(len(r.FromUID)))
	dst = append(dst, r.FromUID...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.MsgID))
	dst = append(dst, r.MsgType)
	return append(dst, r.Payload...), nil
}

// msgCursor reads the value encoding front to back; every read checks the
// remaining length first and records the first failure.
type msgCursor struct {
	b   []byte
	bad bool
}

func (c *msgCursor) take(n int) []byte {
	if c.bad || n > len(c.b) {
		c.bad = true
		return nil
	}
	p := c.b[:n]
	c.b = c.b[n:]
	return p
}

func (c *msgCursor) str() []byte {
	l := c.take(lenBytes)
	if l == nil {
		return nil
	}
	return c.take(int(l[0]))
}

// msgTypeOf decodes only msg_type, as a filtered scan needs.
func msgTypeOf(v []byte) (uint8, error) {
	c := msgCursor{b: v}
	c.str()
	c.str()
	c.take(msgIDBytes)
	t := c.take(msgTypeBytes)
	if c.bad {
		return 0, errBadValue
	}
	return t[0], nil
}

// decodeMsg decodes v into r, copying everything (v may alias store memory).
func decodeMsg(v []byte, r *msgRow) error {
	c := msgCursor{b: v}
	ch := c.str()
	uid := c.str()
	id := c.take(msgIDBytes)
	typ := c.take(msgTypeBytes)
	if c.bad {
		return errBadValue
	}
	r.ChannelID = string(ch)
	r.FromUID = string(uid)
	r.MsgID = int64(binary.BigEndian.Uint64(id))
	r.MsgType = typ[0]
	r.Payload = append(r.Payload[:0], c.b...)
	return nil
}

// rowKey appends the row key of seq to dst.
func rowKey(dst []byte, seq int64) []byte {
	dst = append(dst, rowKeyPrefix)
	return binary.BigEndian.AppendUint64(dst, uint64(seq))
}

// seqOfRowKey returns the seq of a row key (len 1+seqBytes, checked by the
// caller).
func seqOfRowKey(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[1:])) }

// chanPrefix appends the index key prefix of a channel to dst.
func chanPrefix(dst []byte, channel string) []byte {
	dst = append(dst, chanKeyPrefix, byte(len(channel)))
	return append(dst, channel...)
}

// chanKey appends the channel index key of (channel, seq) to dst.
func chanKey(dst []byte, channel string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(chanPrefix(dst, channel), uint64(seq))
}

// seqFromChanKey returns the seq at the end of a channel index key.
func seqFromChanKey(k []byte) (int64, error) {
	if len(k) < 1+lenBytes+seqBytes {
		return 0, errBadValue
	}
	return int64(binary.BigEndian.Uint64(k[len(k)-seqBytes:])), nil
}

// formatCount renders n with thousands separators (1,000,000).
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + formatCount(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
