package bench

import (
	"context"
	"fmt"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

// ceiling is row 4: with the API answering after a fixed latency, concurrency handlers can at best
// buy concurrency/latency orders a second. The row measures how close the pipeline gets, with the
// fleet's rate limit set above that ceiling.
func (r *run) ceiling(ctx context.Context) Row {
	n, conc, lat := r.cfg.Sizes.CeilingOrders, r.cfg.Sizes.CeilingConcurrency, r.cfg.Sizes.CeilingLatency
	ceil := float64(conc) / lat.Seconds()
	row := Row{Target: fmt.Sprintf("≥ 95 %% of %.0f/s", ceil)}
	orders, err := newOrders("c-"+r.id, n)
	if err != nil {
		return failed(err)
	}
	sp := r.newSpace("4")
	defer sp.cleanup(context.WithoutCancel(ctx))
	if err := fill(ctx, sp, orders); err != nil {
		return failed(err)
	}
	sim := startSim(cphsim.Options{Latency: lat})
	defer sim.Close()
	var ph phases
	h, err := handlerFor(sp, sim, int(2*ceil), &ph)
	if err != nil {
		return failed(err)
	}
	limit := time.Duration(float64(n)/ceil*float64(time.Second))*3 + time.Minute
	run, err := process(ctx, sp, conc, n, h, limit)
	if err != nil {
		return failed(err)
	}
	if err := checkBought(sim, n); err != nil {
		return failed(err)
	}
	share := run.rate / ceil
	row.Measured = fmt.Sprintf("%.0f orders/s = %.1f %% of %.0f/s", run.rate, 100*share, ceil)
	row.Met = share >= 0.95
	row.Notes = fmt.Sprintf("%d orders, concurrency %d, API latency %s, rate limit %d/s; %s",
		n, conc, lat, int(2*ceil), breakdown(run, &ph, n))
	return row
}
