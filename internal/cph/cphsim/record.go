package cphsim

import (
	"encoding/json"
	"sync"
	"time"
)

// Call is the record of one API call, kept so that tests can assert what a worker actually sent
// and what it was told.
type Call struct {
	Time      time.Time `json:"time"` // when it arrived, by Options.Now
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	ProjectID string    `json:"project_id,omitempty"`
	// ServerName is the purchase's server_name, the list's server_name filter, or the name of the
	// server fetched.
	ServerName string `json:"server_name,omitempty"`
	RequestID  string `json:"request_id"`
	// Status is the HTTP status answered; 0 when no response was written (a dropped connection,
	// the simulator was down, or the client went away first).
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"` // error code answered, empty on success
	// Fault is the decision for a purchase call that reached it (FaultNone otherwise).
	Fault FaultKind `json:"fault"`
	// RateLimited marks a purchase call refused by Options.RateLimit.
	RateLimited bool `json:"rate_limited,omitempty"`
	// OrderID is the order committed by this call, if any. A FaultLateCommit call has none: its
	// order is placed after the call was answered and recorded, with Order.RequestID equal to the
	// call's RequestID.
	OrderID string `json:"order_id,omitempty"`
}

// Order is a committed order: money spent. The worker's one promise is at most one of these per
// idempotency key, so this is what tests count.
type Order struct {
	OrderID    string    `json:"order_id"`
	ProductID  string    `json:"product_id"`
	ProjectID  string    `json:"project_id"`
	ServerName string    `json:"server_name"` // as in the request, without suffixes
	ServerIDs  []string  `json:"server_ids"`
	RequestID  string    `json:"request_id"` // the request id the purchase call was answered with
	Time       time.Time `json:"time"`       // when it was committed, by Options.Now
	// Fault is the fault of the call that placed the order: a committed order whose caller was
	// told something else (FailAfter, Hang, Drop, LateCommit) is the case reconciliation exists
	// for.
	Fault FaultKind `json:"fault"`
	// AutoPay is false when extend_param.is_auto_pay was not 1: the order then waits for payment
	// and its servers do not appear in the server list, as on the real API.
	AutoPay bool `json:"auto_pay"`
	// PaidAt is when PayOrder paid an order that waited for payment.
	PaidAt *time.Time `json:"paid_at,omitempty"`
	// Fate is what becomes of the order's servers (see Fate).
	Fate    Fate            `json:"fate"`
	Request json.RawMessage `json:"request"`
}

// Stats sums up the calls, so benchmarks and chaos tests can check rate and fault behaviour
// without walking every Call.
type Stats struct {
	Calls         int `json:"calls"`          // every API call
	PurchaseCalls int `json:"purchase_calls"` // every POST to the purchase route (except while down)
	Orders        int `json:"orders"`         // committed orders
	Servers       int `json:"servers"`        // servers created by committed orders, listed or not
	// Throttled counts 429 answers: random or decided throttling plus rate-limit violations.
	Throttled int `json:"throttled"`
	// RateLimitViolations counts purchase calls beyond Options.RateLimit.
	RateLimitViolations int `json:"rate_limit_violations"`
	// MaxPurchasesPerSecond is the most purchase calls that arrived within any 1 s window: what
	// the fleet actually sent, to compare with CPH_RATE_LIMIT.
	MaxPurchasesPerSecond int `json:"max_purchases_per_second"`
	Unauthorized          int `json:"unauthorized"` // 401 answers
	Invalid               int `json:"invalid"`      // 400 answers to purchase bodies that failed validation
	// Faults counts the fault decided for each purchase call that reached the decision.
	Faults map[FaultKind]int `json:"faults"`
	// PendingLateCommits is Server.PendingLateCommits: FaultLateCommit orders answered 504 and
	// not committed yet (not in Orders nor Servers). Wait for 0 before counting orders.
	PendingLateCommits int `json:"pending_late_commits"`
}

// recorder keeps the call log and the counters. Its lock is held only to append or count.
type recorder struct {
	mu     sync.Mutex
	calls  []Call
	stats  Stats
	faults [numFaultKinds]int
	seq    map[string]int // server_name → purchase calls that reached the fault decision
	window []time.Time    // arrival times of purchase calls in the last second, oldest first
	head   int            // window[head:] is live
}

func newRecorder() *recorder { return &recorder{seq: map[string]int{}} }

// purchaseArrived counts a purchase call at now and keeps the 1 s window for
// MaxPurchasesPerSecond.
func (rc *recorder) purchaseArrived(now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.stats.PurchaseCalls++
	cutoff := now.Add(-time.Second)
	for rc.head < len(rc.window) && !rc.window[rc.head].After(cutoff) {
		rc.head++
	}
	if rc.head > len(rc.window)/2 { // reuse the front instead of growing forever
		n := copy(rc.window, rc.window[rc.head:])
		rc.window, rc.head = rc.window[:n], 0
	}
	rc.window = append(rc.window, now)
	rc.stats.MaxPurchasesPerSecond = max(rc.stats.MaxPurchasesPerSecond, len(rc.window)-rc.head)
}

// nextSeq returns the 1-based number of this purchase call for name.
func (rc *recorder) nextSeq(name string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seq[name]++
	return rc.seq[name]
}

func (rc *recorder) countFault(k FaultKind) {
	rc.mu.Lock()
	rc.faults[k]++
	rc.mu.Unlock()
}

// add records a finished call and counts its outcome.
func (rc *recorder) add(c Call, invalid bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls = append(rc.calls, c)
	rc.stats.Calls++
	switch c.Status {
	case 401:
		rc.stats.Unauthorized++
	case 429:
		rc.stats.Throttled++
	}
	if c.RateLimited {
		rc.stats.RateLimitViolations++
	}
	if invalid {
		rc.stats.Invalid++
	}
}

// callLog returns the calls so far. Recorded calls are never modified, and appends only write
// past the returned length, so the caller may read the slice after the lock is released.
func (rc *recorder) callLog() []Call {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls[:len(rc.calls):len(rc.calls)]
}

func (rc *recorder) snapshot() Stats {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	st := rc.stats
	st.Faults = make(map[FaultKind]int, numFaultKinds)
	for k, n := range rc.faults {
		if n > 0 {
			st.Faults[FaultKind(k)] = n
		}
	}
	return st
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls = nil
	rc.stats = Stats{}
	rc.faults = [numFaultKinds]int{}
	rc.seq = map[string]int{}
	rc.window, rc.head = nil, 0
}

// Calls returns every API call recorded since New or Reset, in the order they finished.
func (s *Server) Calls() []Call {
	return append([]Call{}, s.rec.callLog()...)
}

// Stats returns the counters since New or Reset.
func (s *Server) Stats() Stats {
	st := s.rec.snapshot()
	st.Orders, st.Servers = s.store.counts()
	st.PendingLateCommits = s.late.count()
	return st
}

// Orders returns every committed order since New or Reset, oldest first.
func (s *Server) Orders() []Order { return s.store.orders("") }

// OrdersFor returns the committed orders whose request carried exactly serverName, oldest first:
// the number a test compares with "at most one".
func (s *Server) OrdersFor(serverName string) []Order { return s.store.orders(serverName) }

// Reset forgets calls, orders, servers and counters, so one simulator can serve several test
// phases. Tokens, the rate limiter's state and SetDown are kept. Pending late commits are
// cancelled, as if they had been committed and forgotten: no order of an earlier phase turns up
// in the next one. (After Close, late commits stay off.)
func (s *Server) Reset() {
	s.late.mu.Lock()
	defer s.late.mu.Unlock()
	s.late.cancelLocked()
	s.rec.reset()
	s.store.reset()
}
