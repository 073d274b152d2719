// Command queue is a small message queue built on SRDB: a producer appends
// jobs to a table, two consumer groups ("mailer" and "billing") follow it as
// it grows, each committing its position durably, and a slow group
// ("archiver") falls behind, is restarted with the database, and catches up
// from its committed position. Then retention drops the oldest jobs and a
// group behind it ("audit") goes on at the oldest job kept. It runs in a
// temporary directory and exits.
//
//	go run ./examples/queue
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/srdb-go/srdb"
)

// Job is one message of the queue. _seq is its position in the queue.
type Job struct {
	Seq     int64  `srdb:"_seq"`
	Kind    string `srdb:"kind;indexed"`
	Account int64  `srdb:"account"`
	Body    string `srdb:"body"`
}

// jobs is the number of jobs the producer sends.
const jobs = 5_000

func main() {
	dir, err := os.MkdirTemp("", "srdb-queue-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := demo(dir); err != nil {
		log.Fatal(err)
	}
}

// open opens the database and the jobs table (created on first use).
func open(dir string) (*srdb.Database, *srdb.Table, error) {
	db, err := srdb.Open(dir, nil)
	if err != nil {
		return nil, nil, err
	}
	fields, err := srdb.StructToFields(Job{})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	s, err := srdb.NewSchema("jobs", fields)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	t, err := db.EnsureTable("jobs", s)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, t, nil
}

// consume reads jobs as group until it has handled up to seq last or ctx
// ends, committing every commitEvery jobs (and at the end). handle is
// called for each job; it returns the number of jobs handled.
func consume(ctx context.Context, t *srdb.Table, group string, last int64, commitEvery int, handle func(Job)) (int, error) {
	c, err := t.Consumer(group)
	if err != nil {
		return 0, err
	}
	n := 0
	for c.Position() < last {
		row, err := c.Next(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				break // stopped: what was handled but not committed is delivered again next time
			}
			return n, err
		}
		var j Job
		if err := row.Scan(&j); err != nil {
			return n, err
		}
		handle(j)
		n++
		if n%commitEvery == 0 || j.Seq == last {
			if err := c.Commit(j.Seq); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// report prints every group's committed position and lag.
func report(t *srdb.Table, when string) error {
	fmt.Printf("%s:\n", when)
	for _, g := range t.Consumers() {
		c, err := t.Consumer(g)
		if err != nil {
			return err
		}
		lag, err := c.Lag()
		if err != nil {
			return err
		}
		fmt.Printf("  %-9s position %5d  lag %5d\n", g, c.Position(), lag)
	}
	return nil
}

func demo(dir string) error {
	db, t, err := open(dir)
	if err != nil {
		return err
	}
	// The groups exist before the first job: each will see every job.
	for _, g := range []string{"mailer", "billing", "archiver"} {
		if _, err := t.Consumer(g); err != nil {
			return err
		}
	}

	// The producer: jobs in small batches, as a web front end would send them.
	start := time.Now()
	var wg sync.WaitGroup
	var lastSeq int64
	var produceErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		kinds := []string{"email", "invoice", "refund"}
		for i := 0; i < jobs; i += 10 {
			batch := make([]Job, 10)
			for k := range batch {
				n := i + k
				batch[k] = Job{Kind: kinds[n%len(kinds)], Account: int64(n % 97), Body: fmt.Sprintf("job %d", n)}
			}
			first, err := t.Insert(batch)
			if err != nil {
				produceErr = err
				return
			}
			lastSeq = first + int64(len(batch)) - 1
			if i%500 == 0 {
				time.Sleep(time.Millisecond) // bursts, not one tight loop
			}
		}
	}()

	// Two groups follow the producer; each only handles its kinds of job.
	// They stop at the last seq the producer will write (jobs rows).
	var emails, invoices int
	var errs [2]error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, errs[0] = consume(ctx, t, "mailer", jobs, 100, func(j Job) {
			if j.Kind == "email" {
				emails++
			}
		})
	}()
	go func() {
		defer wg.Done()
		_, errs[1] = consume(ctx, t, "billing", jobs, 250, func(j Job) {
			if j.Kind != "email" {
				invoices++
			}
		})
	}()

	// The archiver is slow: it handles 1,500 jobs at 0.2 ms each, then
	// the service restarts.
	slowCtx, slowCancel := context.WithCancel(context.Background())
	archived, err := consume(slowCtx, t, "archiver", 1_500, 500, func(Job) { time.Sleep(200 * time.Microsecond) })
	slowCancel()
	if err != nil {
		return err
	}
	wg.Wait()
	if produceErr != nil {
		return produceErr
	}
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	fmt.Printf("produced %d jobs (last seq %d) in %v; mailer sent %d emails, billing handled %d invoices and refunds, archiver archived %d\n",
		jobs, lastSeq, time.Since(start).Round(time.Millisecond), emails, invoices, archived)
	if err := report(t, "before the restart"); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}

	// After the restart the positions are still there: the archiver
	// resumes after its last commit and catches up.
	db, t, err = open(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := report(t, "after the restart"); err != nil {
		return err
	}
	caught, err := consume(context.Background(), t, "archiver", lastSeq, 1_000, func(Job) {})
	if err != nil {
		return err
	}
	fmt.Printf("archiver caught up: %d jobs after the restart\n", caught)

	// Billing replays the last 5 jobs (SeekTo moves its position back).
	billing, err := t.Consumer("billing")
	if err != nil {
		return err
	}
	if err := billing.SeekTo(lastSeq - 4); err != nil {
		return err
	}
	lag, err := billing.Lag()
	if err != nil {
		return err
	}
	fmt.Printf("billing sought back to seq %d: lag %d\n", lastSeq-4, lag)
	for i := 0; i < 5; i++ {
		row, err := billing.Next(context.Background())
		if err != nil {
			return err
		}
		body, _ := row.Get("body")
		fmt.Printf("  replayed seq %d: %v\n", row.Seq(), body)
		if err := billing.Commit(row.Seq()); err != nil {
			return err
		}
	}

	// Retention: the queue keeps a day of jobs (MaxAge, enforced in the
	// background), and the operator drops the oldest 4,000 now. A group that
	// is behind retention ("audit" never read a job) goes on at the oldest
	// job kept, and its lag counts only the jobs kept.
	if err := t.SetOptions(srdb.TableOptions{MaxAge: 24 * time.Hour}); err != nil {
		return err
	}
	audit, err := t.Consumer("audit")
	if err != nil {
		return err
	}
	if err := t.DeleteRange(1, 4_001); err != nil {
		return err
	}
	lag, err = audit.Lag()
	if err != nil {
		return err
	}
	row, err := audit.Next(context.Background())
	if err != nil {
		return err
	}
	if row.Seq() != 4_001 || lag != int64(jobs-4_000) {
		return fmt.Errorf("audit behind retention: next seq %d, lag %d", row.Seq(), lag)
	}
	fmt.Printf("audit (behind retention): lag %d, next job seq %d (the oldest kept)\n", lag, row.Seq())
	return report(t, "at the end")
}
