package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newTestProgress returns a bar drawing into out on a fake clock, with no
// drawer goroutine: the test calls draw.
func newTestProgress(out *bytes.Buffer, total int64, clock *time.Time) *progress {
	return &progress{label: "dump t", total: total, out: out, start: *clock,
		now: func() time.Time { return *clock }, stop: make(chan struct{})}
}

func TestProgressAppearsAfterOneSecond(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(1000, 0)
	p := newTestProgress(&out, 200, &clock)
	p.add(50)
	clock = clock.Add(900 * time.Millisecond)
	p.draw()
	require.Empty(t, out.String(), "work under a second draws nothing")

	clock = clock.Add(600 * time.Millisecond)
	p.draw()
	require.Equal(t, "\rdump t [=======                       ] 50/200  25% 1.5s", out.String())

	out.Reset()
	p.add(150)
	p.draw()
	require.Equal(t, "\rdump t [==============================] 200/200 100% 1.5s", out.String())

	out.Reset()
	width := p.drawn
	p.finish()
	require.Equal(t, "\r"+string(bytes.Repeat([]byte{' '}, width))+"\r", out.String(), "finish erases the bar")
}

func TestProgressUnknownTotal(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(1000, 0)
	p := newTestProgress(&out, 0, &clock)
	clock = clock.Add(2 * time.Second)
	p.draw()
	require.Equal(t, "\rdump t … 2.0s", out.String())
	out.Reset()
	p.add(7)
	p.draw()
	require.Equal(t, "\rdump t 7 … 2.0s", out.String())
}

// A bar that never showed erases nothing; a silent bar (stderr not a
// terminal) never draws.
func TestProgressSilent(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(1000, 0)
	p := newTestProgress(&out, 10, &clock)
	p.finish()
	require.Empty(t, out.String())

	q := startProgress(&env{stderr: &out}, "x", 10)
	q.add(10)
	q.draw()
	q.finish()
	require.Empty(t, out.String())
}
