package cphsim

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// The draw follows the rates: over many names each kind's share is close to its rate. The draw
// is a hash, so this test is deterministic.
func TestPickFollowsRates(t *testing.T) {
	o := Options{ThrottleRate: 0.1, FailBeforeRate: 0.05, FailAfterRate: 0.2, HangRate: 0.02, DropRate: 0.03, RejectRate: 0.1}
	want := map[FaultKind]float64{
		FaultThrottle: 0.1, FaultFailBeforeCommit: 0.05, FaultFailAfterCommit: 0.2,
		FaultHangAfterCommit: 0.02, FaultDropAfterCommit: 0.03, FaultReject: 0.1, FaultNone: 0.5,
	}
	fr := newFaultRates(o)
	const n = 50000
	got := map[FaultKind]int{}
	for i := range n {
		f := fr.pick(7, o.RejectRate, "CPS.0006", PurchaseCall{ProjectID: "p", ServerName: "srv-" + strconv.Itoa(i/3), Seq: 1 + i%3})
		got[f.Kind]++
		if f.Kind == FaultReject && f.Code != "CPS.0006" {
			t.Fatalf("reject code %q", f.Code)
		}
	}
	for k, rate := range want {
		share := float64(got[k]) / n
		if math.Abs(share-rate) > 0.01 {
			t.Errorf("%v: share %.4f, want %.2f", k, share, rate)
		}
	}
}

// The draw depends on seed, project, name and Seq, and on nothing else (not the body, not the
// order of calls).
func TestPickIsAFunctionOfTheCall(t *testing.T) {
	fr := newFaultRates(Options{FailAfterRate: 0.5})
	base := PurchaseCall{ProjectID: "p", ServerName: "n", Seq: 1, Request: []byte(`{"a":1}`)}
	first := fr.pick(1, 0, "", base)
	other := base
	other.Request = []byte(`{"b":2}`)
	if fr.pick(1, 0, "", other) != first {
		t.Fatal("the body changed the draw")
	}
	changes := map[string]func(c *PurchaseCall, seed *int64, i int){
		"seed":    func(_ *PurchaseCall, seed *int64, i int) { *seed = int64(i) },
		"project": func(c *PurchaseCall, _ *int64, i int) { c.ProjectID = "p" + strconv.Itoa(i) },
		"name":    func(c *PurchaseCall, _ *int64, i int) { c.ServerName = "n" + strconv.Itoa(i) },
		"seq":     func(c *PurchaseCall, _ *int64, i int) { c.Seq = i },
	}
	for what, change := range changes {
		seen := map[FaultKind]bool{}
		for i := 2; i < 66; i++ {
			c, seed := base, int64(1)
			change(&c, &seed, i)
			seen[fr.pick(seed, 0, "", c).Kind] = true
		}
		if len(seen) != 2 {
			t.Errorf("64 values of %s drew only %v", what, seen)
		}
	}
}

// LateCommitRate is drawn after every older kind: with it, every call draws what it drew without
// it, except that some FaultNone become FaultLateCommit, at about the rate given. So a seed that
// reproduced a run before late commits existed still does, and the kinds keep their numbers.
func TestPickAppendsLateCommit(t *testing.T) {
	if FaultNone != 0 || FaultReject != 6 || FaultLateCommit != 7 || numFaultKinds != 8 {
		t.Fatalf("fault kind numbers changed: reject %d, late commit %d, %d kinds", FaultReject, FaultLateCommit, numFaultKinds)
	}
	o := Options{ThrottleRate: 0.1, FailBeforeRate: 0.05, FailAfterRate: 0.2, HangRate: 0.02, DropRate: 0.03, RejectRate: 0.1}
	before := newFaultRates(o)
	o.LateCommitRate = 0.15
	after := newFaultRates(o)
	const n = 50000
	late := 0
	for i := range n {
		c := PurchaseCall{ProjectID: "p", ServerName: "srv-" + strconv.Itoa(i/3), Seq: 1 + i%3}
		was, is := before.pick(7, o.RejectRate, "CPS.0006", c), after.pick(7, o.RejectRate, "CPS.0006", c)
		switch {
		case is.Kind == FaultLateCommit && was.Kind == FaultNone:
			late++
			if is.After != 0 {
				t.Fatalf("a drawn late commit has After %v, want 0 (Options.LateCommitAfter)", is.After)
			}
		case is != was:
			t.Fatalf("call %+v drew %+v without LateCommitRate and %+v with it", c, was, is)
		}
	}
	if share := float64(late) / n; math.Abs(share-o.LateCommitRate) > 0.01 {
		t.Errorf("late commit share %.4f, want %.2f", share, o.LateCommitRate)
	}
}

func TestRateLimiter(t *testing.T) {
	if newRateLimiter(0) != nil {
		t.Error("rate 0 must mean unlimited")
	}
	l := newRateLimiter(1)
	t0 := newTestTime()
	if !l.allow(t0) || l.allow(t0) {
		t.Fatal("a bucket of one allows exactly one call")
	}
	if l.allow(t0.Add(-time.Hour)) {
		t.Error("a clock stepping back refilled the bucket")
	}
	if l.allow(t0.Add(999 * time.Millisecond)) {
		t.Error("refilled early")
	}
	if !l.allow(t0.Add(time.Second)) {
		t.Error("not refilled after 1/rate")
	}
}

func newTestTime() time.Time { return time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC) }
