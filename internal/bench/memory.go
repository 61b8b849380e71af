package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

// memoryRateLimit is the worker's CPH_RATE_LIMIT in row 6: far above what it can do, so that the
// run is as short as the worker makes it.
const memoryRateLimit = 1_000_000

// memory is row 6: one worker process at high concurrency works through the orders row 2 enqueued;
// its resident set is read from /proc at each quarter of the run.
func (r *run) memory(ctx context.Context) Row {
	if r.bulk == nil {
		return failed(errors.New("row 2 enqueued no orders to process"))
	}
	n, conc := min(r.cfg.Sizes.MemoryOrders, r.cfg.Sizes.BulkOrders), r.cfg.Sizes.MemoryConcurrency
	row := Row{Target: "< 60 MiB RSS, no growth"}
	sp := r.bulk
	defer func() {
		sp.cleanup(context.WithoutCancel(ctx))
		r.bulk = nil
	}()
	sim := startSim(cphsim.Options{})
	defer sim.Close()
	logDir, err := os.MkdirTemp("", "cphbench-")
	if err != nil {
		return failed(err)
	}
	defer os.RemoveAll(logDir)
	workers, err := r.startFleet(ctx, sp, sim.URL(), 1, workerSettings{rateLimit: memoryRateLimit, concurrency: conc}, logDir)
	if err != nil {
		return failed(err)
	}
	start := time.Now()
	samples, peak, err := sampleRSS(ctx, sim, workers[0], n)
	took := time.Since(start)
	if stopErr := workers.stop(); err == nil && stopErr != nil {
		err = stopErr
	}
	if err == nil && r.cfg.Sizes.BulkOrders == n {
		err = checkBought(sim, n)
	}
	if err != nil {
		return failed(err)
	}
	var parts []string
	for i, s := range samples {
		parts = append(parts, fmt.Sprintf("%s: %.1f", thousands(n*(i+1)/len(samples)), mb(s)))
	}
	last, first := samples[len(samples)-1], samples[0]
	growth := float64(last-first) / float64(first)
	row.Measured = fmt.Sprintf("RSS MiB after %s; peak %.1f MiB; %+.0f %% from first to last", strings.Join(parts, ", "), mb(peak), 100*growth)
	row.Met = peak < 60<<20 && growth <= 0.10
	row.Notes = fmt.Sprintf("one worker process, WORKER_CONCURRENCY=%d, %s orders in %.0f s (%.0f/s); no growth: at most +10 %% from the first quarter to the end",
		conc, thousands(n), took.Seconds(), float64(n)/took.Seconds())
	return row
}

// sampleRSS waits for the simulator to sell n orders and reads the worker's RSS when it has sold
// each quarter of them; it returns the four readings and the peak RSS at the end.
func sampleRSS(ctx context.Context, sim *simulator, w *workerProc, n int) (samples []int64, peak int64, err error) {
	deadline := time.Now().Add(time.Duration(n)*10*time.Millisecond + 2*time.Minute) // 100/s at least
	for q := 1; q <= 4; q++ {
		target := n * q / 4
		for sim.Stats().Orders < target {
			if time.Now().After(deadline) {
				return nil, 0, fmt.Errorf("the worker bought %d of %d orders in time", sim.Stats().Orders, n)
			}
			select {
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			case <-w.exited:
				return nil, 0, fmt.Errorf("worker exited: %v: %s", w.waitErr, w.tail())
			case <-time.After(10 * time.Millisecond):
			}
		}
		cur, hwm, err := w.rss()
		if err != nil {
			return nil, 0, err
		}
		samples, peak = append(samples, cur), hwm
	}
	return samples, peak, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
