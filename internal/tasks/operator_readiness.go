package tasks

import (
	"context"
	"time"
)

// Readiness is the store of the bought orders' lifecycle records and readiness events.
func (o *Operator) Readiness() *ReadinessStore { return NewReadinessStore(o.rdb, o.keys) }

// AwaitReady waits until the order of idempotency key key has ended: dead-lettered (ok false, the
// ledger's record in e), or bought and at the end of its lifecycle (ready, failed or timed out, in
// r). It returns ctx's error when ctx ends first. After each reading that finds it on its way, it
// calls report (when not nil) with the state it waits in: AwaitQueued, the ledger's state, or the
// lifecycle's. An order bought while tracking was off waits until ctx ends.
func (o *Operator) AwaitReady(ctx context.Context, key string, report func(state string)) (e Entry, r Readiness, err error) {
	store := o.Readiness()
	tick := time.NewTicker(awaitPollEvery)
	defer tick.Stop()
	for {
		var ok bool
		e, ok, err = o.ledger.Get(ctx, key)
		if err == nil && ok && e.State == StateSucceeded {
			var rok bool
			if r, rok, err = store.Get(ctx, key); err == nil && rok && r.State.Terminal() {
				return e, r, nil
			}
		}
		if ctx.Err() != nil {
			return e, r, ctx.Err()
		}
		if err != nil {
			return e, r, err
		}
		if ok && e.State == StateFailed && len(e.Result) > 0 {
			return e, Readiness{}, nil
		}
		if report != nil {
			switch {
			case !ok:
				report(AwaitQueued)
			case e.State == StateSucceeded && r.State != "":
				report(string(r.State))
			default:
				report(string(e.State))
			}
		}
		select {
		case <-ctx.Done():
			return e, r, ctx.Err()
		case <-tick.C:
		}
	}
}
