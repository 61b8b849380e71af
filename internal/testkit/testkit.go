package testkit

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"
)

// RandomID returns 12 random hex digits, to name a test's queue, stream or keys apart from those of
// other tests on a shared Redis.
func RandomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// EventuallyTimeout bounds Eventually: generous, because CI is a slow, shared machine and no test
// may depend on how fast it is. It only bounds a broken test.
const EventuallyTimeout = 60 * time.Second

// Eventually polls cond until it holds, failing the test ("timed out waiting for what") after
// EventuallyTimeout.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(EventuallyTimeout, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Poll polls cond until it holds or d passes, and reports whether it held. It polls often at
// first, for conditions that another goroutine makes true in a moment, and every 50 ms later.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	pause := 2 * time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that a running command or worker writes (logs, output) while the
// test reads it. Its zero value is ready to use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
