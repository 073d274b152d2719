package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// progressDelay is how long work runs before its progress bar appears:
// work shorter than that prints nothing.
const progressDelay = time.Second

// progressTick is how often a visible bar is redrawn.
const progressTick = 200 * time.Millisecond

// progress draws a one-line progress bar on stderr while work runs, when
// stderr is a terminal and the work has run for progressDelay. The work
// reports with add; a total of 0 means unknown (a count, or only the
// elapsed time, is shown).
type progress struct {
	label string
	total int64
	done  atomic.Int64 // written by the work (add), read by the drawer

	out   io.Writer // the terminal; nil disables drawing
	start time.Time
	now   func() time.Time

	stop    chan struct{} // closed by finish
	stopped sync.WaitGroup

	// mu guards drawn, the width in runes of the last line drawn (0:
	// nothing on screen), between the drawer goroutine and finish.
	mu    sync.Mutex
	drawn int
}

// startProgress starts a bar for e's stderr, or a silent one when stderr
// is not a terminal.
func startProgress(e *env, label string, total int64) *progress {
	p := &progress{label: label, total: total, start: time.Now(), now: time.Now, stop: make(chan struct{})}
	if !e.stderrTTY {
		return p
	}
	p.out = e.stderr
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		tick := time.NewTicker(progressTick)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.draw()
			}
		}
	}()
	return p
}

// add records n more units of work done.
func (p *progress) add(n int64) { p.done.Add(n) }

// draw redraws the bar, once progressDelay has passed.
func (p *progress) draw() {
	elapsed := p.now().Sub(p.start)
	if p.out == nil || elapsed < progressDelay {
		return
	}
	line := p.line(elapsed)
	p.mu.Lock()
	defer p.mu.Unlock()
	width := utf8.RuneCountInString(line)
	pad := max(p.drawn-width, 0) // blank what is left of a longer line
	fmt.Fprintf(p.out, "\r%s%*s", line, pad, "")
	p.drawn = width
}

// line returns the text of the bar after elapsed.
func (p *progress) line(elapsed time.Duration) string {
	done := p.done.Load()
	secs := elapsed.Truncate(100 * time.Millisecond).Seconds()
	if p.total <= 0 {
		if done == 0 {
			return fmt.Sprintf("%s … %.1fs", p.label, secs)
		}
		return fmt.Sprintf("%s %d … %.1fs", p.label, done, secs)
	}
	const width = 30
	frac := float64(done) / float64(p.total)
	frac = min(max(frac, 0), 1)
	n := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < n {
			bar[i] = '='
		}
	}
	return fmt.Sprintf("%s [%s] %d/%d %3.0f%% %.1fs", p.label, bar, done, p.total, frac*100, secs)
}

// finish stops the bar and erases it.
func (p *progress) finish() {
	if p.out == nil {
		return
	}
	close(p.stop)
	p.stopped.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn > 0 {
		fmt.Fprintf(p.out, "\r%*s\r", p.drawn, "")
		p.drawn = 0
	}
}
