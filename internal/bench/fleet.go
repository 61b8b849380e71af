package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

// fleet is row 5: several worker processes share one CPH_RATE_LIMIT through Redis. The simulator
// enforces the same limit and counts every call beyond it, and its busiest second.
func (r *run) fleet(ctx context.Context) Row {
	n, procs, limit := r.cfg.Sizes.FleetOrders, r.cfg.Sizes.FleetWorkers, r.cfg.Sizes.FleetRateLimit
	row := Row{Target: fmt.Sprintf("%.1f–%d/s, never above %d", 0.95*float64(limit), limit, limit)}
	orders, err := newOrders("f-"+r.id, n)
	if err != nil {
		return failed(err)
	}
	sp := r.newSpace("5")
	defer sp.cleanup(context.WithoutCancel(ctx))
	if err := fill(ctx, sp, orders); err != nil {
		return failed(err)
	}
	sim := startSim(cphsim.Options{RateLimit: float64(limit)})
	defer sim.Close()
	logDir, err := os.MkdirTemp("", "cphbench-")
	if err != nil {
		return failed(err)
	}
	defer os.RemoveAll(logDir)
	workers, err := r.startFleet(ctx, sp, sim.URL(), procs, workerSettings{rateLimit: limit}, logDir)
	if err != nil {
		return failed(err)
	}
	err = waitOrders(ctx, sim, n, time.Duration(2*n/limit)*time.Second+time.Minute)
	if stopErr := workers.stop(); err == nil && stopErr != nil {
		err = stopErr
	}
	if err == nil {
		err = checkBought(sim, n)
	}
	if err != nil {
		return failed(err)
	}
	st := sim.Stats()
	rate := purchaseRate(sim.Calls())
	row.Measured = fmt.Sprintf("%.1f purchases/s; busiest second %d; %d over the limit", rate, st.MaxPurchasesPerSecond, st.RateLimitViolations)
	// The limiter guarantees at most limit admissions in any second of Redis's clock; at the API,
	// where each call arrives some varying time after its slot, at most limit+1 in any second while
	// those delays differ by less than one interval, and no refusal from an API that allows a
	// second's burst (see "What is guaranteed" on tasks.RateLimiter). The +1 is scheduling jitter.
	row.Met = rate >= 0.95*float64(limit) && rate <= float64(limit) && st.MaxPurchasesPerSecond <= limit+1 && st.RateLimitViolations == 0
	row.Notes = fmt.Sprintf("%d orders, %d worker processes with CPH_RATE_LIMIT=%d, simulator limit %d/s; %d purchase calls, %d throttled",
		n, procs, limit, limit, st.PurchaseCalls, st.Throttled)
	return row
}

// waitOrders polls the simulator until it has sold n orders, or fails after limit.
func waitOrders(ctx context.Context, sim *simulator, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if sim.Stats().Orders >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("the simulator sold %d of %d orders within %s", sim.Stats().Orders, n, limit)
}

// purchaseRate is the purchase calls a second between the first and the last one.
func purchaseRate(calls []cphsim.Call) float64 {
	var at []time.Time
	for _, c := range calls {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/cloud-phone/servers") {
			at = append(at, c.Time)
		}
	}
	if len(at) < 2 {
		return 0
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return float64(len(at)-1) / at[len(at)-1].Sub(at[0]).Seconds()
}
