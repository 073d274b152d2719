// Command cluster runs one node of a replicated SRDB message store (module
// replica, on hashicorp/raft) with a small HTTP API. Start three of them on
// loopback, each with its own ports and directory, and the same -nodes list:
//
//	go run . -id n1 -nodes n1=127.0.0.1:7001/127.0.0.1:8001,n2=127.0.0.1:7002/127.0.0.1:8002,n3=127.0.0.1:7003/127.0.0.1:8003
//	(and -id n2, -id n3 in two more terminals; run.sh does all three)
//
// HTTP API (on the node's HTTP address):
//
//	POST /messages {"channel":"c1","sender":"ann","body":"hi"}  → {"seq":N}
//	GET  /channels/{channel}/messages?last=N[&stale=1]            → [{"seq":…,"time":…,"sender":…,"body":…}, …] newest first
//	GET  /status                                                  → {"id","state","leader","leader_http","applied"}
//
// A write or a linearizable read (the default) sent to a follower is
// answered 307 Temporary Redirect to the leader's HTTP address (curl -L and
// Go's http.Client follow it); stale=1 reads answer from any node. See
// README.md beside this file for killing the leader under load.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/srdb-go/srdb"
	"github.com/srdb-go/srdb/replica"
)

// member is one entry of -nodes.
type member struct {
	id, raftAddr, httpAddr string
}

// parseNodes parses "id=raft/http,id=raft/http,…".
func parseNodes(s string) ([]member, error) {
	var out []member
	for _, part := range strings.Split(s, ",") {
		id, addrs, ok := strings.Cut(strings.TrimSpace(part), "=")
		raftAddr, httpAddr, ok2 := strings.Cut(addrs, "/")
		if !ok || !ok2 || id == "" || raftAddr == "" || httpAddr == "" {
			return nil, fmt.Errorf("-nodes entry %q: want id=raftaddr/httpaddr", part)
		}
		out = append(out, member{id, raftAddr, httpAddr})
	}
	return out, nil
}

// Message is a row of the messages table.
type Message struct {
	Channel string `srdb:"channel;indexed"`
	Sender  string `srdb:"sender"`
	Body    string `srdb:"body"`
}

func main() {
	id := flag.String("id", "", "this node's ID (one of -nodes)")
	nodesFlag := flag.String("nodes", "", "every node: id=raftaddr/httpaddr, comma separated")
	dir := flag.String("dir", "", "node directory (default ./cluster-data/<id>)")
	verbose := flag.Bool("v", false, "log raft messages")
	flag.Parse()
	members, err := parseNodes(*nodesFlag)
	if err != nil || *id == "" {
		fmt.Fprintln(os.Stderr, "usage: cluster -id ID -nodes id=raft/http,... [-dir DIR]")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
	var me *member
	for i := range members {
		if members[i].id == *id {
			me = &members[i]
		}
	}
	if me == nil {
		log.Fatalf("-id %s is not in -nodes", *id)
	}
	if *dir == "" {
		*dir = filepath.Join("cluster-data", *id)
	}
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	node, err := replica.NewNode(replica.Config{ID: *id, Dir: *dir, BindAddr: me.raftAddr, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	var servers []replica.Server
	for _, m := range members {
		servers = append(servers, replica.Server{ID: m.id, Addr: m.raftAddr})
	}
	// Every node bootstraps with the same list; a node with raft state
	// already (a restart) ignores it.
	if err := node.Bootstrap(servers...); err != nil {
		log.Fatal(err)
	}
	s := &server{node: node, members: members}
	go s.ensureTable()
	srv := &http.Server{Addr: me.httpAddr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("node %s: raft %s, http %s, dir %s", *id, me.raftAddr, me.httpAddr, *dir)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = srv.Close()
	if err := node.Close(); err != nil {
		log.Fatal(err)
	}
}

// server serves the HTTP API of one node.
type server struct {
	node    *replica.Node
	members []member
}

// ensureTable creates the messages table once some node leads (whichever
// leader gets there first; the others see ErrTableExists or find it).
func (s *server) ensureTable() {
	fields, err := srdb.StructToFields(Message{})
	if err != nil {
		log.Fatal(err)
	}
	schema, err := srdb.NewSchema("messages", fields)
	if err != nil {
		log.Fatal(err)
	}
	for {
		if s.node.IsLeader() {
			err := s.node.CreateTable("messages", schema)
			if err == nil || srdb.ErrorCode(err) == srdb.CodeTableExists {
				return
			}
		} else if s.hasTable() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) hasTable() bool {
	err := s.node.Read(replica.StaleOK, func(db *srdb.Database) error {
		_, err := db.Table("messages")
		return err
	})
	return err == nil
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /messages", s.postMessage)
	mux.HandleFunc("GET /channels/{channel}/messages", s.lastMessages)
	mux.HandleFunc("GET /status", s.status)
	return mux
}

// leaderHTTP returns the HTTP address of the leader, "" when unknown.
func (s *server) leaderHTTP() string {
	id, _ := s.node.Leader()
	for _, m := range s.members {
		if m.id == id {
			return m.httpAddr
		}
	}
	return ""
}

// redirect answers 307 to the leader, or 503 while there is none.
func (s *server) redirect(w http.ResponseWriter, r *http.Request) {
	l := s.leaderHTTP()
	if l == "" {
		http.Error(w, "no leader", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "http://"+l+r.URL.RequestURI(), http.StatusTemporaryRedirect)
}

// fail answers an error: a redirect for a lost leadership, 503 for an
// unknown outcome, 400 for bad input, 500 otherwise.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, replica.ErrOutcomeUnknown):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case errors.Is(err, replica.ErrNotLeader):
		s.redirect(w, r)
	case srdb.ErrorCode(err) >= 3000 && srdb.ErrorCode(err) < 5000 || srdb.ErrorCode(err) == srdb.CodeInvalidArgument:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (s *server) postMessage(w http.ResponseWriter, r *http.Request) {
	if !s.node.IsLeader() {
		s.redirect(w, r)
		return
	}
	var m Message
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&m); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	seq, err := s.node.Insert("messages", m)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, map[string]int64{"seq": seq})
}

// row is a message as the API returns it.
type row struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Channel string    `json:"channel"`
	Sender  string    `json:"sender"`
	Body    string    `json:"body"`
}

func (s *server) lastMessages(w http.ResponseWriter, r *http.Request) {
	last, err := strconv.Atoi(r.URL.Query().Get("last"))
	if err != nil || last <= 0 {
		last = 20
	}
	c := replica.Linearizable
	if r.URL.Query().Get("stale") == "1" {
		c = replica.StaleOK
	} else if !s.node.IsLeader() {
		s.redirect(w, r)
		return
	}
	out := []row{}
	err = s.node.Read(c, func(db *srdb.Database) error {
		t, err := db.Table("messages")
		if err != nil {
			return err
		}
		rows, err := t.Query().Eq("channel", r.PathValue("channel")).OrderByDesc("_seq").Limit(last).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Message
			if err := rows.Row().Scan(&m); err != nil {
				return err
			}
			out = append(out, row{Seq: rows.Row().Seq(), Time: rows.Row().Time(), Channel: m.Channel, Sender: m.Sender, Body: m.Body})
		}
		return rows.Err()
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, out)
}

func (s *server) status(w http.ResponseWriter, _ *http.Request) {
	id, _ := s.node.Leader()
	writeJSON(w, map[string]any{
		"id": s.node.ID(), "state": s.node.Raft().State().String(), "leader": id,
		"leader_http": s.leaderHTTP(), "applied": s.node.AppliedIndex(),
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
