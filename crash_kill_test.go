package srdb

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The SIGKILL test re-executes the test binary as a child that inserts rows
// from several goroutines and prints "ack <seq> <msg_id>" after each Insert
// returns. The parent kills it with SIGKILL at a random moment, reopens the
// directory and checks that every acknowledged row is there with the right
// content, that no msg_id appears twice and that no row appears that the
// child never tried to write.

const crashChildEnv = "SRDB_CRASH_CHILD_DIR"

func TestCrashChildProcess(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process for TestSIGKILLLosesNoAckedRow")
	}
	mode, _ := strconv.Atoi(os.Getenv("SRDB_CRASH_MODE"))
	opts := DefaultOptions()
	opts.Durability = Durability(mode)
	opts.MemTableSize = 256 << 10 // flushes during the run
	db, err := Open(dir, opts)
	if err != nil {
		fmt.Println("open-error", err)
		os.Exit(3)
	}
	tbl, err := db.Table("messages")
	if err != nil {
		s, _ := NewSchema("messages", imTableFields())
		tbl, err = db.CreateTable("messages", s)
		if err != nil {
			fmt.Println("create-error", err)
			os.Exit(3)
		}
	}
	base, _ := strconv.ParseInt(os.Getenv("SRDB_CRASH_BASE"), 10, 64)
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := int64(0); w < 4; w++ {
		wg.Add(1)
		go func(w int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(base + w))
			for i := int64(0); ; i++ {
				n := rng.Intn(8) + 1
				batch := make([]map[string]any, n)
				ids := make([]int64, n)
				for k := range batch {
					ids[k] = base + w*1_000_000 + i*16 + int64(k)
					batch[k] = imTableRow(ids[k])
				}
				first, err := tbl.Insert(batch)
				if err != nil {
					return
				}
				mu.Lock()
				for k := range ids {
					fmt.Fprintf(out, "ack %d %d\n", first+int64(k), ids[k])
				}
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

func TestSIGKILLLosesNoAckedRow(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in child")
	}
	iterations := 6
	if testing.Short() {
		iterations = 2
	}
	for _, mode := range []Durability{DurabilitySync, DurabilityInterval} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			acked := map[int64]int64{} // seq → msg_id
			rng := rand.New(rand.NewSource(int64(mode) + 1))
			for it := 0; it < iterations; it++ {
				base := int64(it+1) * 100_000_000
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), crashChildEnv+"="+dir,
					"SRDB_CRASH_MODE="+strconv.Itoa(int(mode)), "SRDB_CRASH_BASE="+strconv.FormatInt(base, 10))
				stdout, err := cmd.StdoutPipe()
				require.NoError(t, err)
				require.NoError(t, cmd.Start())
				lines := make(chan string, 1024)
				go func() {
					sc := bufio.NewScanner(stdout)
					for sc.Scan() {
						lines <- sc.Text()
					}
					close(lines)
				}()
				killAt := time.After(time.Duration(100+rng.Intn(400)) * time.Millisecond)
				killed := false
			read:
				for {
					select {
					case <-killAt:
						require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
						killed = true
						killAt = nil
					case line, ok := <-lines:
						if !ok {
							break read
						}
						f := strings.Fields(line)
						if len(f) == 3 && f[0] == "ack" {
							seq, _ := strconv.ParseInt(f[1], 10, 64)
							id, _ := strconv.ParseInt(f[2], 10, 64)
							acked[seq] = id
						} else {
							t.Fatalf("child: %s", line)
						}
					}
				}
				_ = cmd.Wait()
				require.True(t, killed, "child ended before it was killed")

				db, err := Open(dir, DefaultOptions())
				require.NoError(t, err, "open after kill %d", it)
				tbl, err := db.Table("messages")
				require.NoError(t, err)
				for seq, id := range acked {
					row, err := tbl.Get(seq)
					require.NoError(t, err, "LOST: acked seq %d (msg_id %d) after kill %d", seq, id, it)
					got, _ := row.Get("msg_id")
					require.Equal(t, id, got, "CORRUPT: seq %d", seq)
				}
				seen := map[int64]bool{}
				iter, err := tbl.newTableIter()
				require.NoError(t, err)
				for ok := iter.first(); ok; ok = iter.next() {
					row, err := decodeResultRow(tbl.Schema(), iter.value(), nil)
					require.NoError(t, err)
					id, _ := row.Get("msg_id")
					mid := id.(int64)
					require.False(t, seen[mid], "DUP: msg_id %d", mid)
					seen[mid] = true
					require.Equal(t, fmt.Sprintf("payload-%d", mid), string(mustGet(row, "payload").([]byte)), "CORRUPT: msg_id %d", mid)
					if want, ok := acked[row.Seq()]; ok {
						require.Equal(t, want, mid)
					}
				}
				require.NoError(t, iter.close())
				require.NoError(t, db.Close())
			}
			t.Logf("%s: %d acked rows verified over %d kills", mode, len(acked), iterations)
		})
	}
}

func mustGet(r *Row, f string) any {
	v, _ := r.Get(f)
	return v
}
