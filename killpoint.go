package srdb

import "sync/atomic"

// killPointHook, when set, is called by killPoint with the name of each step
// the engine reaches. Crash tests install a hook that kills the process (or
// fails the step) at a chosen point; in production it is nil and killPoint
// costs one atomic load.
var killPointHook atomic.Pointer[func(name string) error]

// killPoint marks a named step of a multi-step durable operation (WAL
// rotation, flush, MANIFEST update, compaction, index build, table create).
// The names are listed in docs/RELIABILITY.md and never contain spaces, e.g.
// "flush.after_manifest". It returns the hook's error so that a test can make
// the step fail instead of killing the process; callers treat that error like
// an I/O error at that point.
func killPoint(name string) error {
	if h := killPointHook.Load(); h != nil {
		return (*h)(name)
	}
	return nil
}

// setKillPointHook installs (or, with nil, removes) the kill point hook.
// Only tests call it.
func setKillPointHook(h func(name string) error) {
	if h == nil {
		killPointHook.Store(nil)
		return
	}
	killPointHook.Store(&h)
}
