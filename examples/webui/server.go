package main

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/srdb-go/srdb"
)

// static holds the page, its script and its style sheet: hand-written, no
// third-party code, nothing loaded from elsewhere.
//
//go:embed static
var static embed.FS

// Limits of the server. Each is a flag or a constant here.
const (
	defaultPageMax      = 500              // largest page size of the row browser (--page-max)
	defaultPageSize     = 50               // page size when the request names none
	defaultQueryTimeout = 10 * time.Second // time limit of one query (--query-timeout)
	maxConcurrentQuery  = 4                // queries running at once; more wait (within their timeout)
	maxEventStreams     = 32               // concurrent /api/events clients
	eventStreamLifetime = 10 * time.Minute // an event stream ends after this; EventSource reconnects
	sampleInterval      = 500 * time.Millisecond
	maxCellText         = 256     // characters of a value shown in a grid cell
	maxDetailBytes      = 1 << 20 // bytes of a value shown in the row-detail panel
	maxWhereLen         = 16 << 10
	maxConditions       = 32
	maxInValues         = 1000
	maxOffset           = 1_000_000 // rows a page may skip: deeper pages need a filter (an ordered query sorts offset+size rows)
	tokenCookie         = "srdb_token"
)

// serverConfig is what newServer needs besides the database.
type serverConfig struct {
	token        string          // required on every request when not ""
	hosts        map[string]bool // accepted Host header names (lower case, no port)
	memTableSize int64           // the memtable flush threshold the database was opened with
	pageMax      int             // largest page size
	queryTimeout time.Duration   // time limit of one query
	dir          string          // database directory, shown in the page header
	metrics      bool            // serve /metrics (Prometheus text format, metrics.go)
}

// server serves the UI and its JSON API over one open database.
type server struct {
	db      *srdb.Database
	cfg     serverConfig
	act     *activity
	queries chan struct{} // semaphore: queries running now
	streams atomic.Int32  // open /api/events streams

	// readsMu guards reads: rows the UI's own queries returned, per table,
	// counted into the read rate.
	readsMu sync.Mutex
	reads   map[string]*atomic.Int64
}

// newServer returns a server for db. Call s.act.run to keep the live
// activity fresh.
func newServer(db *srdb.Database, cfg serverConfig) *server {
	if cfg.pageMax <= 0 {
		cfg.pageMax = defaultPageMax
	}
	if cfg.queryTimeout <= 0 {
		cfg.queryTimeout = defaultQueryTimeout
	}
	if cfg.memTableSize <= 0 {
		cfg.memTableSize = srdb.DefaultMemTableSize
	}
	s := &server{
		db:      db,
		cfg:     cfg,
		queries: make(chan struct{}, maxConcurrentQuery),
		reads:   map[string]*atomic.Int64{},
	}
	s.act = newActivity(db, cfg.memTableSize, s.uiReads)
	return s
}

// readCounter returns the counter of rows the UI read from table.
func (s *server) readCounter(table string) *atomic.Int64 {
	s.readsMu.Lock()
	defer s.readsMu.Unlock()
	c := s.reads[table]
	if c == nil {
		c = new(atomic.Int64)
		s.reads[table] = c
	}
	return c
}

// uiReads returns the rows the UI read from table so far.
func (s *server) uiReads(table string) int64 { return s.readCounter(table).Load() }

// newHTTPServer wraps h in an http.Server with timeouts. Request contexts
// derive from base, so cancelling base ends the event streams.
func newHTTPServer(h http.Handler, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      defaultQueryTimeout + 20*time.Second, // event streams extend their own deadline
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// handler returns the whole HTTP handler: routes behind the security
// middleware.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	mux.Handle("/static/", get(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			writeError(w, http.StatusNotFound, "not found: "+r.URL.Path, 0)
			return
		}
		http.StripPrefix("/static/", files).ServeHTTP(w, r)
	}))
	mux.HandleFunc("/{$}", get(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	}))
	mux.HandleFunc("/api/info", get(s.handleInfo))
	mux.HandleFunc("/api/tables", get(s.handleTables))
	mux.HandleFunc("/api/tables/{table}", get(s.handleTable))
	mux.HandleFunc("/api/tables/{table}/rows", get(s.handleRows))
	mux.HandleFunc("/api/tables/{table}/rows/{seq}", get(s.handleRow))
	mux.HandleFunc("/api/tables/{table}/lsm", get(s.handleLSM))
	mux.HandleFunc("/api/activity", get(s.handleActivity))
	mux.HandleFunc("/api/events", get(s.handleEvents))
	if s.cfg.metrics {
		mux.HandleFunc("/metrics", get(s.handleMetrics))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.URL.Path, 0)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: "+r.URL.Path, 0)
	})
	return s.secure(mux)
}

// get lets GET and HEAD through and answers anything else with 405.
func get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", 0)
			return
		}
		h(w, r)
	}
}

// contentSecurityPolicy allows only this origin's script, style, images and
// connections, and no framing, plugins or base-URL changes.
const contentSecurityPolicy = "default-src 'self'; base-uri 'none'; object-src 'none'; " +
	"frame-ancestors 'none'; form-action 'self'"

// secure adds the security headers to every response, rejects Host headers
// not on the allow-list (DNS rebinding) and, when a token is configured,
// requests without it. A ?token= query parameter that matches is moved into
// an HttpOnly SameSite=Strict cookie and the browser is redirected to the
// URL without it.
func (s *server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.hostAllowed(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "host "+r.Host+" is not served here", 0)
			return
		}
		if s.cfg.token != "" {
			if q := r.URL.Query().Get("token"); q != "" && tokenEqual(q, s.cfg.token) && r.Method == http.MethodGet {
				http.SetCookie(w, &http.Cookie{
					Name: tokenCookie, Value: s.cfg.token, Path: "/",
					HttpOnly: true, SameSite: http.SameSiteStrictMode,
				})
				u := *r.URL
				v := u.Query()
				v.Del("token")
				u.RawQuery = v.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			if !s.tokenOK(r) {
				writeError(w, http.StatusUnauthorized, "a token is required: open the URL printed at start", 0)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether the Host header names this server.
func (s *server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return host != "" && s.cfg.hosts[host]
}

// tokenOK reports whether r carries the token in its cookie or in an
// "Authorization: Bearer" header.
func (s *server) tokenOK(r *http.Request) bool {
	if c, err := r.Cookie(tokenCookie); err == nil && tokenEqual(c.Value, s.cfg.token) {
		return true
	}
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tokenEqual(a, s.cfg.token) {
		return true
	}
	return false
}

// tokenEqual compares in constant time.
func tokenEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
	Code  int    `json:"code,omitempty"` // the srdb error code, when the error came from the engine
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the response: "+err.Error(), 0)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// writeError writes a JSON error with the given status.
func writeError(w http.ResponseWriter, status int, msg string, code int) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(apiError{Error: msg, Code: code})
	w.Write(append(b, '\n'))
}

// writeDBError maps an engine error to a status code and writes it.
func writeDBError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "query timed out", 0)
		return
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "request cancelled", 0)
		return
	case errors.Is(err, srdb.ErrTableNotFound), errors.Is(err, srdb.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, srdb.ErrInvalidQuery), errors.Is(err, srdb.ErrInvalidArgument),
		errors.Is(err, srdb.ErrInvalidName):
		status = http.StatusBadRequest
	case errors.Is(err, srdb.ErrClosed):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, err.Error(), srdb.ErrorCode(err))
}
