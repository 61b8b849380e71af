package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hibiken/asynq"

	"cphpurchase/internal/cph"
)

// release gives the key up after a failure that will be retried, keeping the failure for later.
func (d *delivery) release(ctx context.Context, cause error) {
	if err := d.h.cfg.Ledger.Release(detached(ctx), d.hold, cause.Error()); err != nil {
		d.log.Warn().Err(err).Msg("could not release the key; it frees itself when the lease ends")
	}
	d.settled = true // released: the deferred release has nothing left to do
}

// comeBack gives the key up after a failure that will be retried (retry, from retryCounted or
// retryUncounted), keeping the failure for later, and tells the observer outcome and class.
func (d *delivery) comeBack(ctx context.Context, outcome, class string, retry error) error {
	d.release(ctx, retry)
	d.h.cfg.Observer.Outcome(outcome, class)
	return retry
}

// successWrites bounds the in-process retries of the write that records a purchase: the order
// exists, and only this process knows its id, so a Redis blip must not turn it into a reconciliation.
const successWrites = 6

// succeed records the purchase, claims its order, publishes its one result and stores it as the
// task result.
func (d *delivery) succeed(ctx context.Context, resp *cph.PurchaseResponse, reconciled bool) error {
	r := d.newResult(StatusSucceeded)
	r.OrderID, r.RequestID, r.ProductID, r.ServerIDs = resp.OrderID, resp.RequestID, resp.ProductID, resp.ServerIDs
	r.Reconciled = reconciled
	body, _ := json.Marshal(r)
	var (
		stored    []byte
		first     bool
		takenFrom string
	)
	write := func() error {
		var err error
		stored, first, takenFrom, err = d.h.cfg.Ledger.Succeed(detached(ctx),
			Success{Hold: d.hold, OrderID: resp.OrderID, Result: body, Reconciled: reconciled})
		var claimed *OrderClaimedError
		if errors.As(err, &claimed) {
			return backoff.Permanent(err)
		}
		return err
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(2*time.Second))
	err := backoff.Retry(write, backoff.WithMaxRetries(b, successWrites-1))
	var claimed *OrderClaimedError
	switch {
	case errors.As(err, &claimed):
		// Another key took the order between the list and the claim: look again.
		d.log.Info().Err(err).Msg("the order found was claimed by another key meanwhile: reconciling again")
		return retryUncounted(err, 0)
	case err != nil:
		// The order exists and the ledger does not know: the mark stays, so the next delivery
		// reconciles and finds it rather than buying again.
		d.log.Error().Err(err).Str("order_id", resp.OrderID).Msg("purchased, but the ledger could not record it; the next attempt reconciles")
		return retryUncounted(err, time.Second)
	}
	d.settled = true
	if takenFrom != "" {
		d.log.Error().Str("order_id", resp.OrderID).Str("claimed_by", takenFrom).
			Msg("the purchase call's answer names an order that another key had claimed by reconciliation; that key's result is wrong")
	}
	if !first {
		d.log.Info().Msg("another worker recorded this purchase first; keeping its result")
	}
	d.writeResult(stored)
	if first {
		d.track(ctx, r, nil) // stored is r's encoding: no need to decode it back
	} else {
		d.track(ctx, nil, stored)
	}
	d.h.cfg.Observer.Outcome(outcomeSucceeded, "")
	return nil
}

// deadLetter ends the order: the ledger's failure, the dead-letter record and the result-stream
// entry in one step, then the task result, then asynq's archive through SkipRetry.
func (d *delivery) deadLetter(ctx context.Context, class ErrorClass, cause error) error {
	return d.deadLetterAs(ctx, d.hold.Key, d.hold.Owner, class, cause)
}

// deadLetterAs is deadLetter with the failure recorded in the ledger under ledgerKey, checking
// owner unless it is empty.
func (d *delivery) deadLetterAs(ctx context.Context, ledgerKey, owner string, class ErrorClass, cause error) error {
	r := d.newResult(StatusDeadLettered)
	r.Error = resultError(class, cause)
	body, _ := json.Marshal(r)
	dl := DeadLetter{
		TaskID: d.taskID, IdempotencyKey: d.hold.Key, Queue: d.h.cfg.Queue, Class: class, Error: r.Error,
		Attempts: r.Attempts, MaxRetry: d.budget.Max, FailedAt: r.FinishedAt,
	}
	if len(d.payload) <= MaxOrderBytes && json.Valid(d.payload) {
		dl.Payload = d.payload
	}
	stored, first, err := d.h.cfg.Ledger.Fail(detached(ctx), Failure{LedgerKey: ledgerKey, Owner: owner, Result: body, DeadLetter: dl})
	if errors.Is(err, ErrLeaseLost) {
		return retryUncounted(err, time.Second)
	}
	if err != nil {
		return retryUncounted(err, 0)
	}
	d.settled = true
	d.writeResult(stored)
	if !first {
		var prior Result
		if json.Unmarshal(stored, &prior) == nil && prior.Status == StatusSucceeded {
			d.h.cfg.Observer.Outcome(outcomeSucceeded, "")
			return nil
		}
	}
	d.log.Warn().Str("class", string(class)).Err(cause).Msg("dead-lettered")
	d.h.cfg.Observer.Outcome(outcomeDeadLettered, string(class))
	return fmt.Errorf("dead-lettered (%s): %v: %w", class, cause, asynq.SkipRetry)
}

func (d *delivery) newResult(status string) *Result {
	r := &Result{
		TaskID: d.taskID, IdempotencyKey: d.hold.Key, Status: status,
		Attempts: d.retried + 1, Metadata: map[string]string{}, FinishedAt: d.h.cfg.Now().UTC(),
	}
	if d.order != nil {
		r.ProjectID = d.order.ProjectID
		if d.order.Metadata != nil {
			r.Metadata = d.order.Metadata
		}
	}
	return r
}

// writeResult stores the terminal result on the asynq task, where `asynq` tools and GetTaskInfo
// find it while the task is retained.
func (d *delivery) writeResult(b []byte) {
	if d.results == nil {
		return // the sweeper: the task is archived already, and the stream has the result
	}
	if _, err := d.results.Write(b); err != nil {
		d.log.Warn().Err(err).Msg("could not store the task result; the results stream has it")
	}
}
