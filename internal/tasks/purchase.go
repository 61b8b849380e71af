package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cphpurchase/internal/cph"
)

// purchase makes the one purchase call of this delivery and records what came of it: wait for the
// fleet-wide rate limit, set the posting mark, call, and settle the outcome by its class. (When
// nothing has to come first, Acquire has set the mark already and the delivery goes to send.)
func (d *delivery) purchase(ctx context.Context) error {
	if err := d.admit(ctx); err != nil {
		return err
	}
	admitted := time.Now()
	n, err := d.markPosting(ctx)
	if err != nil {
		return err
	}
	if err := d.stillInSlot(ctx, time.Since(admitted)); err != nil {
		return err
	}
	return d.send(ctx, n)
}

// send makes the purchase call, the n-th for the key, under its posting mark, and settles it.
func (d *delivery) send(ctx context.Context, n int) error {
	resp, err := d.call(ctx)
	if err == nil {
		d.log.Info().Int("purchase_call", n).Str("order_id", resp.OrderID).Msg("purchased")
		return d.succeed(ctx, resp, false)
	}
	return d.settleFailedCall(ctx, n, err)
}

// admit waits for the fleet-wide rate limit.
func (d *delivery) admit(ctx context.Context) error {
	h := d.h
	if h.cfg.RateLimiter == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, h.cfg.RateWaitMax)
	waited, err := h.cfg.RateLimiter.Wait(wctx)
	cancel()
	h.cfg.Observer.RateLimitWait(waited)
	if err != nil {
		h.cfg.Observer.Outcome(outcomeThrottled, "")
		return retryUncounted(fmt.Errorf("waiting for the fleet-wide rate limit: %w", err), time.Second)
	}
	return nil
}

// slotTolerance is the least lateness stillInSlot tolerates: a mark takes a millisecond or two,
// and far more on a busy machine; at a high CPH_RATE_LIMIT one slot's interval is shorter than
// that, and re-queueing every call would starve the fleet instead of protecting the API.
const slotTolerance = 50 * time.Millisecond

// stillInSlot lets the call go only while its rate-limit slot is fresh. The mark is a Redis write:
// when Redis is slow or away, every handler whose slot passed meanwhile would send the moment it
// answers again, in a burst over CPH_RATE_LIMIT. A call held up longer than one slot's interval
// (at least slotTolerance) takes its mark back, uncounted, and waits for a slot of its own again.
func (d *delivery) stillInSlot(ctx context.Context, late time.Duration) error {
	h := d.h
	if h.cfg.RateLimiter == nil || late <= max(h.cfg.RateLimiter.Interval(), slotTolerance) {
		return nil
	}
	err := fmt.Errorf("the posting mark took %s, past the rate-limit slot: waiting for a new slot", late.Round(time.Millisecond))
	d.log.Info().Err(err).Msg("purchase call held back")
	if cerr := h.cfg.Ledger.ClearPosting(detached(ctx), d.hold, ClearArgs{Refund: true}); cerr != nil {
		return retryUncounted(cerr, time.Second)
	}
	return d.comeBack(ctx, outcomeThrottled, "", retryUncounted(err, 0))
}

// posting is the posting mark's timing for a call of this handler.
func (h *Handler) posting() PostingArgs {
	return PostingArgs{CallTimeout: h.cfg.CallTimeout, Lease: h.cfg.CallTimeout + leaseMargin, NameHold: h.nameHold()}
}

// markPosting sets the posting mark and takes the name lock before the call. It returns the number
// of calls sent for the key, this one included.
func (d *delivery) markPosting(ctx context.Context) (int, error) {
	h := d.h
	n, err := h.cfg.Ledger.MarkPosting(ctx, d.hold, h.posting())
	var busy *NameBusyError
	switch {
	case err == nil:
		return n, nil
	case errors.As(err, &busy):
		return 0, d.waitForNames(ctx, busy)
	case errors.Is(err, ErrNotReplicated):
		// No call goes out on a mark a failover could lose; take it back and come again.
		d.log.Warn().Err(err).Msg("purchase call held back: the ledger's replicas did not confirm the posting mark")
		if err := h.cfg.Ledger.ClearPosting(detached(ctx), d.hold, ClearArgs{Refund: true}); err != nil {
			return 0, retryUncounted(err, time.Second)
		}
		d.release(ctx, err)
		return 0, retryUncounted(err, time.Second)
	}
	return 0, retryUncounted(err, time.Second)
}

// waitForNames gives the key back, uncounted, while another key's call for one of the order's
// server names has no known outcome: the name lock (docs/design.md "The name lock").
func (d *delivery) waitForNames(ctx context.Context, busy *NameBusyError) error {
	d.log.Info().Dur("wait", busy.Wait).Msg("another key's purchase call for this server name has no known outcome yet: waiting")
	return d.comeBack(ctx, outcomeWaiting, "", retryUncounted(busy, min(busy.Wait+10*time.Millisecond, busyRecheck)))
}

// call sends the purchase. The whole call, token and all, must end inside the window that the
// posting mark and the name lock assume: a send that began later (after a slow IAM token fetch, or
// the client's re-send after a 401) could place an order after another worker had concluded from
// the server list that none exists, and bought it again.
func (d *delivery) call(ctx context.Context) (*cph.PurchaseResponse, error) {
	h := d.h
	start := time.Now()
	callCtx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout)
	resp, err := h.cfg.API.Purchase(callCtx, d.order.ProjectID, d.order.Request)
	cancel()
	status := 0
	var apiErr *cph.Error
	switch {
	case err == nil:
		status = 200
	case errors.As(err, &apiErr):
		status = apiErr.HTTPStatus
	}
	h.cfg.Observer.PurchaseCall(time.Since(start), status)
	return resp, err
}

// settleFailedCall records a purchase call that failed, by its class: provably not processed
// (retry), refused (dead letter), or unknown (the mark stays; the next delivery reconciles).
func (d *delivery) settleFailedCall(ctx context.Context, n int, err error) error {
	h := d.h
	final := d.budget.Final(d.retried)
	class := cph.ClassAmbiguous
	var apiErr *cph.Error
	if errors.As(err, &apiErr) {
		class = apiErr.Class
	}
	d.log.Warn().Err(err).Int("purchase_call", n).Str("class", string(class)).Msg("purchase call failed")
	switch class {
	case cph.ClassRetryable:
		// Not processed: no order, and a throttled call does not spend a purchase attempt.
		if err := h.cfg.Ledger.ClearPosting(detached(ctx), d.hold, ClearArgs{Refund: apiErr.Throttled}); err != nil {
			return retryUncounted(err, time.Second)
		}
		if apiErr.Throttled {
			return d.comeBack(ctx, outcomeThrottled, "", retryUncounted(err, max(apiErr.RetryAfter, time.Second)))
		}
		if final {
			return d.deadLetter(ctx, ClassExhausted, fmt.Errorf("retries exhausted after %d purchase calls: last error: %w", n, err))
		}
		return d.comeBack(ctx, outcomeRetry, "", retryCounted(err))
	case cph.ClassAuth, cph.ClassRejected:
		if err := h.cfg.Ledger.ClearPosting(detached(ctx), d.hold, ClearArgs{Refund: class == cph.ClassAuth}); err != nil {
			return retryUncounted(err, time.Second)
		}
		dlClass := ClassRejected
		if class == cph.ClassAuth {
			return d.authRefused(ctx, err)
		}
		return d.deadLetter(ctx, dlClass, err)
	default: // ambiguous: the mark stays, and the next delivery reconciles before anything else
		if final {
			// The budget is spent, but the order may exist: come back, uncounted, to find out.
			return d.comeBack(ctx, outcomeRetry, string(ClassAmbiguous), retryUncounted(err, h.recheck()))
		}
		return d.comeBack(ctx, outcomeRetry, string(ClassAmbiguous), retryCounted(err))
	}
}
