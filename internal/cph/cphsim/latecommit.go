package cphsim

import (
	"sync"
	"time"
)

// lateCommits holds the orders that FaultLateCommit calls were answered 504 for and that the
// backend has yet to commit, each on a real timer (time.AfterFunc).
//
// mu is held while a due order is committed, and by Reset while it clears the store, so that a
// late commit is either in the store or still pending, never in between: a test that waited for
// PendingLateCommits to reach 0 finds every such order in Orders. Lock order: lateCommits.mu,
// then the store's and the recorder's locks.
type lateCommits struct {
	mu      sync.Mutex
	pending map[*lateCommit]struct{}
	closed  bool
}

// lateCommit is one pending order.
type lateCommit struct {
	timer  *time.Timer
	commit func()
}

func newLateCommits() *lateCommits {
	return &lateCommits{pending: map[*lateCommit]struct{}{}}
}

// schedule runs commit after d, unless cancel or Close comes first. After Close it schedules
// nothing: the backend is gone.
func (lc *lateCommits) schedule(d time.Duration, commit func()) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closed {
		return
	}
	e := &lateCommit{commit: commit}
	// The timer's function takes mu first, so it finds e in pending even when d is tiny.
	e.timer = time.AfterFunc(d, func() { lc.fire(e) })
	lc.pending[e] = struct{}{}
}

// fire commits e unless it was cancelled, or committed by commitNow, meanwhile.
func (lc *lateCommits) fire(e *lateCommit) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if _, ok := lc.pending[e]; !ok {
		return
	}
	delete(lc.pending, e)
	e.commit()
}

// cancelLocked forgets every pending commit; the caller holds mu.
func (lc *lateCommits) cancelLocked() {
	for e := range lc.pending {
		e.timer.Stop()
		delete(lc.pending, e)
	}
}

// commitNow runs every pending commit at once, as if their delays had elapsed, and returns how
// many it ran. Only tests use it (export_test.go), to check what a commit records against a clock
// they moved, without racing a timer.
func (lc *lateCommits) commitNow() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	n := 0
	for e := range lc.pending {
		e.timer.Stop()
		delete(lc.pending, e)
		e.commit()
		n++
	}
	return n
}

func (lc *lateCommits) count() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return len(lc.pending)
}

// PendingLateCommits is how many FaultLateCommit orders have been answered 504 but not committed
// yet. A test waits for it to reach 0 before it counts orders (it is Stats.PendingLateCommits
// too, for a simulator in another process).
func (s *Server) PendingLateCommits() int { return s.late.count() }

// Close cancels the late commits still pending: their orders are never placed, as if the backend
// had died before committing them. After Close a FaultLateCommit call is still answered 504 but
// places no order. Everything else keeps working: Close does not stop serving (the listener is
// the caller's) and may be called more than once.
//
// Close is optional. A Server that is never closed commits its pending orders on their timers,
// which is harmless after its HTTP server has stopped: the commit touches only the in-memory
// store, under its lock.
func (s *Server) Close() {
	s.late.mu.Lock()
	defer s.late.mu.Unlock()
	s.late.closed = true
	s.late.cancelLocked()
}
