// Command clusterbench measures single-row inserts into a 3-node raft
// cluster on loopback TCP (module replica) against the same inserts into
// one srdb database, in DurabilitySync (what the cluster's nodes run) and in
// the default DurabilityInterval. It prints, for each, rows per second and
// the median and 99th percentile latency of an insert, as the median of
// -runs runs. docs/CLUSTER.md quotes its output.
//
//	cd replica && go run ./cmd/clusterbench -writers 1 -n 1000
//	cd replica && go run ./cmd/clusterbench -writers 16 -n 10000
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/srdb-go/srdb"
	"github.com/srdb-go/srdb/replica"
)

func main() {
	n := flag.Int("n", 5000, "rows per run")
	writers := flag.Int("writers", 16, "concurrent writers")
	runs := flag.Int("runs", 3, "runs of each setup (the median is printed)")
	flag.Parse()
	fields := []srdb.Field{
		{Name: "channel", Type: srdb.String, Indexed: true},
		{Name: "k", Type: srdb.Int64},
		{Name: "body", Type: srdb.String},
	}
	schema, err := srdb.NewSchema("msgs", fields)
	if err != nil {
		log.Fatal(err)
	}
	row := func(k int64) map[string]any {
		return map[string]any{"channel": fmt.Sprintf("c%d", k%10), "k": k, "body": fmt.Sprintf("message body %d, about 40 bytes long", k)}
	}
	setups := []struct {
		name string
		run  func(dir string) (result, error)
	}{
		{"single node, DurabilitySync", func(dir string) (result, error) {
			return single(dir, srdb.DurabilitySync, schema, row, *n, *writers)
		}},
		{"single node, DurabilityInterval", func(dir string) (result, error) {
			return single(dir, srdb.DurabilityInterval, schema, row, *n, *writers)
		}},
		{"3-node raft cluster, loopback TCP", func(dir string) (result, error) {
			return cluster(dir, schema, row, *n, *writers)
		}},
	}
	fmt.Printf("%d single-row inserts, %d writers, median of %d runs\n", *n, *writers, *runs)
	for _, s := range setups {
		var rs []result
		for range *runs {
			dir, err := os.MkdirTemp("", "clusterbench")
			if err != nil {
				log.Fatal(err)
			}
			r, err := s.run(dir)
			os.RemoveAll(dir)
			if err != nil {
				log.Fatalf("%s: %v", s.name, err)
			}
			rs = append(rs, r)
		}
		fmt.Printf("%-36s %9.0f rows/s   p50 %8v   p99 %8v\n", s.name,
			median(rs, func(r result) float64 { return r.rate }),
			time.Duration(median(rs, func(r result) float64 { return float64(r.p50) })).Round(time.Microsecond),
			time.Duration(median(rs, func(r result) float64 { return float64(r.p99) })).Round(time.Microsecond))
	}
}

// result is one run's figures.
type result struct {
	rate     float64 // rows per second
	p50, p99 time.Duration
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// drive runs n inserts from w writers through insert and measures them.
func drive(n, w int, insert func(k int64) error) (result, error) {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= int64(n) || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := insert(k); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[k] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if p := failed.Load(); p != nil {
		return result{}, *p
	}
	slices.Sort(lat)
	return result{rate: float64(n) / elapsed.Seconds(), p50: lat[n/2], p99: lat[n*99/100]}, nil
}

func single(dir string, d srdb.Durability, s *srdb.Schema, row func(int64) map[string]any, n, w int) (result, error) {
	o := srdb.DefaultOptions()
	o.Durability = d
	db, err := srdb.Open(dir, o)
	if err != nil {
		return result{}, err
	}
	defer db.Close()
	t, err := db.CreateTable("msgs", s)
	if err != nil {
		return result{}, err
	}
	return drive(n, w, func(k int64) error {
		_, err := t.Insert(row(k))
		return err
	})
}

func cluster(dir string, s *srdb.Schema, row func(int64) map[string]any, n, w int) (result, error) {
	var nodes []*replica.Node
	defer func() {
		for _, nd := range nodes {
			nd.Close()
		}
	}()
	var servers []replica.Server
	for i := range 3 {
		id := fmt.Sprintf("n%d", i)
		c := raft.DefaultConfig()
		c.SnapshotThreshold = 1 << 40
		nd, err := replica.NewNode(replica.Config{ID: id, Dir: filepath.Join(dir, id), BindAddr: "127.0.0.1:0", Raft: c})
		if err != nil {
			return result{}, err
		}
		nodes = append(nodes, nd)
		servers = append(servers, replica.Server{ID: id, Addr: nd.Addr()})
	}
	if err := nodes[0].Bootstrap(servers...); err != nil {
		return result{}, err
	}
	var leader *replica.Node
	for deadline := time.Now().Add(10 * time.Second); leader == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("no leader")
		}
		for _, nd := range nodes {
			if nd.IsLeader() {
				leader = nd
			}
		}
	}
	if err := leader.CreateTable("msgs", s); err != nil {
		return result{}, err
	}
	return drive(n, w, func(k int64) error {
		_, err := leader.Insert("msgs", row(k))
		return err
	})
}
