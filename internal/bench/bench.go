// Package bench measures the purchase pipeline against its performance targets, in one run, on a
// real Redis and the CPH simulator over real HTTP, as `river bench` does for River. Each row of
// the report is one target: what was measured, the target, and whether it was met. A missed target
// is a result; only a row that could not be measured at all (Redis unreachable, a worker that did
// not start, an order bought twice) is an error.
//
// The rows:
//
//  1. throughput of the whole pipeline next to asynq with a no-op handler, same concurrency;
//  2. bulk enqueue with Producer.EnqueueMany next to asynq's one-by-one Enqueue;
//  3. enqueue-to-result latency at light load, through a worker process;
//  4. throughput against the ceiling that the API's latency and the concurrency set;
//  5. the fleet-wide rate limit held by three worker processes;
//  6. a worker process's memory over a long run.
//
// Every run works in queues and a results stream of its own and deletes what it made.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/redisconn"
)

// Config is one benchmark run.
type Config struct {
	// RedisURL is the Redis to measure on, in REDIS_URL's form. Benchmarks mean something only on
	// a real Redis; the run shares it, working under names of its own.
	RedisURL string
	// WorkerBin is a built cmd/worker; rows 3, 5 and 6 run it as separate processes.
	WorkerBin string
	// Sizes are the rows' sizes: FullSizes, QuickSizes or a test's own.
	Sizes Sizes
	// Quick marks a run with QuickSizes in the report.
	Quick bool
	// Rows selects rows by number (1–6); empty means all.
	Rows []int
	// Log receives progress lines; nil means none.
	Log io.Writer
}

// Sizes are how much work each row does. Bigger runs measure steadier figures and take longer.
type Sizes struct {
	// Row 1: orders per measurement and handlers (asynq concurrency).
	ThroughputOrders, ThroughputConcurrency int
	// Row 2: orders put on the queue by EnqueueMany, its concurrency, and the sample enqueued one
	// by one with asynq's Client.Enqueue (scaled to BulkOrders).
	BulkOrders, BulkConcurrency, BulkSample int
	// Row 3: orders, and orders a second.
	LatencyOrders int
	LatencyRate   float64
	// Row 4: orders, handlers, the API's latency.
	CeilingOrders, CeilingConcurrency int
	CeilingLatency                    time.Duration
	// Row 5: orders, worker processes, the fleet's rate limit.
	FleetOrders, FleetWorkers, FleetRateLimit int
	// Row 6: the orders the worker processes (those that row 2 enqueued: at most BulkOrders), and
	// its concurrency.
	MemoryOrders, MemoryConcurrency int
}

// FullSizes is `make bench`: the targets' own sizes, about four minutes on two cores.
func FullSizes() Sizes {
	return Sizes{
		ThroughputOrders: 20_000, ThroughputConcurrency: 50,
		BulkOrders: 100_000, BulkConcurrency: 32, BulkSample: 10_000,
		LatencyOrders: 200, LatencyRate: 5,
		CeilingOrders: 10_000, CeilingConcurrency: 50, CeilingLatency: 100 * time.Millisecond,
		FleetOrders: 1_000, FleetWorkers: 3, FleetRateLimit: 50,
		MemoryOrders: 100_000, MemoryConcurrency: 100,
	}
}

// QuickSizes is BENCH_QUICK=1: every row, small, in well under a minute. Its figures are rough.
func QuickSizes() Sizes {
	return Sizes{
		ThroughputOrders: 2_000, ThroughputConcurrency: 50,
		BulkOrders: 10_000, BulkConcurrency: 32, BulkSample: 2_000,
		LatencyOrders: 25, LatencyRate: 5,
		CeilingOrders: 1_000, CeilingConcurrency: 50, CeilingLatency: 100 * time.Millisecond,
		FleetOrders: 150, FleetWorkers: 3, FleetRateLimit: 50,
		MemoryOrders: 10_000, MemoryConcurrency: 100,
	}
}

// Row is one measured target.
type Row struct {
	Number   int
	Name     string
	Measured string
	Target   string
	Met      bool
	// Notes are the figures behind Measured, for the reader who wants to know why.
	Notes string
	// Err is set when the row could not be measured: a harness error, not a missed target.
	Err error
}

// Report is the outcome of a run.
type Report struct {
	// RunID names the run's queues (bench-ID-…) and streams (bench:ID:…), which it deletes at the
	// end; a run killed half way leaves them behind under these names.
	RunID   string
	Machine Machine
	Started time.Time
	Took    time.Duration
	Quick   bool
	Rows    []Row
}

// Err joins the rows' harness errors: nil when every row was measured, met or not.
func (r *Report) Err() error {
	var errs []error
	for _, row := range r.Rows {
		if row.Err != nil {
			errs = append(errs, fmt.Errorf("row %d (%s): %w", row.Number, row.Name, row.Err))
		}
	}
	return errors.Join(errs...)
}

// run is the state shared by the rows of one run.
type run struct {
	cfg Config
	rdb redis.UniversalClient
	// id names this run's queues and streams, so that runs and tests sharing a Redis never meet.
	id string
	// bulk is row 2's queue, full of orders, that row 6's worker then processes.
	bulk *space
}

// Run measures the selected rows, each as well as it can, and reports every one. The error is for
// what stops the whole run (no Redis); a row's own failure is in its Row.Err.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	opt, err := redisconn.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, rdb: redisconn.NewClient(opt), id: newID()}
	defer r.rdb.Close()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	rep := &Report{RunID: r.id, Started: time.Now(), Machine: machine(ctx, r.rdb), Quick: cfg.Quick}
	// Row 6 runs after row 2, on the orders that row 2 enqueued.
	steps := []struct {
		n    int
		name string
		fn   func(context.Context) Row
	}{
		{1, "Pipeline throughput vs raw asynq", r.throughput},
		{2, "Bulk enqueue (EnqueueMany)", r.bulkEnqueue},
		{6, "Worker memory", r.memory},
		{3, "Enqueue-to-result latency", r.latency},
		{4, "Throughput against the API-latency ceiling", r.ceiling},
		{5, "Fleet-wide rate limit, worker processes", r.fleet},
	}
	defer func() {
		if r.bulk != nil {
			r.bulk.cleanup(context.WithoutCancel(ctx))
		}
	}()
	for _, s := range steps {
		if !r.selected(s.n) {
			continue
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		r.logf("row %d: %s", s.n, s.name)
		start := time.Now()
		row := s.fn(ctx)
		row.Number, row.Name = s.n, s.name
		r.logf("row %d: %s (%s) in %s", s.n, row.summary(), row.Notes, time.Since(start).Round(100*time.Millisecond))
		rep.Rows = append(rep.Rows, row)
	}
	sortRows(rep.Rows)
	rep.Took = time.Since(rep.Started)
	return rep, nil
}

func (r *run) selected(n int) bool {
	if len(r.cfg.Rows) == 0 {
		return true
	}
	for _, m := range r.cfg.Rows {
		if m == n || (n == 2 && m == 6) { // row 6 works on row 2's orders
			return true
		}
	}
	return false
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "bench: "+format+"\n", args...)
	}
}

func (row Row) summary() string {
	switch {
	case row.Err != nil:
		return "error: " + row.Err.Error()
	case row.Met:
		return row.Measured + ": met"
	default:
		return row.Measured + ": missed"
	}
}

// failed is a row that could not be measured.
func failed(err error) Row { return Row{Err: err} }

func newID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
