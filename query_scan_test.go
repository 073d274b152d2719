package srdb

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queryScanMsg is the IM table's row as a struct, with the system fields.
type queryScanMsg struct {
	Seq       int64     `srdb:"_seq"`
	Time      time.Time `srdb:"_time"`
	ChannelID string    `srdb:"channel_id"`
	FromUID   string
	MsgID     int64
	MsgType   uint8
	Payload   *[]byte // nullable
}

func TestQueryScanStructs(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	tbl := createIMTable(t, db)
	when := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	_, err := tbl.Insert([]map[string]any{
		{"channel_id": "a", "from_uid": "u1", "msg_id": int64(10), "msg_type": uint8(1), "payload": []byte("hi"), "_time": when},
		{"channel_id": "a", "from_uid": "u2", "msg_id": int64(20), "msg_type": uint8(2)},
		{"channel_id": "b", "from_uid": "u1", "msg_id": int64(30), "msg_type": uint8(3), "payload": []byte("yo")},
	})
	require.NoError(t, err)

	var msgs []queryScanMsg
	require.NoError(t, tbl.Query().Eq("channel_id", "a").Scan(&msgs))
	require.Len(t, msgs, 2)
	assert.EqualValues(t, 1, msgs[0].Seq)
	assert.True(t, msgs[0].Time.Equal(when))
	assert.Equal(t, "u1", msgs[0].FromUID)
	assert.EqualValues(t, 10, msgs[0].MsgID)
	require.NotNil(t, msgs[0].Payload)
	assert.Equal(t, []byte("hi"), *msgs[0].Payload)
	assert.Nil(t, msgs[1].Payload, "NULL into a pointer is nil")

	// The slice is replaced, not appended to.
	require.NoError(t, tbl.Query().Eq("channel_id", "b").Scan(&msgs))
	require.Len(t, msgs, 1)
	assert.EqualValues(t, 3, msgs[0].Seq)

	var ptrs []*queryScanMsg
	require.NoError(t, tbl.Query().OrderByDesc("_seq").Scan(&ptrs))
	require.Len(t, ptrs, 3)
	assert.EqualValues(t, 30, ptrs[0].MsgID)

	var maps []map[string]any
	require.NoError(t, tbl.Query().Select("msg_id").Scan(&maps))
	require.Len(t, maps, 3)
	assert.True(t, maps[0]["_time"].(time.Time).Equal(when))
	delete(maps[0], "_time")
	assert.Equal(t, map[string]any{"_seq": int64(1), "msg_id": int64(10)}, maps[0])

	var one queryScanMsg
	require.NoError(t, tbl.Query().Eq("from_uid", "u2").Scan(&one))
	assert.EqualValues(t, 2, one.Seq)
	var m map[string]any
	require.NoError(t, tbl.Query().Eq("msg_id", 30).Scan(&m))
	assert.Equal(t, "b", m["channel_id"])
	err = tbl.Query().Eq("msg_id", 99).Scan(&one)
	assert.True(t, IsNotFound(err))

	// Select leaves the other struct fields alone.
	partial := queryScanMsg{FromUID: "keep"}
	require.NoError(t, tbl.Query().Select("msg_id").Eq("_seq", 3).Scan(&partial))
	assert.EqualValues(t, 30, partial.MsgID)
	assert.Equal(t, "keep", partial.FromUID)
	assert.EqualValues(t, 3, partial.Seq)

	// Row.Scan with other Go types of compatible kinds.
	type wide struct {
		Seq       uint32  `srdb:"_seq"`
		TimeNS    int64   `srdb:"_time"`
		ChannelID []byte  `srdb:"channel_id"`
		FromUID   any     `srdb:"from_uid"`
		MsgID     float64 `srdb:"msg_id"`
		MsgType   int16   `srdb:"msg_type"`
		Payload   string  `srdb:"payload"`
	}
	row, err := tbl.Get(1)
	require.NoError(t, err)
	var w wide
	require.NoError(t, row.Scan(&w))
	assert.Equal(t, wide{Seq: 1, TimeNS: when.UnixNano(), ChannelID: []byte("a"), FromUID: "u1", MsgID: 10, MsgType: 1, Payload: "hi"}, w)
	var pw *wide
	require.NoError(t, row.Scan(&pw), "a **T is allocated")
	assert.Equal(t, w, *pw)
	row2, err := tbl.Get(2)
	require.NoError(t, err)
	w.Payload = "stale"
	require.NoError(t, row2.Scan(&w))
	assert.Equal(t, "", w.Payload, "NULL into a non-pointer is the zero value")
}

func TestQueryScanErrors(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	tbl := createIMTable(t, db)
	_, err := tbl.Insert(map[string]any{"channel_id": "a", "from_uid": "u", "msg_id": int64(1000), "msg_type": uint8(200)})
	require.NoError(t, err)
	row, err := tbl.Get(1)
	require.NoError(t, err)

	isArg := func(err error) bool { return errors.Is(err, ErrInvalidArgument) }
	type unknown struct {
		ChannelID string
		Extra     int
	}
	type badType struct {
		MsgID string `srdb:"msg_id"`
	}
	type tooSmall struct {
		MsgID int8 `srdb:"msg_id"`
	}
	type unsignedNeg struct {
		MsgType int8 `srdb:"msg_type"` // 200 does not fit
	}
	type badSeq struct {
		Seq string `srdb:"_seq"`
	}
	type skip struct {
		ChannelID string
		Extra     int `srdb:"-"`
	}
	// A Go field the table does not have is left as it is (sqlx
	// semantics), not an error.
	u := unknown{Extra: 7}
	require.NoError(t, row.Scan(&u))
	assert.Equal(t, unknown{ChannelID: "a", Extra: 7}, u)
	assert.True(t, isArg(row.Scan(&badType{})))
	assert.True(t, isArg(row.Scan(&tooSmall{})))
	assert.True(t, isArg(row.Scan(&unsignedNeg{})))
	assert.True(t, isArg(row.Scan(&badSeq{})))
	assert.NoError(t, row.Scan(&skip{}))
	assert.True(t, isArg(row.Scan(nil)))
	assert.True(t, isArg(row.Scan(skip{})), "not a pointer")
	assert.True(t, isArg(row.Scan((*skip)(nil))))
	var n int
	assert.True(t, isArg(row.Scan(&n)))
	var nilRow *Row
	assert.True(t, isArg(nilRow.Scan(&skip{})))

	// Query.Scan checks the destination before reading rows.
	for _, dest := range []any{nil, []skip{}, &n, &[]int{}, &map[string]int{}} {
		q := tbl.Query()
		st := &queryStats{}
		q.stats = st
		assert.Error(t, q.Scan(dest), "%T", dest)
		assert.Equal(t, queryStats{}, *st, "%T", dest)
	}
}

func TestQueryScanAllTypes(t *testing.T) {
	tbl := openTypesTable(t)
	type all struct {
		Seq  int64           `srdb:"_seq"`
		I8   int8            `srdb:"i8"`
		I64  int64           `srdb:"i64"`
		U64  uint64          `srdb:"u64"`
		F32  float32         `srdb:"f32"`
		F64  float64         `srdb:"f64"`
		Dec  decimal.Decimal `srdb:"dec"`
		Tm   time.Time       `srdb:"tm"`
		Dur  time.Duration   `srdb:"dur"`
		Flag bool            `srdb:"flag"`
		R    rune            `srdb:"r"`
		Name *string         `srdb:"name"`
		Blob []byte          `srdb:"blob"`
		Obj  struct {
			K int `json:"k"`
		} `srdb:"obj"`
		Arr json.RawMessage `srdb:"arr"`
	}
	var rows []all
	require.NoError(t, tbl.Query().Scan(&rows))
	require.Len(t, rows, 4)
	r := rows[0]
	assert.EqualValues(t, -5, r.I8)
	assert.Equal(t, float32(0.1), r.F32)
	assert.True(t, r.Dec.Equal(decimal.RequireFromString("1.5")))
	assert.Equal(t, time.Second, r.Dur)
	assert.Equal(t, 'a', r.R)
	require.NotNil(t, r.Name)
	assert.Equal(t, "alpha", *r.Name)
	assert.Equal(t, 1, r.Obj.K)
	assert.JSONEq(t, "[1,2]", string(r.Arr))
	assert.Nil(t, rows[1].Name)
	assert.Nil(t, rows[1].Arr)
	assert.Equal(t, uint64(1<<63), rows[3].U64)

	type asString struct {
		Dec string `srdb:"dec"`
	}
	var s asString
	first, err := tbl.Get(1)
	require.NoError(t, err)
	require.NoError(t, first.Scan(&s))
	assert.Equal(t, "1.5", s.Dec)

	// Row values are not aliased by scanned byte slices.
	var a all
	require.NoError(t, first.Scan(&a))
	a.Blob[0] = 'X'
	v, _ := first.Get("blob")
	assert.Equal(t, []byte("abc"), v)
}
