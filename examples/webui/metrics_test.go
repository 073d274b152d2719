package main

import (
	"bufio"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/srdb-go/srdb"
	"github.com/stretchr/testify/require"
)

// Lines of the text exposition format as writeMetrics produces them.
var (
	promName   = `[a-zA-Z_:][a-zA-Z0-9_:]*`
	promHelp   = regexp.MustCompile(`^# HELP (` + promName + `) ((?:[^\\\n]|\\\\|\\n)*)$`)
	promType   = regexp.MustCompile(`^# TYPE (` + promName + `) (counter|gauge)$`)
	promSample = regexp.MustCompile(`^(` + promName + `)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*",?)*)\})? (\S+)$`)
)

// parsedMetrics is a strictly checked exposition: family name → type, and
// series (name plus labels as written) → value.
type parsedMetrics struct {
	types  map[string]string
	values map[string]float64
}

// parseMetrics checks every line of body: HELP then TYPE before a family's
// samples, each family once, its samples together, counters named _total
// and never negative, no duplicate series, values that parse as floats.
func parseMetrics(t *testing.T, body string) parsedMetrics {
	t.Helper()
	p := parsedMetrics{types: map[string]string{}, values: map[string]float64{}}
	require.True(t, strings.HasSuffix(body, "\n"), "ends with a line feed")
	helped, current := "", ""
	sc := bufio.NewScanner(strings.NewReader(body))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := promHelp.FindStringSubmatch(line); m != nil {
			_, seen := p.types[m[1]]
			require.False(t, seen, "line %d: family %s again", n, m[1])
			helped, current = m[1], ""
			continue
		}
		if m := promType.FindStringSubmatch(line); m != nil {
			require.Equal(t, helped, m[1], "line %d: TYPE right after its HELP", n)
			p.types[m[1]] = m[2]
			require.Equal(t, m[2] == "counter", strings.HasSuffix(m[1], "_total"), "line %d: only counters end in _total", n)
			current = m[1]
			continue
		}
		m := promSample.FindStringSubmatch(line)
		require.NotNil(t, m, "line %d is not HELP, TYPE or a sample: %q", n, line)
		require.Equal(t, current, m[1], "line %d: sample outside its family", n)
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(t, err, "line %d", n)
		if p.types[current] == "counter" {
			require.GreaterOrEqual(t, v, 0.0, "line %d", n)
		}
		series := m[1] + "{" + m[2] + "}"
		_, dup := p.values[series]
		require.False(t, dup, "line %d: series %s twice", n, series)
		p.values[series] = v
	}
	require.NoError(t, sc.Err())
	return p
}

func TestMetricsEndpoint(t *testing.T) {
	s, db := newTestServer(t, serverConfig{metrics: true})
	h := s.handler()
	tbl, err := db.Table("messages")
	require.NoError(t, err)
	_, err = tbl.Get(1)
	require.NoError(t, err)

	w := call(h, http.MethodGet, "/metrics")
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Equal(t, metricsContentType, w.Header().Get("Content-Type"))
	require.Equal(t, contentSecurityPolicy, w.Header().Get("Content-Security-Policy"))
	p := parseMetrics(t, w.Body.String())

	m := db.Metrics()
	require.Equal(t, float64(len(m.Tables)), p.values["srdb_tables{}"])
	require.Len(t, p.types, 2+len(promFamilies)+2, "every family once")
	for _, tm := range m.Tables {
		for _, f := range promFamilies {
			_, ok := p.values[`srdb_table_`+f.name+`{table="`+tm.Name+`"}`]
			require.True(t, ok, "%s of %s", f.name, tm.Name)
		}
		for l := 0; l < len(tm.Levels); l++ {
			_, ok := p.values[`srdb_table_level_bytes{table="`+tm.Name+`",level="`+strconv.Itoa(l)+`"}`]
			require.True(t, ok, "level %d of %s", l, tm.Name)
		}
	}
	msgs := `{table="messages"}`
	require.GreaterOrEqual(t, p.values["srdb_table_inserted_rows_total"+msgs], float64(testMessages))
	require.GreaterOrEqual(t, p.values["srdb_table_gets_total"+msgs], 1.0)
	require.Positive(t, p.values["srdb_table_disk_bytes"+msgs])
	require.Equal(t, "counter", p.types["srdb_table_wal_sync_seconds_total"])
	require.Equal(t, "gauge", p.types["srdb_table_level_files"])

	require.Equal(t, 200, call(h, http.MethodHead, "/metrics").Code)
	require.Equal(t, 405, call(h, http.MethodPost, "/metrics").Code)
	require.Equal(t, http.StatusMisdirectedRequest,
		call(h, http.MethodGet, "/metrics", func(r *http.Request) { r.Host = "evil.example" }).Code)

	off, _ := newTestServer(t, serverConfig{})
	require.Equal(t, 404, call(off.handler(), http.MethodGet, "/metrics").Code, "only with --metrics")
}

func TestMetricsEndpointToken(t *testing.T) {
	s, _ := newTestServer(t, serverConfig{metrics: true, token: "s3cret"})
	h := s.handler()
	require.Equal(t, 401, call(h, http.MethodGet, "/metrics").Code)
	w := call(h, http.MethodGet, "/metrics", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") })
	require.Equal(t, 200, w.Code)
	parseMetrics(t, w.Body.String())
}

func TestWriteMetricsEscapesAndFormats(t *testing.T) {
	m := srdb.Metrics{Tables: []srdb.TableMetrics{{
		Name: "a\"b\\c\nd", Rows: 1 << 60, Levels: []srdb.LevelMetrics{{Level: 0, Files: 2}},
	}}, BrokenTables: 1}
	var sb strings.Builder
	bw := bufio.NewWriter(&sb)
	writeMetrics(bw, m)
	require.NoError(t, bw.Flush())
	p := parseMetrics(t, sb.String())
	require.Equal(t, 1.0, p.values["srdb_broken_tables{}"])
	require.Equal(t, float64(1<<60), p.values[`srdb_table_rows{table="a\"b\\c\nd"}`])
	require.Equal(t, 2.0, p.values[`srdb_table_level_files{table="a\"b\\c\nd",level="0"}`])
	require.Equal(t, "1.5", formatSample(1.5))
	require.Equal(t, "42", formatSample(42))
	require.Equal(t, `x\\y\nz`, escapeHelp("x\\y\nz"))
}
