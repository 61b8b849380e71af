package cphsim_test

import (
	"net/http"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

func TestRateLimit(t *testing.T) {
	clock := newClock()
	sim, ts := start(t, cphsim.Options{RateLimit: 2, RetryAfter: 3 * time.Second, Now: clock.Now, Tokens: []string{"tok"}})
	ok := func(what string) {
		t.Helper()
		if r := purchase(t, ts, "tok", purchaseBody("rl", 1)); r.status != 200 {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
	}
	limited := func(what string) {
		t.Helper()
		r := purchase(t, ts, "tok", purchaseBody("rl", 1))
		wantError(t, r, http.StatusTooManyRequests, "APIGW.0308")
		if r.header.Get("Retry-After") != "3" {
			t.Errorf("%s: Retry-After %q", what, r.header.Get("Retry-After"))
		}
	}
	ok("first of the burst")
	ok("second of the burst")
	limited("third in the same instant")
	clock.Advance(250 * time.Millisecond)
	limited("half a token later")
	clock.Advance(250 * time.Millisecond)
	ok("a token later")
	limited("right after")
	// Calls refused by the rate limit count against it before auth: a bad token is still a call.
	if r := purchase(t, ts, "bad", purchaseBody("rl", 1)); r.status != http.StatusTooManyRequests {
		t.Errorf("bad token while limited: %d, want 429", r.status)
	}
	clock.Advance(10 * time.Second) // the bucket holds no more than a second's worth
	ok("after a pause")
	ok("after a pause, 2")
	limited("after a pause, 3")

	st := sim.Stats()
	if st.Orders != 5 || st.RateLimitViolations != 5 || st.Throttled != 5 || st.PurchaseCalls != 10 {
		t.Errorf("stats = %+v, want 5 orders, 5 violations of 10 calls", st)
	}
	if st.MaxPurchasesPerSecond != 7 {
		t.Errorf("max per second = %d, want 7 (t0: 3, +0.25 s: 1, +0.5 s: 3)", st.MaxPurchasesPerSecond)
	}
	violations := 0
	for _, c := range sim.Calls() {
		if c.RateLimited {
			violations++
			if c.Status != 429 || c.OrderID != "" || c.Fault != cphsim.FaultNone {
				t.Errorf("rate-limited call = %+v", c)
			}
		}
	}
	if violations != 5 {
		t.Errorf("%d calls marked rate-limited, want 5", violations)
	}
}

// A fleet that spaces its calls exactly 1/rate apart is never refused, rounding included.
func TestRateLimitAllowsEvenSpacing(t *testing.T) {
	clock := newClock()
	sim, ts := start(t, cphsim.Options{RateLimit: 3, Now: clock.Now})
	for range 3 { // start with the bucket empty
		purchase(t, ts, "", purchaseBody("even", 1))
	}
	for i := range 30 {
		clock.Advance(time.Second / 3)
		if r := purchase(t, ts, "", purchaseBody("even", 1)); r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
	}
	// The burst of 3 and the next 3 calls (the third at 999999999 ns) fall within one second.
	if st := sim.Stats(); st.RateLimitViolations != 0 || st.MaxPurchasesPerSecond != 6 {
		t.Errorf("stats = %+v", st)
	}
}

// A rate below one per second still lets one call through, then one per 1/rate seconds.
func TestRateLimitBelowOnePerSecond(t *testing.T) {
	clock := newClock()
	_, ts := start(t, cphsim.Options{RateLimit: 0.5, Now: clock.Now})
	want := []struct {
		after  time.Duration
		status int
	}{{0, 200}, {0, 429}, {time.Second, 429}, {time.Second, 200}, {time.Second, 429}}
	for i, w := range want {
		clock.Advance(w.after)
		if r := purchase(t, ts, "", purchaseBody("slow", 1)); r.status != w.status {
			t.Errorf("call %d: %d, want %d", i, r.status, w.status)
		}
	}
}

func TestMaxPurchasesPerSecondWindow(t *testing.T) {
	clock := newClock()
	sim, ts := start(t, cphsim.Options{Now: clock.Now})
	at := func(n int) {
		for range n {
			purchase(t, ts, "", purchaseBody("w", 1))
		}
	}
	at(3)
	clock.Advance(600 * time.Millisecond)
	at(2) // 5 within 0.6 s
	clock.Advance(600 * time.Millisecond)
	at(3) // the first 3 are 1.2 s old: 2 + 3 = 5
	clock.Advance(400 * time.Millisecond)
	at(1) // the 2 are exactly 1 s old and out: 3 + 1 = 4
	// Other calls do not count.
	listStatus(t, ts, project, "")
	if got := sim.Stats().MaxPurchasesPerSecond; got != 5 {
		t.Errorf("max per second = %d, want 5", got)
	}
	at(2) // 3 + 1 + 2 = 6 at the same instant
	if got := sim.Stats().MaxPurchasesPerSecond; got != 6 {
		t.Errorf("max per second = %d, want 6", got)
	}
}
