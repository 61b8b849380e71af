package cphsim

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"time"
)

// FaultKind names what the simulator does to one purchase call. The kinds follow the outcome
// table of docs/design.md: some leave provably no order behind (the worker may retry), some commit
// the order and then hide that from the caller (the worker must reconcile before it sends again).
type FaultKind int

const (
	// FaultNone commits the order and answers 200.
	FaultNone FaultKind = iota
	// FaultThrottle answers 429 APIGW.0308 with Retry-After and places no order.
	FaultThrottle
	// FaultFailBeforeCommit answers 503 and places no order.
	FaultFailBeforeCommit
	// FaultFailAfterCommit commits the order, then answers 500 CPS.0003: the caller cannot tell
	// this apart from a failure before the commit.
	FaultFailAfterCommit
	// FaultHangAfterCommit commits the order, then holds the response until the client gives up
	// or Options.HangFor elapses (then 504): the caller sees a timeout.
	FaultHangAfterCommit
	// FaultDropAfterCommit commits the order, then closes the connection without a response: the
	// caller sees a reset or EOF.
	FaultDropAfterCommit
	// FaultReject answers 400 with Fault.Code (default CPS.0006, account in arrears) and places no
	// order: a refusal that retrying cannot cure.
	FaultReject
	// FaultLateCommit answers 504 APIGW.0202 at once, as a gateway whose backend did not answer in
	// time, with no order placed yet; the backend then commits the order Fault.After (default
	// Options.LateCommitAfter) later, exactly as a normal purchase would. A caller that reconciles
	// right after the 504 finds nothing, and the order appears later.
	FaultLateCommit

	numFaultKinds = iota
)

// String returns the snake_case name used in JSON and on the command line.
func (k FaultKind) String() string {
	switch k {
	case FaultNone:
		return "none"
	case FaultThrottle:
		return "throttle"
	case FaultFailBeforeCommit:
		return "fail_before_commit"
	case FaultFailAfterCommit:
		return "fail_after_commit"
	case FaultHangAfterCommit:
		return "hang_after_commit"
	case FaultDropAfterCommit:
		return "drop_after_commit"
	case FaultReject:
		return "reject"
	case FaultLateCommit:
		return "late_commit"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Commits reports whether a purchase call with this fault leaves an order behind. Tests use it to
// state the one property that matters for money: which faults place an order. FaultLateCommit
// places it after the answer (unless Reset or Close cancels it first; see Server.Close).
func (k FaultKind) Commits() bool {
	switch k {
	case FaultNone, FaultFailAfterCommit, FaultHangAfterCommit, FaultDropAfterCommit, FaultLateCommit:
		return true
	}
	return false
}

// ParseFaultKind is the inverse of String, so that recorded calls and stats read back from the
// debug routes of a separate cphsim process decode into the same values.
func ParseFaultKind(s string) (FaultKind, error) {
	for k := range FaultKind(numFaultKinds) {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("cphsim: unknown fault kind %q", s)
}

// MarshalText writes the name, so JSON from the debug routes is readable and map keys work.
func (k FaultKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (k *FaultKind) UnmarshalText(b []byte) error {
	v, err := ParseFaultKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Fault is the simulator's decision for one purchase call.
type Fault struct {
	Kind FaultKind
	// Code is the error code of a FaultReject, e.g. "CPS.0007"; empty means CPS.0006.
	Code string
	// After is how long after its 504 a FaultLateCommit commits the order; 0 means
	// Options.LateCommitAfter. It must not be negative. Other kinds ignore it.
	After time.Duration
}

// PurchaseCall is what Options.Decide sees of a purchase call that passed authentication, the
// rate limit and validation, so a test can script faults by name and attempt number.
type PurchaseCall struct {
	ProjectID  string
	ServerName string
	// Seq is the 1-based number of this call among the calls for ServerName that reached the
	// fault decision (calls refused earlier, e.g. with 401 or 400, do not count).
	Seq int
	// Request is the body exactly as received.
	Request json.RawMessage
}

// faultRates are the per-call probabilities of the random faults, checked in this order, then the
// reject rate (passed to pick), then late.
type faultRates struct {
	kinds [5]FaultKind
	rates [5]float64
	// late is Options.LateCommitRate. It is checked after every older kind, so that adding it
	// turns only draws that were FaultNone into late commits: a seed keeps drawing the same
	// throttles, failures, hangs, drops and rejections.
	late float64
}

func newFaultRates(o Options) faultRates {
	return faultRates{
		kinds: [5]FaultKind{FaultThrottle, FaultFailBeforeCommit, FaultFailAfterCommit, FaultHangAfterCommit, FaultDropAfterCommit},
		rates: [5]float64{o.ThrottleRate, o.FailBeforeRate, o.FailAfterRate, o.HangRate, o.DropRate},
		late:  o.LateCommitRate,
	}
}

// pick chooses a fault for call. The choice is a pure function of seed, project, server name and
// Seq, not of arrival order, so a seeded run is repeatable even when a fleet of workers sends its
// calls concurrently; and a retry (a higher Seq) draws afresh.
func (fr faultRates) pick(seed int64, rejectRate float64, rejectCode string, c PurchaseCall) Fault {
	u := unitHash(seed, c.ProjectID, c.ServerName, c.Seq)
	for i, r := range fr.rates {
		if u < r {
			return Fault{Kind: fr.kinds[i]}
		}
		u -= r
	}
	if u < rejectRate {
		return Fault{Kind: FaultReject, Code: rejectCode}
	}
	u -= rejectRate
	if u < fr.late {
		return Fault{Kind: FaultLateCommit} // After 0: Options.LateCommitAfter
	}
	return Fault{Kind: FaultNone}
}

// unitHash maps its inputs to a float in [0, 1), uniformly enough for fault rates.
func unitHash(seed int64, project, name string, seq int) float64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(project))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	binary.LittleEndian.PutUint64(b[:], uint64(seq))
	h.Write(b[:])
	return float64(mix64(h.Sum64())>>11) / (1 << 53)
}

// mix64 is SplitMix64's finaliser: FNV alone spreads short, similar inputs poorly in the high bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// validRate reports whether r is a probability.
func validRate(r float64) bool { return !math.IsNaN(r) && r >= 0 && r <= 1 }
