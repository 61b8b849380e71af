package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/strictjson"
)

// API is what the pipeline needs of the CPH API; *cph.Client is the real one.
type API interface {
	Purchase(ctx context.Context, projectID string, req *cph.PurchaseRequest) (*cph.PurchaseResponse, error)
	ListServers(ctx context.Context, projectID string, f cph.ListFilter) (*cph.ServerList, error)
}

// RebuyPolicy says what happens when reconciliation proves, after the grace, that a purchase call
// whose outcome was unknown placed no order (RECONCILE_POLICY).
type RebuyPolicy string

// Rebuy policies.
const (
	// RebuyAfterGrace sends the purchase again once the order is not listed after the call's
	// deadline plus RECONCILE_GRACE: the order is bought, at the risk of a gateway that commits
	// later than the grace.
	RebuyAfterGrace RebuyPolicy = "rebuy"
	// RebuyNever dead-letters the order as ambiguous instead: no purchase is ever sent twice
	// for one key, as Huawei's Terraform provider never re-sends this POST. An operator checks
	// the BSS orders and replays with --rebuy.
	RebuyNever RebuyPolicy = "never"
)

// ParseRebuyPolicy reads RECONCILE_POLICY.
func ParseRebuyPolicy(s string) (RebuyPolicy, error) {
	switch p := RebuyPolicy(s); p {
	case RebuyAfterGrace, RebuyNever:
		return p, nil
	case "":
		return RebuyAfterGrace, nil
	}
	return "", fmt.Errorf("must be %q or %q, got %q", RebuyAfterGrace, RebuyNever, s)
}

// DefaultReconcileGrace is how long after a purchase call's deadline an order it placed may take to
// appear in the server list. It must cover a gateway that answers 504 and whose backend commits
// later, plus the time the order takes to create its servers in the list. Huawei's Terraform
// provider waits 120 s after this purchase before it even looks for the server, and never re-sends
// the POST; ten minutes is five times that wait. It costs only time, and only for calls whose
// outcome is unknown: such an order is bought at the earliest ten minutes after its call.
const DefaultReconcileGrace = 10 * time.Minute

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
	// window in which a call with no answer can be placing an order.
	CallTimeout time.Duration
	// ReconcileGrace (RECONCILE_GRACE, DefaultReconcileGrace when zero) is how long after a call's
	// deadline its order may still appear in the server list. Only after it may "not found" mean
	// "not placed".
	ReconcileGrace time.Duration
	// Policy is what "not placed" allows (RebuyAfterGrace when empty).
	Policy RebuyPolicy
	// RateWaitMax bounds the wait for the rate limiter within one attempt.
	RateWaitMax time.Duration
	Logger      zerolog.Logger
	// Observer is told about each outcome (metrics); nil means nobody listens.
	Observer Observer
	// Tracking follows each bought order to readiness; nil switches it off.
	Tracking *Tracking
	// Credentials, when set, holds orders while the API refuses the worker's credentials instead
	// of dead-lettering them as auth (credentials.go); nil dead-letters every refused call.
	Credentials *CredentialWatcher
	// Now is the worker's clock, used for the finished_at of results and nothing else: every
	// decision about money is taken on Redis's clock. Default time.Now.
	Now func() time.Time
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
// order of these steps is what makes a purchase exactly-once (docs/design.md).
type Handler struct {
	cfg HandlerConfig
}

// NewHandler returns a handler; zero durations take their defaults (30s call timeout,
// DefaultReconcileGrace, 30s rate wait).
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.ReconcileGrace <= 0 {
		cfg.ReconcileGrace = DefaultReconcileGrace
	}
	if cfg.Policy == "" {
		cfg.Policy = RebuyAfterGrace
	}
	if cfg.RateWaitMax <= 0 {
		cfg.RateWaitMax = 30 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

// busyRecheck is the longest a copy of an order waits before it looks at a busy key again.
const busyRecheck = 2 * time.Second

// leaseMargin is the time a holder keeps for writing its outcome after its work is cut off.
const leaseMargin = 15 * time.Second

// lease is how long one delivery may hold a key: a rate-limit wait, a reconciliation and a call.
func (h *Handler) lease() time.Duration {
	return h.cfg.RateWaitMax + 2*h.cfg.CallTimeout + 2*leaseMargin
}

// delivery is one delivery of a task to the handler (or, for the sweeper, of an archived task):
// what it carries and what it holds.
type delivery struct {
	h       *Handler
	taskID  string
	payload []byte
	results *asynq.ResultWriter // nil when the task no longer runs (the sweeper)
	retried int                 // asynq's count of counted failures so far
	budget  Budget
	order   *Order
	// fingerprint is the order's Fingerprint, computed once for all its runs.
	fingerprint string
	hold        Hold
	log         zerolog.Logger
	// settled is set once the key needs no release: terminal, or released already.
	settled bool
}

// newDelivery decodes and validates the task's order. err is the order's FieldErrors when it is
// invalid; the delivery is usable either way.
func (h *Handler) newDelivery(taskType, taskID string, payload []byte, results *asynq.ResultWriter, retried, taskMaxRetry int) (*delivery, error) {
	d := &delivery{h: h, taskID: taskID, payload: payload, results: results, retried: retried,
		budget: BudgetOfTask(taskMaxRetry)}
	d.hold.Owner = newOwner()
	d.log = h.cfg.Logger.With().Str("task_id", taskID).Int("attempt", retried+1).Logger()
	order, err := decodeTask(taskType, payload, h.cfg.DefaultProjectID)
	if order != nil {
		d.order = order
		d.hold.Key, d.fingerprint = order.keyAndFingerprint()
		d.hold.ProjectID, d.hold.ServerNames = order.ProjectID, serverNames(order.Request)
		d.log = d.log.With().Str("idempotency_key", d.hold.Key).Logger()
	}
	return d, err
}

// ProcessTask implements asynq.Handler.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	d, err := h.newDelivery(t.Type(), t.ResultWriter().TaskID(), t.Payload(), t.ResultWriter(), retried, maxRetry)
	if err != nil {
		return d.deadLetterInvalid(ctx, err)
	}
	if d.budget.LastDelivery(retried) {
		return d.runToEnd(ctx)
	}
	return d.run(ctx)
}

// invalidLedgerKey is the ledger key under which an invalid order's failure is recorded.
func invalidLedgerKey(taskID string) string { return "invalid:" + taskID }

// deadLetterInvalid ends an order that breaks the rules. It is recorded under its task, not its
// key: it made no call, and its key may belong to a valid order of the same producer that is in
// flight or already bought.
func (d *delivery) deadLetterInvalid(ctx context.Context, cause error) error {
	if d.hold.Key == "" {
		d.hold.Key = invalidLedgerKey(d.taskID)
	}
	return d.deadLetterAs(ctx, invalidLedgerKey(d.taskID), "", ClassInvalid, cause)
}

// runToEnd runs the delivery on the task's last delivery, where asynq archives whatever error the
// handler returns without running it again. A retry that is nobody's failure (the key held by
// another worker, possibly a dead one until its lease ends; Redis away) is therefore waited for
// here, until the order ends or ctx does (asynq's task deadline, 30 minutes by default, or a
// shutdown, which hands the task back uncounted); otherwise the order would be left with no
// result and no dead letter.
func (d *delivery) runToEnd(ctx context.Context) error {
	for {
		err := d.run(ctx)
		var later *retryLater
		if !errors.As(err, &later) || later.counted {
			return err
		}
		d.log.Info().Err(err).Msg("last delivery: retrying here, as asynq would archive the task")
		t := time.NewTimer(max(later.after, 100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		d.settled = false
	}
}

// decodeTask decodes and validates the task's order, filling the default project.
func decodeTask(taskType string, payload []byte, defaultProject string) (*Order, error) {
	if taskType != TypePurchase {
		return nil, strictjson.FieldErrors{{Path: "(task)", Message: fmt.Sprintf("type must be %s, got %q", TypePurchase, taskType)}}
	}
	return ParseOrder(payload, func(o *Order) {
		if o.ProjectID == "" {
			o.ProjectID = defaultProject
		}
	})
}

// ErrKeyConflict means an idempotency key was reused for a different purchase.
var ErrKeyConflict = errors.New("idempotency key conflict")

// CodeKeyConflict is the error code of an order dead-lettered because its key names another purchase.
const CodeKeyConflict = "idempotency_key_conflict"

func (d *delivery) run(ctx context.Context) error {
	h := d.h
	spent := d.budget.Spent(d.retried)
	args := AcquireArgs{Hold: d.hold, TaskID: d.taskID, Fingerprint: d.fingerprint, Lease: h.lease()}
	if !spent && !d.held() {
		args.Post = &PostArgs{PostingArgs: h.posting(), MaxCalls: d.budget.Max, Limiter: h.cfg.RateLimiter}
	}
	sent := time.Now()
	claim, err := h.cfg.Ledger.Acquire(ctx, args)
	answered := time.Since(sent)
	if err != nil {
		return retryUncounted(err, 0)
	}
	switch claim.State {
	case ClaimSucceeded:
		d.log.Info().Msg("already bought: republishing the stored result, no API call")
		d.writeResult(claim.Result)
		d.track(ctx, nil, claim.Result)
		h.cfg.Observer.Outcome(outcomeDuplicate, "")
		return nil
	case ClaimFailed:
		d.log.Info().Msg("already dead-lettered in this run: keeping the stored result")
		d.writeResult(claim.Result)
		h.cfg.Observer.Outcome(outcomeDuplicate, "")
		return fmt.Errorf("order already dead-lettered: %w", asynq.SkipRetry)
	case ClaimConflict:
		return d.deadLetterAs(ctx, invalidLedgerKey(d.taskID), "", ClassInvalid, &codedError{code: CodeKeyConflict, err: fmt.Errorf(
			"%w: idempotency key %q was first used for a different purchase; this request differs from the one first submitted under it, and nothing was bought for it: submit it under a new key",
			ErrKeyConflict, d.hold.Key)})
	case ClaimBusy:
		// Come back soon rather than at the lease's end: the holder usually finishes in well under
		// its lease, and then the key is terminal and the copy ends without a call.
		wait := min(max(claim.LeaseUntil.Sub(claim.Now), 100*time.Millisecond), busyRecheck)
		d.log.Info().Time("lease_until", claim.LeaseUntil).Msg("another worker holds this key: waiting")
		h.cfg.Observer.Outcome(outcomeBusy, "")
		return retryUncounted(fmt.Errorf("another worker holds the key until %s", claim.LeaseUntil.UTC().Format(time.RFC3339)), wait)
	}
	defer func() {
		if !d.settled {
			if err := h.cfg.Ledger.Release(detached(ctx), d.hold, ""); err != nil {
				d.log.Warn().Err(err).Msg("could not release the key; it frees itself when the lease ends")
			}
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, h.lease()-leaseMargin)
	defer cancel()

	if claim.Posted > 0 {
		// The first step took the rate-limit slot and set the mark at once, somewhere inside the
		// round trip: the slot is fresh unless the answer took long.
		h.cfg.Observer.RateLimitWait(0)
		if err := d.stillInSlot(ctx, answered); err != nil {
			return err
		}
		return d.send(ctx, claim.Posted)
	}
	if claim.NamesBusy != nil {
		return d.waitForNames(ctx, claim.NamesBusy)
	}
	if claim.Unresolved != nil {
		done, err := d.reconcile(ctx, claim, spent)
		if done || err != nil {
			return err
		}
		// Reconciliation proved that the earlier call placed nothing.
	}
	if spent || claim.Attempts > d.budget.Max {
		reason := claim.LastError
		if reason == "" {
			reason = "no attempt left"
		}
		return d.deadLetter(ctx, ClassExhausted,
			fmt.Errorf("retries exhausted after %d purchase calls: last error: %s", claim.Attempts, reason))
	}
	return d.purchaseUnlessHeld(ctx)
}

// codedError is an error with an error code of ours for the result.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// detached is ctx without its cancellation: the outcome of a call must be recorded even when the
// delivery's context has just ended (shutdown, lease loss). The Redis client's own timeouts bound it.
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// newOwner is a token unique to one delivery: two deliveries never share an owner, even on one worker.
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
