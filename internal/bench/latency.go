package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
)

// latencyRateLimit is the worker's CPH_RATE_LIMIT in row 3: far above the load, so that what is
// measured is the pipeline, not the limiter spacing calls.
const latencyRateLimit = 100

// latency is row 3: orders arrive one at a time at a light, steady rate at an idle worker process;
// each is timed from the call to Producer.Enqueue to its result arriving on the results stream.
func (r *run) latency(ctx context.Context) Row {
	n, rate := r.cfg.Sizes.LatencyOrders, r.cfg.Sizes.LatencyRate
	row := Row{Target: "p99 < 100 ms"}
	orders, err := newOrders("l-"+r.id, n)
	if err != nil {
		return failed(err)
	}
	sp := r.newSpace("3")
	defer sp.cleanup(context.WithoutCancel(ctx))
	sim := startSim(cphsim.Options{})
	defer sim.Close()
	logDir, err := os.MkdirTemp("", "cphbench-")
	if err != nil {
		return failed(err)
	}
	defer os.RemoveAll(logDir)
	workers, err := r.startFleet(ctx, sp, sim.URL(), 1, workerSettings{rateLimit: latencyRateLimit}, logDir)
	if err != nil {
		return failed(err)
	}
	lat, err := r.measureLatency(ctx, sp, orders, rate)
	if stopErr := workers.stop(); err == nil && stopErr != nil {
		err = stopErr
	}
	if err == nil {
		err = checkBought(sim, n)
	}
	if err != nil {
		return failed(err)
	}
	slices.Sort(lat)
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	row.Measured = fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99))
	row.Met = p99 < 100*time.Millisecond
	row.Notes = fmt.Sprintf("%d orders at %g/s to one idle worker process (TASK_CHECK_INTERVAL default, CPH_RATE_LIMIT=%d); max %s",
		n, rate, latencyRateLimit, ms(lat[len(lat)-1]))
	return row
}

// measureLatency enqueues orders at rate a second and returns, for each, the time from the call
// to Enqueue to its result on the results stream.
func (r *run) measureLatency(ctx context.Context, sp *space, orders []*tasks.Order, rate float64) ([]time.Duration, error) {
	index := make(map[string]int, len(orders))
	for i, o := range orders {
		index[o.Key()] = i
	}
	sent := make([]time.Time, len(orders))
	arrived := make([]time.Time, len(orders))
	limit := time.Duration(float64(len(orders))/rate*float64(time.Second)) + 30*time.Second
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	readErr := make(chan error, 1)
	go func() { readErr <- readArrivals(rctx, sp, index, arrived) }()

	op, err := sp.operator()
	if err != nil {
		return nil, err
	}
	p := op.Producer()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for i, o := range orders {
		select {
		case <-rctx.Done():
			return nil, fmt.Errorf("enqueueing: %w", rctx.Err())
		case <-tick.C:
		}
		sent[i] = time.Now()
		res, err := p.Enqueue(rctx, o)
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		if res.Status != tasks.EnqueueEnqueued {
			return nil, fmt.Errorf("enqueue %s: %s", res.IdempotencyKey, res.Status)
		}
	}
	if err := <-readErr; err != nil {
		return nil, err
	}
	lat := make([]time.Duration, len(orders))
	for i := range orders {
		lat[i] = arrived[i].Sub(sent[i])
	}
	return lat, nil
}

// readArrivals follows the results stream and stamps, by order index, when each result arrived,
// until every order has one. A result that is not a success is an error.
func readArrivals(ctx context.Context, sp *space, index map[string]int, arrived []time.Time) error {
	from, seen := "0", 0
	for seen < len(arrived) {
		streams, err := sp.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{sp.stream, from}, Count: 100, Block: time.Second}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return fmt.Errorf("read results: %w (%d of %d results)", err, seen, len(arrived))
		}
		now := time.Now()
		for _, s := range streams {
			for _, m := range s.Messages {
				from = m.ID
				key, _ := m.Values["idempotency_key"].(string)
				i, ok := index[key]
				if !ok || !arrived[i].IsZero() {
					return fmt.Errorf("unexpected result for %q", key)
				}
				if st, _ := m.Values["status"].(string); st != tasks.StatusSucceeded {
					return fmt.Errorf("order %s: %s: %v", key, st, m.Values["result"])
				}
				arrived[i] = now
				seen++
			}
		}
	}
	return nil
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// ms writes d in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
