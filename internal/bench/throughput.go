package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/cph/cphsim"
)

// throughput is row 1: the whole pipeline (asynq, the handler with its ledger and a rate limiter
// set far above the load, the HTTP client, the simulator with no latency) next to asynq running a
// handler that does nothing, over the same orders with the same concurrency, one after the other.
func (r *run) throughput(ctx context.Context) Row {
	n, conc := r.cfg.Sizes.ThroughputOrders, r.cfg.Sizes.ThroughputConcurrency
	row := Row{Target: "≥ 0.8 × raw asynq"}
	orders, err := newOrders("t-"+r.id, n)
	if err != nil {
		return failed(err)
	}
	raw, full := r.newSpace("1raw"), r.newSpace("1")
	defer raw.cleanup(context.WithoutCancel(ctx))
	defer full.cleanup(context.WithoutCancel(ctx))
	if err := fill(ctx, raw, orders); err != nil {
		return failed(err)
	}
	if err := fill(ctx, full, orders); err != nil {
		return failed(err)
	}
	limit := time.Duration(n)*5*time.Millisecond + time.Minute // 200/s at least, far below either

	rawRun, err := process(ctx, raw, conc, n, asynq.HandlerFunc(noop), limit)
	if err != nil {
		return failed(fmt.Errorf("raw asynq: %w", err))
	}

	sim := startSim(cphsim.Options{})
	defer sim.Close()
	var ph phases
	h, err := handlerFor(full, sim, 1_000_000, &ph)
	if err != nil {
		return failed(err)
	}
	run, err := process(ctx, full, conc, n, h, limit)
	if err != nil {
		return failed(fmt.Errorf("pipeline: %w", err))
	}
	if err := checkBought(sim, n); err != nil {
		return failed(err)
	}
	ratio := run.rate / rawRun.rate
	row.Measured = fmt.Sprintf("%.0f orders/s = %.2f × raw asynq (%.0f tasks/s)", run.rate, ratio, rawRun.rate)
	row.Met = ratio >= 0.8
	row.Notes = fmt.Sprintf("%d orders each, concurrency %d, rate between the 10th and 90th percentile of completions; %s; raw asynq: %s per task and slot, CPU per task %s here + %s Redis",
		n, conc, breakdown(run, &ph, n), ms(rawRun.cycle), us(rawRun.cpu), us(rawRun.redisCPU))
	return row
}
