package srdb

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// withHangGuard runs fn and fails the test when it has not returned within
// limit (a guard against a hang, not a timing assertion).
func withHangGuard(t *testing.T, what string, limit time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
	}
}

// TestQueryDecimalHugeExponentRefused: a decimal query argument whose
// exponent Insert would refuse (beyond ±decimal.MaxDecodeExponent) is
// refused as ErrInvalidQuery naming the field, before it is printed or
// converted — for every field type and operator. Before the bound, 2^24
// took seconds (printing the condition for Explain expands every digit)
// and 2^30 never returned.
func TestQueryDecimalHugeExponentRefused(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	s, err := NewSchema("d", []Field{
		{Name: "dec", Type: Decimal, Indexed: true},
		{Name: "plain", Type: Decimal},
		{Name: "n", Type: Int64},
		{Name: "x", Type: Float64},
		{Name: "s", Type: String},
	})
	require.NoError(t, err)
	tbl, err := db.CreateTable("d", s)
	require.NoError(t, err)
	_, err = tbl.Insert(map[string]any{"dec": decimal.New(15, -1), "plain": decimal.New(2, 0), "n": 1, "x": 1.5, "s": "a"})
	require.NoError(t, err)

	for _, exp := range []int32{1 << 24, 1 << 30, -(1 << 30)} {
		huge := decimal.New(1, exp)
		// Insert's bound: the reference the query must match.
		_, err := tbl.Insert(map[string]any{"dec": huge, "plain": decimal.New(2, 0), "n": 1, "x": 1.5, "s": "a"})
		require.ErrorIs(t, err, ErrSchemaViolation)
		for _, field := range []string{"dec", "plain", "n", "x", "s", "_seq"} {
			queries := map[string]*Query{
				"Eq":        tbl.Query().Eq(field, huge),
				"NotEq":     tbl.Query().NotEq(field, huge),
				"Gt":        tbl.Query().Gt(field, huge),
				"Between":   tbl.Query().Between(field, decimal.New(1, 0), huge),
				"In":        tbl.Query().In(field, 1, huge),
				"In slice":  tbl.Query().In(field, []decimal.Decimal{huge}),
				"Not(Eq)":   tbl.Query().Where(Not(Eq(field, huge))),
				"Or(Lt,Eq)": tbl.Query().Where(Or(Lt(field, huge), Eq(field, 1))),
			}
			for name, q := range queries {
				what := name + " " + field
				withHangGuard(t, what, 2*time.Second, func() {
					_, err := q.Count()
					require.ErrorIs(t, err, ErrInvalidQuery, what)
					require.Equal(t, field, err.(*Error).Field, what)
					require.Contains(t, err.Error(), "exponent", what)
					_, err = q.Explain()
					require.ErrorIs(t, err, ErrInvalidQuery, what)
				})
			}
		}
		// Printing the condition stays short too.
		withHangGuard(t, "Expr.String", 2*time.Second, func() {
			require.Less(t, len(Eq("dec", huge).String()), 64)
		})
	}
	// In range values still work.
	n, err := tbl.Query().Eq("dec", decimal.New(15, -1)).Count()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = tbl.Query().Lt("n", decimal.New(1, 3)).Count()
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// TestRowNotFoundNamesSeq: Get, GetPartial, Update and Delete of a missing
// row say which seq (and, when known, why), still matching ErrNotFound.
func TestRowNotFoundNamesSeq(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	s, err := NewSchema("r", []Field{{Name: "n", Type: Int64}})
	require.NoError(t, err)
	tbl, err := db.CreateTable("r", s)
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := tbl.Insert(map[string]any{"n": i})
		require.NoError(t, err)
	}
	require.NoError(t, tbl.Delete(2))
	check := func(what string, err error, want ...string) {
		t.Helper()
		require.ErrorIs(t, err, ErrNotFound, what)
		require.True(t, IsNotFound(err), what)
		require.Equal(t, "r", err.(*Error).Table, what)
		for _, w := range want {
			require.Contains(t, err.Error(), w, what)
		}
	}
	for _, flushed := range []bool{false, true} {
		_, err = tbl.Get(-1)
		check("Get(-1)", err, "_seq -1", "seqs start at 1")
		_, err = tbl.Get(0)
		check("Get(0)", err, "_seq 0")
		_, err = tbl.Get(999999)
		check("Get(999999)", err, "_seq 999999", "last seq assigned is 3")
		_, err = tbl.GetPartial(999999, "n")
		check("GetPartial(999999)", err, "_seq 999999")
		check("Update(999999)", tbl.Update(999999, map[string]any{"n": 1}), "_seq 999999")
		check("Delete(-5)", tbl.Delete(-5), "_seq -5")
		_, err = tbl.Get(2)
		check("Get(deleted)", err, "_seq 2", "deleted")
		check("Update(deleted)", tbl.Update(2, map[string]any{"n": 1}), "_seq 2", "deleted")
		check("Delete(deleted)", tbl.Delete(2), "_seq 2", "deleted")
		if !flushed {
			require.NoError(t, tbl.Flush()) // the same from an SST
		}
	}
}

// TestQueryExplainTimesAndBounds: Explain prints times in RFC 3339 with
// nanoseconds in UTC (never Go's monotonic clock reading "m=…"), a missing
// lower bound as -∞, and excluded ends with parentheses.
func TestQueryExplainTimesAndBounds(t *testing.T) {
	db := openTestDB(t, t.TempDir(), &Options{Durability: DurabilityNone})
	defer db.Close()
	s, err := NewSchema("m", []Field{
		{Name: "message_id", Type: Int64, Indexed: true},
		{Name: "x", Type: Float64, Indexed: true},
		{Name: "at", Type: Time, Indexed: true},
	})
	require.NoError(t, err)
	tbl, err := db.CreateTable("m", s)
	require.NoError(t, err)
	explain := func(q *Query) string {
		t.Helper()
		p, err := q.Explain()
		require.NoError(t, err)
		return p
	}
	require.Contains(t, explain(tbl.Query().Lt("message_id", 100)), "access: index message_id in [-∞, 99], ")
	require.Contains(t, explain(tbl.Query().Gt("message_id", 100)), "access: index message_id in [101, ∞], ")
	require.Contains(t, explain(tbl.Query().Gt("x", 0.5)), "access: index x in (0.5, ∞], ")
	require.Contains(t, explain(tbl.Query().Between("x", -1.5, 2)), "access: index x in [-1.5, 2], ")
	require.Contains(t, explain(tbl.Query().Lt("x", 0.5)), "access: index x in [-∞, 0.5), ")

	// time.Now carries a monotonic reading; at's zone is not UTC.
	zone := time.FixedZone("X", 2*3600)
	now := time.Now()
	require.Contains(t, now.String(), "m=", "time.Now should carry a monotonic reading")
	at := time.Date(2026, 12, 6, 13, 4, 5, 120, zone) // 11:04:05.000000120 UTC
	p := explain(tbl.Query().Lte("at", at).Gt("_time", now))
	require.NotContains(t, p, "m=")
	require.Contains(t, p, "access: index at in [-∞, 2026-12-06T11:04:05.000000120Z], ")
	require.Contains(t, p, "filter: at <= 2026-12-06T11:04:05.000000120Z AND _time > "+now.UTC().Format("2006-01-02T15:04:05.000000000Z")+"\n")
	p = explain(tbl.Query().Eq("at", now))
	require.NotContains(t, p, "m=")
	require.Contains(t, p, "access: index at = "+now.UTC().Format("2006-01-02T15:04:05.000000000Z")+" (1 key)")
}
