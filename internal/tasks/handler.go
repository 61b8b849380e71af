package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
)

// HandlerConfig wires a Handler.
type HandlerConfig struct {
	API    API
	Ledger *Ledger
	// RateLimiter keeps the fleet under CPH_RATE_LIMIT; nil means no limit.
	RateLimiter *RateLimiter
	// Queue is the asynq queue the handler serves, recorded in dead letters for replay.
	Queue string
	// DefaultProjectID fills an order that names no project (CPH_PROJECT_ID).
	DefaultProjectID string
	// CallTimeout is the timeout of one purchase call (CPH_TIMEOUT). It sizes the lease and the
	// time after which a call with no answer can no longer be placing an order.
	CallTimeout time.Duration
	// ReconcileGrace is how long after a call with no answer could have ended its servers may
	// take to appear in the server list. Only after it may "not found" mean "not placed".
	ReconcileGrace time.Duration
	// RateWaitMax bounds the wait for the rate limiter within one attempt.
	RateWaitMax time.Duration
	Logger      zerolog.Logger
	// Observer is told about each outcome (metrics); nil means nobody listens.
	Observer Observer
}

// Observer is told what the handler did, for metrics. Every method must be cheap and safe for
// concurrent use.
type Observer interface {
	// Outcome is called once per handler run with "succeeded", "duplicate", "dead_lettered",
	// "retry", "throttled", "busy" or "waiting", and the error class where there is one.
	Outcome(outcome string, class string)
	// PurchaseCall is called after each purchase call with its duration and HTTP status (0: none).
	PurchaseCall(d time.Duration, status int)
	// RateLimitWait is called with the time spent waiting for the fleet-wide rate limit.
	RateLimitWait(d time.Duration)
	// Reconciled is called after each reconciliation with whether the order was found.
	Reconciled(found bool)
}

// Handler processes purchase tasks: decode and validate, take the key in the ledger, reconcile an
// earlier call whose outcome is unknown, wait for the rate limit, call, classify, record. The
// order of these steps is what makes a purchase exactly-once (DESIGN.md).
type Handler struct {
	cfg HandlerConfig
	now func() time.Time
}

// NewHandler returns a handler; zero durations take their defaults (30s call timeout, 60s grace,
// 30s rate wait).
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.ReconcileGrace <= 0 {
		cfg.ReconcileGrace = 60 * time.Second
	}
	if cfg.RateWaitMax <= 0 {
		cfg.RateWaitMax = 30 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Handler{cfg: cfg, now: time.Now}
}

// busyRecheck is the longest a copy of an order waits before it looks at a busy key again.
const busyRecheck = 2 * time.Second

// leaseMargin is the time a holder keeps for writing its outcome after its work is cut off.
const leaseMargin = 15 * time.Second

// lease is how long one attempt may hold a key: a rate-limit wait, a reconciliation and a call.
func (h *Handler) lease() time.Duration {
	return h.cfg.RateWaitMax + 2*h.cfg.CallTimeout + 2*leaseMargin
}

// attempt is one run of the handler for one task.
type attempt struct {
	h       *Handler
	payload []byte
	results *asynq.ResultWriter // nil when the task no longer runs (the sweeper)
	taskID  string
	order   *Order
	key     string
	owner   string
	retried int // asynq's count of counted failures so far
	budget  int // MAX_RETRY: counted failures allowed before dead-lettering
	log     zerolog.Logger
	// settled is set once the key needs no release: terminal, or released already.
	settled bool
}

// ProcessTask implements asynq.Handler.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	a := &attempt{h: h, payload: t.Payload(), results: t.ResultWriter(), taskID: t.ResultWriter().TaskID(), owner: newOwner()}
	a.retried, _ = asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	// The task carries one retry more than the budget (see Producer.options): a slot to turn an
	// order whose last attempt crashed into a terminal result, instead of asynq archiving it
	// silently.
	a.budget = max(maxRetry-1, 0)
	a.log = h.cfg.Logger.With().Str("task_id", a.taskID).Int("attempt", a.retried+1).Logger()

	order, err := decodeTask(t, h.cfg.DefaultProjectID)
	if order != nil {
		a.order = order
		a.key = order.Key()
		a.log = a.log.With().Str("idempotency_key", a.key).Logger()
	}
	if err != nil {
		if a.key == "" {
			a.key = invalidLedgerKey(a.taskID)
		}
		// An invalid order is recorded under its task, not its key: it made no call, and its key
		// may belong to a valid order of the same producer that is in flight or already bought.
		return a.deadLetterAs(ctx, invalidLedgerKey(a.taskID), "", ClassInvalid, err)
	}
	if a.retried >= maxRetry {
		return a.runToEnd(ctx)
	}
	return a.run(ctx)
}

// invalidLedgerKey is the ledger key under which an invalid order's failure is recorded.
func invalidLedgerKey(taskID string) string { return "invalid:" + taskID }

// runToEnd runs the attempt on the task's last delivery, where asynq archives whatever error the
// handler returns without running it again. A retry that is nobody's failure (the key held by
// another worker, possibly a dead one until its lease ends; Redis away) is therefore waited for
// here, until the order ends or ctx does (asynq's task deadline, 30 minutes by default, or a
// shutdown, which hands the task back uncounted); otherwise the order would be left with no
// result and no dead letter.
func (a *attempt) runToEnd(ctx context.Context) error {
	for {
		err := a.run(ctx)
		var later *retryLater
		if !errors.As(err, &later) || later.counted {
			return err
		}
		a.log.Info().Err(err).Msg("last delivery: retrying here, as asynq would archive the task")
		t := time.NewTimer(max(later.after, 100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		a.settled = false
	}
}

// decodeTask decodes and validates the task's order, filling the default project.
func decodeTask(t *asynq.Task, defaultProject string) (*Order, error) {
	if t.Type() != TypePurchase {
		return nil, cph.FieldErrors{{Path: "(task)", Message: fmt.Sprintf("type must be %s, got %q", TypePurchase, t.Type())}}
	}
	o, err := DecodeOrder(t.Payload())
	if err != nil {
		return nil, err
	}
	if o.ProjectID == "" {
		o.ProjectID = defaultProject
	}
	return o, o.Validate()
}

func (a *attempt) run(ctx context.Context) error {
	h := a.h
	claim, err := h.cfg.Ledger.Acquire(ctx, a.key, a.owner, a.taskID, h.lease())
	if err != nil {
		return retryUncounted(err, 0)
	}
	switch claim.State {
	case ClaimSucceeded:
		a.log.Info().Msg("already bought: republishing the stored result, no API call")
		a.writeResult(claim.Result)
		h.cfg.Observer.Outcome(outcomeDuplicate, "")
		return nil
	case ClaimFailed:
		a.log.Info().Msg("already dead-lettered in this run: keeping the stored result")
		a.writeResult(claim.Result)
		h.cfg.Observer.Outcome(outcomeDuplicate, "")
		return fmt.Errorf("order already dead-lettered: %w", asynq.SkipRetry)
	case ClaimBusy:
		// Come back soon rather than at the lease's end: the holder usually finishes in well under
		// its lease, and then the key is terminal and the copy ends without a call.
		wait := min(max(claim.LeaseUntil.Sub(h.now()), 100*time.Millisecond), busyRecheck)
		a.log.Info().Time("lease_until", claim.LeaseUntil).Msg("another worker holds this key: waiting")
		h.cfg.Observer.Outcome(outcomeBusy, "")
		return retryUncounted(fmt.Errorf("another worker holds the key until %s", claim.LeaseUntil.UTC().Format(time.RFC3339)), wait)
	}
	defer func() {
		if !a.settled {
			if err := h.cfg.Ledger.Release(detached(ctx), a.key, a.owner, ""); err != nil {
				a.log.Warn().Err(err).Msg("could not release the key; it frees itself when the lease ends")
			}
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, h.lease()-leaseMargin)
	defer cancel()

	last := a.retried > a.budget
	if claim.Posting {
		done, err := a.reconcile(ctx, claim, last)
		if done || err != nil {
			return err
		}
		// Reconciliation proved that the earlier call placed nothing.
	}
	if last || claim.Attempts > a.budget {
		reason := claim.LastError
		if reason == "" {
			reason = "no attempt left"
		}
		return a.deadLetter(ctx, a.owner, ClassExhausted,
			fmt.Errorf("retries exhausted after %d purchase calls: last error: %s", claim.Attempts, reason))
	}
	return a.purchase(ctx, claim)
}

// reconcile settles an earlier purchase call whose outcome is unknown. done is true when the
// attempt ends here (err then says how); false means the earlier call placed no order.
func (a *attempt) reconcile(ctx context.Context, claim Claim, last bool) (done bool, err error) {
	h := a.h
	a.log.Info().Time("call_started", claim.PostStarted).Msg("an earlier purchase call has no known outcome: reconciling")
	resp, err := reconcile(ctx, h.cfg.API, a.order, claim.PostStarted)
	if err != nil {
		if last {
			return true, a.deadLetter(ctx, a.owner, ClassAmbiguous,
				fmt.Errorf("an earlier purchase call may have placed the order and the server list could not be read to confirm it: %w", err))
		}
		a.release(ctx, err)
		h.cfg.Observer.Outcome(outcomeRetry, "")
		return true, retryCounted(err)
	}
	h.cfg.Observer.Reconciled(resp != nil)
	if resp != nil {
		a.log.Info().Str("order_id", resp.OrderID).Msg("reconciled: the earlier call placed the order")
		return true, a.succeed(ctx, resp, true)
	}
	if !a.order.Request.AutoPay() {
		return true, a.deadLetter(ctx, a.owner, ClassAmbiguous, errors.New(
			"an earlier purchase call may have placed the order, and without extend_param.is_auto_pay=1 such an "+
				"order waits for payment in BSS and has no servers to find: check the BSS orders, then replay or delete this dead letter"))
	}
	conclusiveAt := claim.PostStarted.Add(h.cfg.CallTimeout + h.cfg.ReconcileGrace)
	if wait := conclusiveAt.Sub(h.now()); wait > 0 {
		err := fmt.Errorf("no servers found yet for an earlier call with no answer; sure only after %s", conclusiveAt.UTC().Format(time.RFC3339))
		if last {
			return true, a.deadLetter(ctx, a.owner, ClassAmbiguous, err)
		}
		a.log.Info().Dur("wait", wait).Msg("not found yet: waiting before concluding that nothing was placed")
		h.cfg.Observer.Outcome(outcomeWaiting, "")
		return true, retryUncounted(err, wait)
	}
	if err := h.cfg.Ledger.ClearPosting(detached(ctx), a.key, a.owner, false); err != nil {
		return true, retryUncounted(err, time.Second)
	}
	a.log.Info().Msg("reconciled: the earlier call placed no order")
	return false, nil
}

// purchase makes the one purchase call of this attempt and records what came of it.
func (a *attempt) purchase(ctx context.Context, claim Claim) error {
	h := a.h
	final := a.retried >= a.budget
	if h.cfg.RateLimiter != nil {
		wctx, cancel := context.WithTimeout(ctx, h.cfg.RateWaitMax)
		waited, err := h.cfg.RateLimiter.Wait(wctx)
		cancel()
		h.cfg.Observer.RateLimitWait(waited)
		if err != nil {
			h.cfg.Observer.Outcome(outcomeThrottled, "")
			return retryUncounted(fmt.Errorf("waiting for the fleet-wide rate limit: %w", err), time.Second)
		}
	}
	n, err := h.cfg.Ledger.MarkPosting(ctx, a.key, a.owner, h.cfg.CallTimeout+leaseMargin)
	if errors.Is(err, ErrNotReplicated) {
		// No call goes out on a mark a failover could lose; take it back and come again.
		a.log.Warn().Err(err).Msg("purchase call held back: the ledger's replicas did not confirm the posting mark")
		if err := h.cfg.Ledger.ClearPosting(detached(ctx), a.key, a.owner, true); err != nil {
			return retryUncounted(err, time.Second)
		}
		a.release(ctx, err)
		return retryUncounted(err, time.Second)
	}
	if err != nil {
		return retryUncounted(err, time.Second)
	}
	start := h.now()
	// The whole call, token and all, must end inside the window that the posting mark's lease and
	// reconciliation's CallTimeout+ReconcileGrace assume: a send that began later (after a slow IAM
	// token fetch, or the client's re-send after a 401) could place an order after another worker
	// had concluded from the server list that none exists, and bought it again.
	callCtx, cancelCall := context.WithTimeout(ctx, h.cfg.CallTimeout)
	resp, err := h.cfg.API.Purchase(callCtx, a.order.ProjectID, a.order.Request)
	cancelCall()
	var apiErr *cph.Error
	errors.As(err, &apiErr)
	status := 0
	if apiErr != nil {
		status = apiErr.HTTPStatus
	} else if err == nil {
		status = 200
	}
	h.cfg.Observer.PurchaseCall(h.now().Sub(start), status)
	log := a.log.With().Int("purchase_call", n).Logger()
	if err == nil {
		log.Info().Str("order_id", resp.OrderID).Msg("purchased")
		return a.succeed(ctx, resp, false)
	}
	class := cph.ClassAmbiguous
	if apiErr != nil {
		class = apiErr.Class
	}
	log.Warn().Err(err).Str("class", string(class)).Msg("purchase call failed")
	switch class {
	case cph.ClassRetryable:
		// Not processed: no order, and a throttled call does not spend a purchase attempt.
		if err := h.cfg.Ledger.ClearPosting(detached(ctx), a.key, a.owner, apiErr.Throttled); err != nil {
			return retryUncounted(err, time.Second)
		}
		if apiErr.Throttled {
			a.release(ctx, err)
			h.cfg.Observer.Outcome(outcomeThrottled, "")
			return retryUncounted(err, max(apiErr.RetryAfter, time.Second))
		}
		if final {
			return a.deadLetter(ctx, a.owner, ClassExhausted, fmt.Errorf("retries exhausted after %d purchase calls: last error: %w", n, err))
		}
		a.release(ctx, err)
		h.cfg.Observer.Outcome(outcomeRetry, "")
		return retryCounted(err)
	case cph.ClassAuth, cph.ClassRejected:
		if err := h.cfg.Ledger.ClearPosting(detached(ctx), a.key, a.owner, false); err != nil {
			return retryUncounted(err, time.Second)
		}
		dlClass := ClassRejected
		if class == cph.ClassAuth {
			dlClass = ClassAuth
		}
		return a.deadLetter(ctx, a.owner, dlClass, err)
	default: // ambiguous: the mark stays, and the next attempt reconciles before anything else
		a.release(ctx, err)
		h.cfg.Observer.Outcome(outcomeRetry, string(ClassAmbiguous))
		if final {
			// The budget is spent, but the order may exist: come back, uncounted, to find out.
			return retryUncounted(err, h.cfg.CallTimeout+h.cfg.ReconcileGrace)
		}
		return retryCounted(err)
	}
}

// release gives the key up after a failure that will be retried, keeping the failure for later.
func (a *attempt) release(ctx context.Context, cause error) {
	if err := a.h.cfg.Ledger.Release(detached(ctx), a.key, a.owner, cause.Error()); err != nil {
		a.log.Warn().Err(err).Msg("could not release the key; it frees itself when the lease ends")
	}
	a.settled = true // released: the deferred release has nothing left to do
}

// succeed records the purchase, publishes its one result and stores it as the task result.
func (a *attempt) succeed(ctx context.Context, resp *cph.PurchaseResponse, reconciled bool) error {
	r := a.newResult(StatusSucceeded)
	r.OrderID, r.RequestID, r.ProductID, r.ServerIDs = resp.OrderID, resp.RequestID, resp.ProductID, resp.ServerIDs
	r.Reconciled = reconciled
	body, _ := json.Marshal(r)
	stored, first, err := a.h.cfg.Ledger.Succeed(detached(ctx), a.key, body)
	if err != nil {
		// The order exists and the ledger does not know: keep the mark, so the next attempt
		// reconciles and finds it rather than buying again.
		a.log.Error().Err(err).Str("order_id", resp.OrderID).Msg("purchased, but the ledger could not record it; the next attempt reconciles")
		return retryUncounted(err, time.Second)
	}
	a.settled = true
	if !first {
		a.log.Info().Msg("another worker recorded this purchase first; keeping its result")
	}
	a.writeResult(stored)
	a.h.cfg.Observer.Outcome(outcomeSucceeded, "")
	return nil
}

// deadLetter ends the order: the ledger's failure, the dead-letter record and the result-stream
// entry in one step, then the task result, then asynq's archive through SkipRetry.
func (a *attempt) deadLetter(ctx context.Context, owner string, class ErrorClass, cause error) error {
	return a.deadLetterAs(ctx, a.key, owner, class, cause)
}

// deadLetterAs is deadLetter with the failure recorded in the ledger under ledgerKey.
func (a *attempt) deadLetterAs(ctx context.Context, ledgerKey, owner string, class ErrorClass, cause error) error {
	r := a.newResult(StatusDeadLettered)
	r.Error = resultError(class, cause)
	body, _ := json.Marshal(r)
	dl := DeadLetter{
		TaskID: a.taskID, IdempotencyKey: a.key, Queue: a.h.cfg.Queue, Class: class, Error: r.Error,
		Attempts: r.Attempts, MaxRetry: a.budget, FailedAt: r.FinishedAt,
	}
	if len(a.payload) <= MaxOrderBytes && json.Valid(a.payload) {
		dl.Payload = a.payload
	}
	stored, first, err := a.h.cfg.Ledger.Fail(detached(ctx), ledgerKey, owner, body, dl)
	if errors.Is(err, ErrLeaseLost) {
		return retryUncounted(err, time.Second)
	}
	if err != nil {
		return retryUncounted(err, 0)
	}
	a.settled = true
	a.writeResult(stored)
	if !first {
		var prior Result
		if json.Unmarshal(stored, &prior) == nil && prior.Status == StatusSucceeded {
			a.h.cfg.Observer.Outcome(outcomeSucceeded, "")
			return nil
		}
	}
	a.log.Warn().Str("class", string(class)).Err(cause).Msg("dead-lettered")
	a.h.cfg.Observer.Outcome(outcomeDeadLettered, string(class))
	return fmt.Errorf("dead-lettered (%s): %v: %w", class, cause, asynq.SkipRetry)
}

func (a *attempt) newResult(status string) *Result {
	r := &Result{
		TaskID: a.taskID, IdempotencyKey: a.key, Status: status,
		Attempts: a.retried + 1, Metadata: map[string]string{}, FinishedAt: a.h.now().UTC(),
	}
	if a.order != nil {
		r.ProjectID = a.order.ProjectID
		if a.order.Metadata != nil {
			r.Metadata = a.order.Metadata
		}
	}
	return r
}

// writeResult stores the terminal result on the asynq task, where `asynq` tools and GetTaskInfo
// find it while the task is retained.
func (a *attempt) writeResult(b []byte) {
	if a.results == nil {
		return // the sweeper: the task is archived already, and the stream has the result
	}
	if _, err := a.results.Write(b); err != nil {
		a.log.Warn().Err(err).Msg("could not store the task result; the results stream has it")
	}
}

// detached is ctx without its cancellation: the outcome of a call must be recorded even when the
// attempt's context has just ended (shutdown, lease loss). The Redis client's own timeouts bound it.
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// newOwner is a token unique to one attempt: two attempts never share an owner, even on one worker.
func newOwner() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type nopObserver struct{}

func (nopObserver) Outcome(string, string)          {}
func (nopObserver) PurchaseCall(time.Duration, int) {}
func (nopObserver) RateLimitWait(time.Duration)     {}
func (nopObserver) Reconciled(bool)                 {}
