package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"cphpurchase/internal/cph/cphsim"
	"time"

	"cphpurchase/internal/tasks"
)

// TestTwoWorkersShareTheRateLimit runs two worker processes, ten handlers each, against a
// simulator that enforces 5 purchases a second and counts every call beyond it. CPH_RATE_LIMIT
// is the limit of the fleet, so together they must never exceed it.
//
// It does not run in parallel with the other e2e tests: what it measures is the spacing of calls
// as they arrive, and on a starved 2-core machine (race detector, other tests' worker processes) a
// worker admitted by the limiter can wait tens of milliseconds for a CPU before it sends, which
// no limiter's spacing absorbs (gaps of 150–320 ms around the limiter's 210 ms were seen).
func TestTwoWorkersShareTheRateLimit(t *testing.T) {
	const orders, limit = 40, 5
	tr := newTestRedis(t)
	ps := newProcs(t)
	s := startSimProcess(t, ps, []string{"--rate-limit", fmt.Sprint(limit)}, nil)
	producer, _ := tr.producer(t, 3)
	env := workerEnv(tr, s.url, map[string]string{"CPH_RATE_LIMIT": fmt.Sprint(limit), "WORKER_CONCURRENCY": "10"})
	workers := []*proc{startWorker(t, ps, "worker-a", env), startWorker(t, ps, "worker-b", env)}

	names := map[string]string{}
	var keys []string
	for i := range orders {
		key, name := fmt.Sprintf("e2e/rate/%02d", i), fmt.Sprintf("e2e-rate-%02d", i)
		names[key] = name
		keys = append(keys, key)
		enqueue(t, producer, newOrder(key, name))
	}
	ledger := tasks.NewLedger(tr.rdb, tr.keys, 0)
	if open := waitTerminal(t, ledger, keys, 3*time.Minute); len(open) > 0 {
		t.Fatalf("%d orders did not end: %v", len(open), open)
	}
	checkBoughtOnce(t, tr, s, names)

	st := s.stats()
	t.Logf("purchase calls %d, orders %d, most purchases in any 1 s window %d (limit %d), rate-limit violations %d",
		st.PurchaseCalls, st.Orders, st.MaxPurchasesPerSecond, limit, st.RateLimitViolations)
	if st.RateLimitViolations != 0 {
		t.Errorf("the simulator refused %d calls beyond its limit of %d/s", st.RateLimitViolations, limit)
	}
	if st.MaxPurchasesPerSecond > limit {
		t.Errorf("the fleet sent %d purchases within one second; CPH_RATE_LIMIT is %d; gaps between arrivals: %v",
			st.MaxPurchasesPerSecond, limit, arrivalGaps(s))
	}

	if st.PurchaseCalls != orders {
		t.Errorf("purchase calls = %d, want %d: nothing was throttled, so one call per order", st.PurchaseCalls, orders)
	}
	// Both processes bought: otherwise this is a one-worker test.
	for _, w := range workers {
		n := w.countLog("purchased")
		t.Logf("%s bought %d", w.name, n)
		if n == 0 {
			t.Errorf("%s bought nothing", w.name)
		}
	}
}

// arrivalGaps lists the time between consecutive purchase calls as the simulator saw them arrive,
// to tell a limiter that admits too much from jitter on the way.
func arrivalGaps(s *sim) []time.Duration {
	var calls []cphsim.Call
	s.must(s.get("calls", &calls))
	var at []time.Time
	for _, c := range calls {
		if c.Method == "POST" && strings.HasSuffix(c.Path, "/cloud-phone/servers") {
			at = append(at, c.Time)
		}
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	gaps := make([]time.Duration, 0, len(at))
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]).Round(100*time.Microsecond))
	}
	return gaps
}

// densestSecond returns the purchase calls of the busiest one-second window, as the simulator
// counts MaxPurchasesPerSecond, to show what the fleet sent there.
func densestSecond(s *sim) []cphsim.Call {
	var calls []cphsim.Call
	s.must(s.get("calls", &calls))
	var purchases []cphsim.Call
	for _, c := range calls {
		if c.Method == "POST" && strings.HasSuffix(c.Path, "/cloud-phone/servers") {
			purchases = append(purchases, c)
		}
	}
	sort.Slice(purchases, func(i, j int) bool { return purchases[i].Time.Before(purchases[j].Time) })
	var best []cphsim.Call
	lo := 0
	for hi := range purchases {
		for !purchases[lo].Time.After(purchases[hi].Time.Add(-time.Second)) {
			lo++
		}
		if hi-lo+1 > len(best) {
			best = purchases[lo : hi+1]
		}
	}
	return best
}
