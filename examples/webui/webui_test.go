package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srdb-go/srdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testMessages is the size of the demo database the tests use.
const testMessages = 3000

// loopbackHosts is the Host allow-list of a loopback-bound server.
func loopbackHosts() map[string]bool {
	return map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
}

// newTestServer opens a demo database in a temporary directory and returns
// a server over it; the database is closed when the test ends.
func newTestServer(t *testing.T, cfg serverConfig) (*server, *srdb.Database) {
	t.Helper()
	return newTestServerOpts(t, cfg, demoOptions())
}

// newTestServerOpts is newTestServer with the database options given.
func newTestServerOpts(t *testing.T, cfg serverConfig, opts *srdb.Options) (*server, *srdb.Database) {
	t.Helper()
	db, err := srdb.Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, fillDemo(context.Background(), db, testMessages))
	if cfg.hosts == nil {
		cfg.hosts = loopbackHosts()
	}
	cfg.memTableSize = demoOptions().MemTableSize
	return newServer(db, cfg), db
}

// call sends a request to h and returns the recorder.
func call(h http.Handler, method, target string, mod ...func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.Host = "127.0.0.1:8080"
	for _, m := range mod {
		m(req)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// getJSON GETs target, requires status and decodes the body into v.
func getJSON(t *testing.T, h http.Handler, target string, status int, v any) {
	t.Helper()
	w := call(h, http.MethodGet, target)
	require.Equal(t, status, w.Code, "GET %s: %s", target, w.Body.String())
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"), target)
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), v), w.Body.String())
}

// rowsURL builds a rows request.
func rowsURL(table string, params map[string]string) string {
	v := url.Values{}
	for k, p := range params {
		v.Set(k, p)
	}
	return "/api/tables/" + table + "/rows?" + v.Encode()
}

// column returns the cells of the named column.
func column(t *testing.T, res rowsResponse, name string) []*string {
	t.Helper()
	for i, c := range res.Columns {
		if c.Name == name {
			out := make([]*string, len(res.Rows))
			for j, r := range res.Rows {
				out[j] = r.Cells[i]
			}
			return out
		}
	}
	t.Fatalf("no column %q in %v", name, res.Columns)
	return nil
}

func TestAPITablesAndSchema(t *testing.T) {
	s, db := newTestServer(t, serverConfig{dir: "/data"})
	h := s.handler()

	var tables []tableSummary
	getJSON(t, h, "/api/tables", 200, &tables)
	require.Len(t, tables, 4)
	byName := map[string]tableSummary{}
	for _, tb := range tables {
		byName[tb.Name] = tb
	}
	assert.Equal(t, int64(testMessages), byName["messages"].Rows)
	assert.Equal(t, []string{"channel_id", "from_uid", "msg_id"}, byName["messages"].Indexes)
	assert.Equal(t, int64(demoChannels), byName["channels"].Rows)
	assert.Equal(t, []string{"uid"}, byName["users"].Unique, "the demo's users are unique by uid")
	assert.Empty(t, byName["messages"].Unique)
	assert.Greater(t, byName["messages"].DiskBytes+byName["messages"].MemBytes, int64(0))

	var info map[string]any
	getJSON(t, h, "/api/info", 200, &info)
	assert.Equal(t, "/data", info["dir"])
	assert.Len(t, info["operators"], 14)

	var tbl struct {
		Name   string      `json:"name"`
		Fields []fieldInfo `json:"fields"`
	}
	getJSON(t, h, "/api/tables/users", 200, &tbl)
	require.Equal(t, "users", tbl.Name)
	require.Len(t, tbl.Fields, 2+13)
	assert.Equal(t, fieldInfo{Name: "_seq", Type: "int64", Indexed: true, System: true, Comment: systemFields[0].Comment}, tbl.Fields[0])
	assert.Equal(t, fieldInfo{Name: "uid", Type: "string", Indexed: true, Comment: "user id", Unique: true}, tbl.Fields[2])
	assert.Equal(t, fieldInfo{Name: "balance", Type: "decimal", Comment: "account balance, exact"}, tbl.Fields[5])
	assert.Equal(t, fieldInfo{Name: "email", Type: "string", Nullable: true}, tbl.Fields[4])

	// Consumer groups with their lag: the demo's two on messages, none on users.
	var msgs struct {
		LastSeq   int64          `json:"last_seq"`
		Rows      int64          `json:"rows"`
		Consumers []consumerInfo `json:"consumers"`
	}
	getJSON(t, h, "/api/tables/messages", 200, &msgs)
	require.Len(t, msgs.Consumers, 2)
	assert.Equal(t, consumerInfo{Group: "push-notifier", Position: msgs.LastSeq, Lag: 0}, msgs.Consumers[0])
	assert.Equal(t, "search-indexer", msgs.Consumers[1].Group)
	assert.Equal(t, msgs.LastSeq/2, msgs.Consumers[1].Position)
	n, err := db.Table("messages")
	require.NoError(t, err)
	want, err := n.Query().Gt("_seq", msgs.LastSeq/2).Count()
	require.NoError(t, err)
	assert.Equal(t, int64(want), msgs.Consumers[1].Lag)
	assert.Positive(t, msgs.Consumers[1].Lag)
	var users struct {
		Consumers []consumerInfo `json:"consumers"`
	}
	getJSON(t, h, "/api/tables/users", 200, &users)
	assert.NotNil(t, users.Consumers)
	assert.Empty(t, users.Consumers)

	var e apiError
	getJSON(t, h, "/api/tables/nope", 404, &e)
	assert.Contains(t, e.Error, "nope")
	assert.Equal(t, srdb.CodeTableNotFound, e.Code)
	getJSON(t, h, "/api/tables/..%2Fx/rows", 400, &e) // a name, never a path: the engine refuses it
	assert.Equal(t, srdb.CodeInvalidName, e.Code)
	getJSON(t, h, "/api/nothing", 404, &e)
}

func TestAPIRowsPagingOrderSelect(t *testing.T) {
	s, _ := newTestServer(t, serverConfig{pageMax: 100})
	h := s.handler()

	var p1, p2, last rowsResponse
	getJSON(t, h, rowsURL("messages", map[string]string{"size": "40"}), 200, &p1)
	assert.Equal(t, testMessages, p1.Total)
	assert.Equal(t, (testMessages+39)/40, p1.Pages)
	require.Len(t, p1.Rows, 40)
	assert.Equal(t, "_seq", p1.Columns[0].Name)
	assert.Equal(t, "_time", p1.Columns[1].Name)
	assert.Len(t, p1.Columns, 2+7)
	for i, r := range p1.Rows {
		assert.Equal(t, int64(i+1), r.Seq)
		assert.Equal(t, fmt.Sprint(i+1), *r.Cells[0])
	}
	getJSON(t, h, rowsURL("messages", map[string]string{"size": "40", "page": "2"}), 200, &p2)
	assert.Equal(t, int64(41), p2.Rows[0].Seq)
	getJSON(t, h, rowsURL("messages", map[string]string{"size": "40", "page": fmt.Sprint(p1.Pages)}), 200, &last)
	assert.Len(t, last.Rows, testMessages-40*(p1.Pages-1))
	assert.Contains(t, p1.Plan, "access:")

	// Order by a field, descending; select two columns.
	var ord rowsResponse
	getJSON(t, h, rowsURL("messages", map[string]string{"order": "msg_id", "desc": "1", "select": "msg_id,channel_id", "size": "10"}), 200, &ord)
	assert.Equal(t, []string{"_seq", "_time", "channel_id", "msg_id"}, colNames(ord.Columns))
	var none rowsResponse
	getJSON(t, h, rowsURL("messages", map[string]string{"select": "", "size": "3"}), 200, &none)
	assert.Equal(t, []string{"_seq", "_time"}, colNames(none.Columns))
	for _, r := range none.Rows {
		require.Len(t, r.Cells, 2)
		assert.NotNil(t, r.Cells[0])
		assert.NotNil(t, r.Cells[1])
	}
	ids := column(t, ord, "msg_id")
	for i := 1; i < len(ids); i++ {
		assert.Greater(t, atoi(t, *ids[i-1]), atoi(t, *ids[i]))
	}

	// Limits and bad parameters are JSON errors with status 400.
	var e apiError
	getJSON(t, h, rowsURL("messages", map[string]string{"size": "101"}), 400, &e)
	assert.Contains(t, e.Error, "size")
	getJSON(t, h, rowsURL("messages", map[string]string{"page": "0"}), 400, &e)
	getJSON(t, h, rowsURL("messages", map[string]string{"page": fmt.Sprint(maxOffset/50 + 2)}), 400, &e)
	assert.Contains(t, e.Error, "filter")
	getJSON(t, h, rowsURL("messages", map[string]string{"page": "x"}), 400, &e)
	getJSON(t, h, rowsURL("messages", map[string]string{"select": "nope"}), 400, &e)
	getJSON(t, h, rowsURL("messages", map[string]string{"order": "nope"}), 400, &e)
	assert.Equal(t, srdb.CodeInvalidQuery, e.Code)
	getJSON(t, h, rowsURL("messages", map[string]string{"where": "{"}), 400, &e)
	getJSON(t, h, rowsURL("messages", map[string]string{"where": strings.Repeat(" ", maxWhereLen+1)}), 400, &e)
}

func colNames(cs []fieldInfo) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err, s)
	return n
}

func TestAPIRowsFilters(t *testing.T) {
	s, db := newTestServer(t, serverConfig{})
	h := s.handler()
	msgs, err := db.Table("messages")
	require.NoError(t, err)

	where := func(conds ...string) map[string]string {
		return map[string]string{"where": "[" + strings.Join(conds, ",") + "]", "size": "500"}
	}
	// Each filter's total must equal the engine's own count of the same query.
	cases := []struct {
		name  string
		where map[string]string
		q     *srdb.Query
		check func(res rowsResponse)
	}{
		{"eq indexed", where(`{"field":"channel_id","op":"eq","value":"room-007"}`), msgs.Query().Eq("channel_id", "room-007"),
			func(res rowsResponse) {
				for _, c := range column(t, res, "channel_id") {
					assert.Equal(t, "room-007", *c)
				}
			}},
		{"neq number typed as text", where(`{"field":"msg_type","op":"neq","value":"1"}`), msgs.Query().NotEq("msg_type", 1), nil},
		{"between", where(`{"field":"msg_id","op":"between","values":["1000100","1000199"]}`), msgs.Query().Between("msg_id", 1000100, 1000199), nil},
		{"lt and gte", where(`{"field":"_seq","op":"lt","value":"500"}`, `{"field":"_seq","op":"gte","value":100}`), msgs.Query().Lt("_seq", 500).Gte("_seq", 100), nil},
		{"in", where(`{"field":"from_uid","op":"in","values":["user-0001","user-0002","user-0003"]}`), msgs.Query().In("from_uid", "user-0001", "user-0002", "user-0003"), nil},
		{"notin", where(`{"field":"msg_type","op":"notin","values":["0","2"]}`), msgs.Query().NotIn("msg_type", 0, 2), nil},
		{"isnull", where(`{"field":"reply_to","op":"isnull"}`), msgs.Query().IsNull("reply_to"), func(res rowsResponse) {
			for _, c := range column(t, res, "reply_to") {
				assert.Nil(t, c)
			}
		}},
		{"notnull", where(`{"field":"reply_to","op":"notnull"}`), msgs.Query().NotNull("reply_to"), nil},
		{"startswith", where(`{"field":"from_uid","op":"startswith","value":"user-001"}`), msgs.Query().StartsWith("from_uid", "user-001"), nil},
		{"contains bytes", where(`{"field":"payload","op":"contains","value":"message 10001"}`), msgs.Query().Contains("payload", "message 10001"), nil},
		{"endswith", where(`{"field":"channel_id","op":"endswith","value":"7"}`), msgs.Query().EndsWith("channel_id", "7"), nil},
		{"time", where(`{"field":"_time","op":"gt","value":"2000-01-01T00:00:00Z"}`), msgs.Query().Gt("_time", "2000-01-01T00:00:00Z"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := c.q.Count()
			require.NoError(t, err)
			require.Positive(t, want, "the case must match something to be able to fail")
			var res rowsResponse
			getJSON(t, h, rowsURL("messages", c.where), 200, &res)
			assert.Equal(t, want, res.Total)
			assert.Len(t, res.Rows, min(want, 500))
			if c.check != nil {
				c.check(res)
			}
		})
	}

	// Typed conversions on the users table: Decimal, Bool, Duration.
	var res rowsResponse
	getJSON(t, h, rowsURL("users", where(`{"field":"active","op":"eq","value":"true"}`, `{"field":"balance","op":"gte","value":"50000.5"}`)), 200, &res)
	users, _ := db.Table("users")
	want, err := users.Query().Eq("active", true).Gte("balance", "50000.5").Count()
	require.NoError(t, err)
	assert.Equal(t, want, res.Total)

	var e apiError
	for _, bad := range []string{
		`{"field":"nope","op":"eq","value":"x"}`,
		`{"field":"msg_id","op":"eq","value":"abc"}`,
		`{"field":"msg_id","op":"between","values":["1"]}`,
		`{"field":"msg_id","op":"like","value":"1"}`,
		`{"field":"msg_id","op":"eq"}`,
		`{"field":"msg_id","op":"eq","value":null}`,
		`{"field":"msg_id","op":"contains","value":"1"}`,
		`{"field":"msg_id","op":"eq","value":"1","extra":1}`,
	} {
		getJSON(t, h, rowsURL("messages", where(bad)), 400, &e)
		assert.NotEmpty(t, e.Error, bad)
	}
}

func TestAPIRowDetail(t *testing.T) {
	s, db := newTestServer(t, serverConfig{})
	h := s.handler()
	users, err := db.Table("users")
	require.NoError(t, err)
	avatar := []byte{0, 1, 2, 0xfe, 0xff, '<', '>'}
	seq, err := users.Insert(map[string]any{
		"uid": "u-detail", "name": "Detail", "balance": "12345678901234567890.123456789", "active": true,
		"joined": time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.UTC), "idle": 90 * time.Second,
		"score": 0.1, "level": uint16(7), "initial": 'Ж',
		"profile": map[string]any{"a": 1, "b": []any{"x", "<y>"}}, "tags": []any{"t1"}, "avatar": avatar,
	})
	require.NoError(t, err)

	var d rowDetail
	getJSON(t, h, fmt.Sprintf("/api/tables/users/rows/%d", seq), 200, &d)
	assert.Equal(t, seq, d.Seq)
	got := map[string]fieldDetail{}
	for _, f := range d.Fields {
		got[f.Name] = f
	}
	assert.Equal(t, "12345678901234567890.123456789", got["balance"].Text) // exact
	assert.Equal(t, "2024-02-29T12:00:00.123456789Z", got["joined"].Text)
	assert.Equal(t, "1m30s", got["idle"].Text)
	assert.Equal(t, "0.1", got["score"].Text)
	assert.Equal(t, "Ж", string([]rune{rune(atoi(t, got["initial"].Text))}))
	assert.Equal(t, "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    \"<y>\"\n  ]\n}", got["profile"].Text)
	assert.Equal(t, "[\n  \"t1\"\n]", got["tags"].Text)
	assert.Equal(t, base64.StdEncoding.EncodeToString(avatar), got["avatar"].Base64)
	assert.Equal(t, "00000000  00 01 02 fe ff 3c 3e                              |.....<>|\n", got["avatar"].Hex)
	assert.Equal(t, len(avatar), got["avatar"].Length)
	assert.False(t, got["email"].Null == false && got["email"].Text != "")
	assert.True(t, got["email"].Null)

	var e apiError
	getJSON(t, h, "/api/tables/users/rows/999999999", 404, &e)
	assert.Equal(t, srdb.CodeNotFound, e.Code)
	getJSON(t, h, "/api/tables/users/rows/abc", 400, &e)
}

func TestCellText(t *testing.T) {
	long := strings.Repeat("é", maxCellText+10)
	assert.Equal(t, strings.Repeat("é", maxCellText)+"…", cutText(long, maxCellText))
	assert.Equal(t, "abc", cutText("abc", 2+1))
	assert.Equal(t, "0x00ff", cellText([]byte{0, 0xff}))
	assert.Equal(t, `{"a":[1,"<"]}`, cellText(map[string]any{"a": []any{1, "<"}}))
	assert.Equal(t, "1.5", cellText(float32(1.5)))
	assert.Equal(t, "true", cellText(true))
}

// TestHTMLInjectionIsText inserts a row whose text is an <img onerror>
// payload and checks that the API hands it back as the same characters
// with a JSON content type, and that the page's script only ever assigns
// data as text. The browser test (uitest) checks the rendered page.
func TestHTMLInjectionIsText(t *testing.T) {
	s, db := newTestServer(t, serverConfig{})
	h := s.handler()
	ch, err := db.Table("channels")
	require.NoError(t, err)
	evil := `<img src=x onerror="alert(document.cookie)"><script>alert(1)</script>`
	seq, err := ch.Insert(map[string]any{"channel_id": "room-evil", "title": evil, "topic": evil, "members": int32(1),
		"private": false, "created": time.Now()})
	require.NoError(t, err)

	w := call(h, http.MethodGet, rowsURL("channels", map[string]string{"where": `[{"field":"channel_id","op":"eq","value":"room-evil"}]`}))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	assert.NotContains(t, w.Body.String(), "<img", "JSON escapes < so even a sniffing client sees no markup")
	var res rowsResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res))
	require.Len(t, res.Rows, 1)
	assert.Equal(t, evil, *column(t, res, "title")[0])
	var d rowDetail
	getJSON(t, h, fmt.Sprintf("/api/tables/channels/rows/%d", seq), 200, &d)
	assert.Equal(t, evil, d.Fields[2].Text)

	// The script never turns strings into markup.
	js, err := fs.ReadFile(static, "static/app.js")
	require.NoError(t, err)
	code := regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAll(js, nil) // comments may name the APIs
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		assert.NotContains(t, string(code), sink)
	}
	html, err := fs.ReadFile(static, "static/index.html")
	require.NoError(t, err)
	assert.NotRegexp(t, `(?i)<script>|<style|\sstyle=|\son[a-z]+=|https?://`, string(html), "no inline script, style, handlers or remote assets")
}

func TestSecurityHeadersAndHosts(t *testing.T) {
	s, _ := newTestServer(t, serverConfig{})
	h := s.handler()
	for _, target := range []string{"/", "/static/app.js", "/static/app.css", "/api/tables", "/api/tables/nope", "/nope"} {
		w := call(h, http.MethodGet, target)
		assert.Equal(t, contentSecurityPolicy, w.Header().Get("Content-Security-Policy"), target)
		assert.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'self'")
		assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"), target)
		assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"), target)
	}
	w := call(h, http.MethodGet, "/")
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), `<script src="/static/app.js" defer></script>`)
	assert.Equal(t, 404, call(h, http.MethodGet, "/nope").Code)
	assert.Equal(t, 404, call(h, http.MethodGet, "/static/").Code, "no directory listing")
	assert.Equal(t, 404, call(h, http.MethodGet, "/static/main.go").Code, "only the embedded assets")
	assert.NotEqual(t, 200, call(h, http.MethodGet, "/static/../main.go").Code)

	for host, status := range map[string]int{
		"localhost:8080": 200, "127.0.0.1": 200, "[::1]:8080": 200, "LOCALHOST": 200,
		"evil.example:8080": http.StatusMisdirectedRequest, "127.0.0.1.evil.example": http.StatusMisdirectedRequest, "": http.StatusMisdirectedRequest,
	} {
		w := call(h, http.MethodGet, "/api/tables", func(r *http.Request) { r.Host = host })
		assert.Equal(t, status, w.Code, host)
	}

	w = call(h, http.MethodPost, "/api/tables")
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Contains(t, w.Body.String(), `"error"`)
	assert.Equal(t, 405, call(h, http.MethodDelete, "/api/tables/messages/rows/1").Code)
}

func TestTokenRequired(t *testing.T) {
	s, _ := newTestServer(t, serverConfig{token: "s3cret"})
	h := s.handler()
	assert.Equal(t, 401, call(h, http.MethodGet, "/api/tables").Code)
	assert.Equal(t, 401, call(h, http.MethodGet, "/").Code)
	assert.Equal(t, 401, call(h, http.MethodGet, "/?token=wrong").Code)
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	assert.Equal(t, 200, call(h, http.MethodGet, "/api/tables", bearer("s3cret")).Code)
	assert.Equal(t, 401, call(h, http.MethodGet, "/api/tables", bearer("s3cre")).Code)

	// ?token= sets an HttpOnly, SameSite=Strict cookie and drops itself from the URL.
	w := call(h, http.MethodGet, "/?token=s3cret&x=1")
	require.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/?x=1", w.Header().Get("Location"))
	cookies := w.Result().Cookies()
	require.Len(t, cookies, 1)
	assert.True(t, cookies[0].HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookies[0].SameSite)
	withCookie := func(r *http.Request) { r.AddCookie(cookies[0]) }
	assert.Equal(t, 200, call(h, http.MethodGet, "/api/tables", withCookie).Code)
	assert.Equal(t, 200, call(h, http.MethodGet, "/", withCookie).Code)
}

func TestQueryTimeout(t *testing.T) {
	s, _ := newTestServer(t, serverConfig{queryTimeout: time.Nanosecond})
	var e apiError
	getJSON(t, s.handler(), rowsURL("messages", nil), http.StatusServiceUnavailable, &e)
	assert.Equal(t, "query timed out", e.Error)

	// A query that is cancelled while it runs stops at its next row.
	s2, _ := newTestServer(t, serverConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	rowsSeen := 0
	err := s2.runQuery(ctx, func(ctx context.Context) error {
		for i := 0; i < 100; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			rowsSeen++
			if i == 4 {
				cancel()
			}
		}
		return nil
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.LessOrEqual(t, rowsSeen, 5)
}

func TestActivityAndLSM(t *testing.T) {
	opts := demoOptions()
	opts.DisableAutoCompaction = true // the tree changes only when the test says so
	s, db := newTestServerOpts(t, serverConfig{}, opts)
	h := s.handler()
	msgs, err := db.Table("messages")
	require.NoError(t, err)

	t0 := time.Now()
	s.act.sample(t0)
	w := newDemoWriter(db, rand.New(rand.NewSource(2)), testMessages)
	require.NoError(t, w.insertMessages(200, time.Now()))
	require.NoError(t, msgs.Flush())
	require.NoError(t, msgs.Compact())
	s.act.sample(t0.Add(time.Second))

	var snap activitySnapshot
	getJSON(t, h, "/api/activity", 200, &snap)
	var m *tableActivity
	for _, ta := range snap.Tables {
		if ta.Name == "messages" {
			m = ta
		}
	}
	require.NotNil(t, m)
	assert.Equal(t, float64(200), m.WriteRate) // 200 inserts in one second
	assert.Equal(t, int64(testMessages+200), m.Rows)
	assert.Equal(t, demoOptions().MemTableSize, m.MemLimit)
	kinds := map[string]bool{}
	for _, e := range snap.Events {
		if e.Table == "messages" {
			kinds[e.Kind] = true
		}
	}
	assert.True(t, kinds["flush"], "events: %v", snap.Events)
	assert.True(t, kinds["compaction-done"], "events: %v", snap.Events)

	var lsm struct {
		Rows          int64      `json:"rows"`
		Levels        []lsmLevel `json:"levels"`
		MemtableLimit int64      `json:"memtable_limit"`
		Compaction    struct {
			Count int64 `json:"count"`
		} `json:"compaction"`
	}
	getJSON(t, h, "/api/tables/messages/lsm", 200, &lsm)
	require.Len(t, lsm.Levels, 7)
	st := msgs.Stats()
	files := 0
	for i, l := range lsm.Levels {
		require.Len(t, l.Files, len(st.Levels[i].Files))
		files += len(l.Files)
		for j, f := range l.Files {
			sf := st.Levels[i].Files[j]
			assert.Equal(t, sf.Num, f.Num)
			assert.Equal(t, sf.MinSeq, f.MinSeq)
			assert.Equal(t, sf.MaxSeq, f.MaxSeq)
			assert.Equal(t, sf.Entries, f.Entries)
			assert.NotEmpty(t, f.MinTime)
		}
	}
	assert.Positive(t, files)
	assert.Positive(t, lsm.Compaction.Count)
	assert.Equal(t, demoOptions().MemTableSize, lsm.MemtableLimit)
}

// TestEventStream reads the first server-sent events of /api/events.
func TestEventStream(t *testing.T) {
	s, _ := newTestServer(t, serverConfig{})
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/events", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	br := bufio.NewReader(resp.Body)
	readEvent := func() activitySnapshot {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "event: activity\n", line)
		data, err := br.ReadString('\n')
		require.NoError(t, err)
		var snap activitySnapshot
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &snap))
		blank, err := br.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "\n", blank)
		return snap
	}
	first := readEvent()
	assert.Len(t, first.Tables, 4)
	s.act.sample(time.Now()) // the next sample is pushed to the stream
	second := readEvent()
	assert.NotEqual(t, first.Time, second.Time)
}

func TestParseArgsAndHosts(t *testing.T) {
	_, err := parseArgs(nil, io.Discard)
	assert.Error(t, err)
	_, err = parseArgs([]string{"serve"}, io.Discard)
	assert.ErrorContains(t, err, "--db")
	_, err = parseArgs([]string{"serve", "--db", "x", "extra"}, io.Discard)
	assert.Error(t, err)
	c, err := parseArgs([]string{"serve", "--db", "d", "--demo", "--demo-rows", "10"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", c.addr)
	assert.True(t, c.demo)
	assert.Equal(t, 10, c.demoRows)

	hosts := allowedHosts("127.0.0.1:0", mustTCPAddr(t, "127.0.0.1:4321"), "ui.example, Other.Example")
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "ui.example", "other.example"} {
		assert.True(t, hosts[h], h)
	}
	assert.False(t, hosts["evil.example"])
	wild := allowedHosts("0.0.0.0:0", mustTCPAddr(t, "0.0.0.0:4321"), "")
	assert.True(t, wild["127.0.0.1"] && wild["localhost"] && wild["0.0.0.0"])
	assert.False(t, wild["evil.example"])

	// A token is required off loopback: the flag's, or a random one.
	for ip, wantToken := range map[string]bool{"127.0.0.1": false, "::1": false, "0.0.0.0": true, "192.0.2.7": true, "::": true} {
		tok, err := tokenFor("", net.ParseIP(ip))
		require.NoError(t, err)
		assert.Equal(t, wantToken, len(tok) == 32, ip)
	}
	a, _ := tokenFor("", net.ParseIP("0.0.0.0"))
	b, _ := tokenFor("", net.ParseIP("0.0.0.0"))
	assert.NotEqual(t, a, b)
	tok, _ := tokenFor("mine", net.ParseIP("127.0.0.1"))
	assert.Equal(t, "mine", tok, "a --token applies on loopback too")
}

// syncBuffer is an io.Writer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunDemoServeAndStop runs the command itself: a small demo, a request
// through a real listener, and a clean stop.
func TestRunDemoServeAndStop(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--db", dir, "--demo", "--demo-rows", "2000", "--demo-rate", "100", "--addr", "127.0.0.1:0"},
			writerFunc(func(p []byte) (int, error) {
				out.Write(p)
				if m := regexp.MustCompile(`listening on (http://\S+)`).FindSubmatch(p); m != nil {
					ready <- string(m[1])
				}
				return len(p), nil
			}), io.Discard)
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v\n%s", err, out.String())
	}
	assert.NotContains(t, base, "token=", "loopback needs no token")
	resp, err := http.Get(base + "api/tables")
	require.NoError(t, err)
	var tables []tableSummary
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tables))
	resp.Body.Close()
	require.Len(t, tables, 4)
	assert.GreaterOrEqual(t, tables[2].Rows, int64(2000))
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, out.String(), "demo database ready")
}

// TestRunReadOnlyBesideWriter: --read-only serves a database a writer has
// open (it holds the LOCK) and shows the writer's new rows after the next
// refresh tick.
func TestRunReadOnlyBesideWriter(t *testing.T) {
	dir := t.TempDir()
	w, err := srdb.Open(dir, nil)
	require.NoError(t, err)
	defer w.Close()
	s, err := srdb.NewSchema("notes", []srdb.Field{{Name: "text", Type: srdb.String}})
	require.NoError(t, err)
	notes, err := w.CreateTable("notes", s)
	require.NoError(t, err)
	insert := func(n int) {
		for i := 0; i < n; i++ {
			_, err := notes.Insert(map[string]any{"text": fmt.Sprintf("note %d", i)})
			require.NoError(t, err)
		}
	}
	insert(5)
	_, err = parseArgs([]string{"serve", "--db", dir, "--read-only", "--demo"}, io.Discard)
	require.Error(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--db", dir, "--read-only", "--refresh", "20ms", "--addr", "127.0.0.1:0"},
			writerFunc(func(p []byte) (int, error) {
				if m := regexp.MustCompile(`listening on (http://\S+)`).FindSubmatch(p); m != nil {
					ready <- string(m[1])
				}
				return len(p), nil
			}), io.Discard)
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	rows := func() int64 {
		resp, err := http.Get(base + "api/tables")
		require.NoError(t, err)
		defer resp.Body.Close()
		var tables []tableSummary
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&tables))
		require.Len(t, tables, 1)
		return tables[0].Rows
	}
	require.Equal(t, int64(5), rows())
	insert(7)
	deadline := time.Now().Add(10 * time.Second)
	for rows() != 12 {
		require.True(t, time.Now().Before(deadline), "the writer's rows never appeared")
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
}

func mustTCPAddr(t *testing.T, s string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	require.NoError(t, err)
	return a
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// dirSnapshot returns every file and directory under dir with its bytes
// ("dir" for a directory).
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			snap[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		snap[rel] = string(b)
		return err
	}))
	return snap
}

// runDemoOnce runs "serve --demo" on dir until it listens (then stops it)
// or fails, and returns run's error. A run that neither listens nor fails
// within 60 s is stopped and reported.
func runDemoOnce(t *testing.T, dir string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	listening := false
	var mu sync.Mutex
	err := run(ctx, []string{"serve", "--db", dir, "--demo", "--demo-rows", "500", "--demo-rate", "0", "--addr", "127.0.0.1:0"},
		writerFunc(func(p []byte) (int, error) {
			if strings.Contains(string(p), "listening on") {
				mu.Lock()
				listening = true
				mu.Unlock()
				cancel()
			}
			return len(p), nil
		}), io.Discard)
	mu.Lock()
	defer mu.Unlock()
	if err == nil && !listening {
		t.Fatalf("run on %s neither listened nor failed within 60 s", dir)
	}
	return err
}

// TestDemoRefusesOtherDatabase: --demo on a directory that holds anything
// but an earlier demo database fails with a message naming the reason and
// leaves the directory byte-identical; on an earlier demo database it
// continues.
func TestDemoRefusesOtherDatabase(t *testing.T) {
	mkdb := func(t *testing.T, name string, fields []srdb.Field, row map[string]any) string {
		dir := t.TempDir()
		db, err := srdb.Open(dir, nil)
		require.NoError(t, err)
		s, err := srdb.NewSchema(name, fields)
		require.NoError(t, err)
		tb, err := db.CreateTable(name, s)
		require.NoError(t, err)
		_, err = tb.Insert([]map[string]any{row})
		require.NoError(t, err)
		require.NoError(t, db.Close())
		return dir
	}
	notes := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(notes, "notes.txt"), []byte("not a database\n"), 0o644))
	cases := []struct {
		name, dir, why string
	}{
		{"other table", mkdb(t, "orders", []srdb.Field{{Name: "sku", Type: srdb.String}}, map[string]any{"sku": "A-1"}),
			`holds table "orders", which is not a demo table`},
		{"demo name, other schema", mkdb(t, "users", []srdb.Field{{Name: "uid", Type: srdb.Int64}}, map[string]any{"uid": int64(7)}),
			`holds a table "users" that is not the demo's: 1 fields, the demo's has 13`},
		{"not a database", notes, "holds no SRDB database"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := dirSnapshot(t, c.dir)
			err := runDemoOnce(t, c.dir)
			require.Error(t, err, "--demo was not refused")
			assert.Contains(t, err.Error(), "--demo refused, nothing changed")
			assert.Contains(t, err.Error(), c.why)
			assert.Equal(t, before, dirSnapshot(t, c.dir), "the refused run changed the directory")
		})
	}

	// A new directory, then an earlier demo database: accepted.
	dir := filepath.Join(t.TempDir(), "demo")
	require.NoError(t, runDemoOnce(t, dir))
	require.NoError(t, runDemoOnce(t, dir), "a second --demo run on the demo database")
}
