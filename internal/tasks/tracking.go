package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
)

// TypeTrack is the asynq task type that follows one bought order until its servers and phones are
// usable, it fails, or its deadline passes. It lives on a queue of its own (TrackingQueue): a
// thousand orders being created are a thousand scheduled tasks, not a thousand goroutines, and a
// worker that restarts loses none of them.
const TypeTrack = "cph:server:track"

// TrackingQueue is the asynq queue of the tracking tasks of purchase queue queue.
func TrackingQueue(queue string) string { return queue + "-readiness" }

// trackTaskID is the one tracking task of idempotency key key: scheduling it twice is a no-op.
func trackTaskID(key string) string { return "track-" + digest(key) }

// Readiness defaults, as Huawei's Terraform provider waits for a server it bought.
const (
	// DefaultReadinessDeadline is READINESS_DEADLINE: Terraform's create timeout for a CPH server.
	DefaultReadinessDeadline = 90 * time.Minute
	// DefaultReadinessFirstCheck is how long after the purchase the first look is taken; Terraform
	// waits 120 s before its first, CPH creation takes minutes.
	DefaultReadinessFirstCheck = time.Minute
	// DefaultReadinessMaxInterval bounds the widening interval between looks.
	DefaultReadinessMaxInterval = 5 * time.Minute
	// DefaultReadinessRateLimit is READINESS_RATE_LIMIT: the lifecycle's GET calls a second, summed
	// over the fleet, a budget apart from CPH_RATE_LIMIT's purchases.
	DefaultReadinessRateLimit = 10
	// ReadinessConcurrency is how many tracking tasks one worker process runs at once. A look is a
	// few GETs; the fleet-wide READINESS_RATE_LIMIT, not this, sets the pace.
	ReadinessConcurrency = 4
)

// trackMaxRetry is the tracking task's asynq budget. Every look that leaves the order on its way
// comes back uncounted (IsFailure); only a panic counts, and asynq archives the task after 25.
const trackMaxRetry = 25

// readinessRateWait bounds one look's wait for a rate-limit slot; past it the look is taken later.
const readinessRateWait = 30 * time.Second

// maxPhonePages bounds the phone list of one server: 10 pages of 100 phones.
const maxPhonePages = 10

// LifecycleAPI is what following an order needs of the CPH API; *cph.Client is the real one.
type LifecycleAPI interface {
	GetServer(ctx context.Context, projectID, serverID string) (*cph.Server, error)
	ListPhones(ctx context.Context, projectID string, f cph.PhoneFilter) (*cph.PhoneList, error)
	// ListServers finds the servers of an order whose purchase answer named none.
	ListServers(ctx context.Context, projectID string, f cph.ListFilter) (*cph.ServerList, error)
}

// PaymentAPI reads a BSS order; a *cph.Client made for the BSS endpoint is the real one.
type PaymentAPI interface {
	GetOrder(ctx context.Context, orderID string) (*cph.CustomerOrder, error)
}

// LifecycleObserver is told what tracking saw, for metrics. Methods must be cheap and safe for
// concurrent use.
type LifecycleObserver interface {
	// LifecycleEntered is called when an order enters state.
	LifecycleEntered(state LifecycleState)
	// ReadyAfter is called when an order is ready, with the time since its purchase.
	ReadyAfter(d time.Duration)
}

// TrackingConfig wires a Tracking.
type TrackingConfig struct {
	API LifecycleAPI
	// BSS reads the payment of orders placed without auto-pay (BSS_ENDPOINT). nil: such an order
	// counts as awaiting payment while the API does not know its servers.
	BSS PaymentAPI
	// Redis and Keys hold the lifecycle records, the readiness stream and the tracking tasks.
	Redis redis.UniversalClient
	Keys  Keys
	// Queue is the tracking queue (TrackingQueue of the purchase queue).
	Queue string
	// RateLimiter keeps the fleet's lifecycle calls under READINESS_RATE_LIMIT; nil: no limit.
	RateLimiter *RateLimiter
	// Deadline (READINESS_DEADLINE), FirstCheck and MaxInterval; zero values take the defaults.
	Deadline, FirstCheck, MaxInterval time.Duration
	Logger                            zerolog.Logger
	// Observer is told the states orders enter; nil: nobody listens.
	Observer LifecycleObserver
	// Now is the clock of the looks' schedule and of the deadline; default time.Now. Nothing about
	// money is decided here.
	Now func() time.Time
}

// NewReadinessRateLimiter returns the fleet-wide limiter of the lifecycle calls: perSecond GET
// calls a second over every worker on rdb, with the guarantees of RateLimiter, on a key apart
// from the purchases' so that following orders never slows buying them.
func NewReadinessRateLimiter(rdb redis.UniversalClient, keys Keys, perSecond int) *RateLimiter {
	return newRateLimiter(rdb, keys.ReadinessRateLimit(), perSecond)
}

// Tracking follows bought orders to readiness: the purchase handler schedules a tracking task for
// each (Schedule), and Tracking, as the asynq handler of the tracking queue, takes a look at each
// order at a widening interval, first after FirstCheck, until it is ready, fails, or its deadline
// passes. Each look is a few GETs through the readiness rate limit; between looks nothing runs.
type Tracking struct {
	cfg    TrackingConfig
	store  *ReadinessStore
	client *asynq.Client
}

// NewTracking returns the tracking of cfg.
func NewTracking(cfg TrackingConfig) *Tracking {
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultReadinessDeadline
	}
	if cfg.FirstCheck <= 0 {
		cfg.FirstCheck = DefaultReadinessFirstCheck
	}
	if cfg.MaxInterval <= 0 {
		cfg.MaxInterval = DefaultReadinessMaxInterval
	}
	if cfg.Observer == nil {
		cfg.Observer = nopLifecycleObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tracking{cfg: cfg, store: NewReadinessStore(cfg.Redis, cfg.Keys), client: asynq.NewClientFromRedisClient(cfg.Redis)}
}

// trackTask is the payload of a tracking task: what the purchase's result and order say.
type trackTask struct {
	IdempotencyKey string   `json:"idempotency_key"`
	ProjectID      string   `json:"project_id"`
	OrderID        string   `json:"order_id"`
	ServerIDs      []string `json:"server_ids"`
	// ServerName and Count are the request's: how to find the servers when ServerIDs is short.
	ServerName  string            `json:"server_name"`
	Count       int               `json:"count"`
	AutoPay     bool              `json:"auto_pay"`
	PurchasedAt time.Time         `json:"purchased_at"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// Schedule records the bought order as ordered and schedules its tracking task, FirstCheck from
// now. Both steps are idempotent: an order scheduled before keeps its record and its one task, and
// an order whose lifecycle has ended is not tracked again.
func (t *Tracking) Schedule(ctx context.Context, tt trackTask) error {
	servers := make([]ServerReadiness, len(tt.ServerIDs))
	for i, id := range tt.ServerIDs {
		servers[i] = ServerReadiness{ServerID: id, State: LifecycleCreating}
	}
	stored, err := t.store.Start(ctx, Readiness{
		IdempotencyKey: tt.IdempotencyKey, ProjectID: tt.ProjectID, OrderID: tt.OrderID, State: LifecycleOrdered,
		Servers: servers, PurchasedAt: tt.PurchasedAt, Metadata: tt.Metadata,
	})
	if err != nil || stored.State.Terminal() {
		return err
	}
	payload, err := json.Marshal(tt)
	if err != nil {
		return fmt.Errorf("encode tracking task: %w", err)
	}
	_, err = t.client.EnqueueContext(ctx, asynq.NewTask(TypeTrack, payload),
		asynq.Queue(t.cfg.Queue), asynq.TaskID(trackTaskID(tt.IdempotencyKey)),
		asynq.ProcessIn(t.cfg.FirstCheck), asynq.MaxRetry(trackMaxRetry))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("schedule tracking of %s: %w", tt.IdempotencyKey, err)
	}
	return nil
}

// ProcessTask implements asynq.Handler: one look at one order. It ends the task when the order's
// lifecycle ends, and otherwise asks asynq, uncounted, to bring it back for the next look.
func (t *Tracking) ProcessTask(ctx context.Context, task *asynq.Task) error {
	var tt trackTask
	if err := json.Unmarshal(task.Payload(), &tt); err != nil || tt.IdempotencyKey == "" {
		t.cfg.Logger.Error().Err(err).Str("task_id", task.ResultWriter().TaskID()).Msg("a tracking task that does not decode: archived")
		return fmt.Errorf("tracking task does not decode: %v: %w", err, asynq.SkipRetry)
	}
	log := t.cfg.Logger.With().Str("idempotency_key", tt.IdempotencyKey).Str("order_id", tt.OrderID).Logger()
	rec, ok, err := t.store.Get(ctx, tt.IdempotencyKey)
	if err != nil {
		return retryUncounted(err, t.cfg.FirstCheck)
	}
	if ok && rec.State.Terminal() {
		return nil
	}
	if !ok { // the record expired or was never written: start over from the payload
		if rec, err = t.store.Start(ctx, Readiness{IdempotencyKey: tt.IdempotencyKey, ProjectID: tt.ProjectID, OrderID: tt.OrderID,
			State: LifecycleOrdered, PurchasedAt: tt.PurchasedAt, Metadata: tt.Metadata}); err != nil {
			return retryUncounted(err, t.cfg.FirstCheck)
		}
	}
	before := rec.State
	now := t.cfg.Now()
	next, lookErr := t.look(ctx, tt, rec, now)
	elapsed := now.Sub(tt.PurchasedAt)
	if !next.State.Terminal() && elapsed >= t.cfg.Deadline {
		seen := next.State
		next.State = LifecycleTimedOut
		next.Reason = fmt.Sprintf("not ready %s after the purchase (READINESS_DEADLINE): last seen %s", t.cfg.Deadline, seen)
		if lookErr != nil {
			next.Reason += "; the last look failed: " + lookErr.Error()
		}
	}
	if next.State.Terminal() {
		next.FinishedAt = &now
		stored, first, err := t.store.Finish(detached(ctx), next)
		if err != nil {
			return retryUncounted(err, time.Second)
		}
		if first {
			t.entered(before, stored, elapsed)
			log.Info().Str("state", string(stored.State)).Str("reason", stored.Reason).Msg("order lifecycle ended")
		}
		return nil
	}
	if _, written, err := t.store.Update(detached(ctx), next); err != nil {
		return retryUncounted(err, time.Second)
	} else if !written {
		return nil // another delivery ended it meanwhile
	}
	t.entered(before, next, elapsed)
	wait := t.nextLook(elapsed)
	if lookErr != nil {
		log.Info().Err(lookErr).Dur("next_look_in", wait).Msg("could not look at the order; looking again later")
		return retryUncounted(fmt.Errorf("looking at order %s: %w", tt.OrderID, lookErr), wait)
	}
	return retryUncounted(fmt.Errorf("order %s is %s: next look in %s", tt.OrderID, next.State, wait), wait)
}

// entered tells the observer about a state the order entered.
func (t *Tracking) entered(before LifecycleState, r Readiness, elapsed time.Duration) {
	if r.State == before {
		return
	}
	t.cfg.Observer.LifecycleEntered(r.State)
	if r.State == LifecycleReady {
		t.cfg.Observer.ReadyAfter(elapsed)
	}
}

// nextLook is the wait before the next look at an order bought elapsed ago: as long as it has
// waited so far (so the looks double their spacing), at least FirstCheck, at most MaxInterval, and
// never past the deadline, so that a timeout is told on time.
func (t *Tracking) nextLook(elapsed time.Duration) time.Duration {
	d := min(max(elapsed, t.cfg.FirstCheck), t.cfg.MaxInterval)
	return max(min(d, t.cfg.Deadline-elapsed), time.Millisecond)
}

// look takes one look at the order: its payment when it waits for one, then each of its servers
// not ready yet, and their phones. It returns the record as it stands, and an error when the API
// could not be read (the order is then no further than before: an outage delays, never fails).
func (t *Tracking) look(ctx context.Context, tt trackTask, rec Readiness, now time.Time) (Readiness, error) {
	rec.Checks++
	rec.CheckedAt = &now
	if !tt.AutoPay && rec.Payment != cph.PaymentCompleted && t.cfg.BSS != nil {
		o, err := limited(ctx, t.cfg.RateLimiter, func(ctx context.Context) (*cph.CustomerOrder, error) { return t.cfg.BSS.GetOrder(ctx, tt.OrderID) })
		if err != nil {
			return rec, fmt.Errorf("BSS order details: %w", err)
		}
		switch rec.Payment = cph.OrderPayment(o.Status); rec.Payment {
		case cph.PaymentCancelled:
			rec.State, rec.Reason = LifecycleFailed, fmt.Sprintf("the BSS order %s was cancelled", tt.OrderID)
			return rec, nil
		case cph.PaymentAwaiting:
			rec.State = LifecycleAwaitingPayment
			return rec, nil
		case cph.PaymentProcessing:
			rec.State = LifecycleOrdered
			return rec, nil
		}
	}
	paid := tt.AutoPay || rec.Payment == cph.PaymentCompleted
	ids, err := t.serverIDs(ctx, tt, rec)
	if err != nil {
		return rec, err
	}
	if want := max(tt.Count, 1); len(ids) < want {
		// The purchase's answer named no servers, and the list shows fewer than were bought: an
		// order not paid yet, or whose servers are not listed yet. Wait, until the deadline.
		rec.Servers = make([]ServerReadiness, len(ids))
		for i, id := range ids {
			rec.Servers[i] = ServerReadiness{ServerID: id, State: LifecycleCreating}
		}
		rec.State = LifecycleCreating
		if !paid {
			rec.State = LifecycleAwaitingPayment
		}
		return rec, nil
	}
	prev := map[string]ServerReadiness{}
	for _, s := range rec.Servers {
		prev[s.ServerID] = s
	}
	servers := make([]ServerReadiness, len(ids))
	var lookErr error
	unpaid := false
	for i, id := range ids {
		s, ok := prev[id]
		if !ok {
			s = ServerReadiness{ServerID: id, State: LifecycleCreating}
		}
		if s.State != LifecycleReady {
			var err error
			seen := s.Status != nil
			if s, err = t.lookAtServer(ctx, tt.ProjectID, id, paid, seen); err != nil {
				lookErr = errors.Join(lookErr, err)
				s = prev[id]
				s.ServerID = id
				if s.State == "" {
					s.State = LifecycleCreating
				}
			}
			unpaid = unpaid || s.State == LifecycleAwaitingPayment
		}
		servers[i] = s
	}
	rec.Servers = servers
	rec.State, rec.Reason = orderState(servers, unpaid)
	if rec.State == LifecycleFailed {
		return rec, nil // conclusive, whatever else could not be read
	}
	return rec, lookErr
}

// maxServerPages bounds the search for an order's servers by name: 10 pages of 100.
const maxServerPages = 10

// serverIDs are the order's servers: those its purchase's answer named, else those found before,
// else those the server list shows under the request's name with the order's id.
func (t *Tracking) serverIDs(ctx context.Context, tt trackTask, rec Readiness) ([]string, error) {
	if len(tt.ServerIDs) > 0 {
		return tt.ServerIDs, nil
	}
	var ids []string
	for _, s := range rec.Servers {
		ids = append(ids, s.ServerID)
	}
	if len(ids) >= max(tt.Count, 1) || tt.ServerName == "" {
		return ids, nil
	}
	ids, seen := nil, 0
	for page := 0; page < maxServerPages; page++ {
		f := cph.ListFilter{ServerName: tt.ServerName, Offset: seen, Limit: cph.DefaultListLimit}
		l, err := limited(ctx, t.cfg.RateLimiter, func(ctx context.Context) (*cph.ServerList, error) { return t.cfg.API.ListServers(ctx, tt.ProjectID, f) })
		if err != nil {
			return nil, fmt.Errorf("finding the servers of order %s: %w", tt.OrderID, err)
		}
		seen += len(l.Servers)
		for _, s := range l.Servers {
			if s.Metadata.OrderID == tt.OrderID {
				ids = append(ids, s.ServerID)
			}
		}
		if len(l.Servers) == 0 || seen >= l.Count {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("finding the servers of order %s: the server list did not end within %d pages", tt.OrderID, maxServerPages)
}

// orderState is the order's state from its servers': failed when one failed, ready when all are,
// awaiting payment when the API does not know them yet (an unpaid order without BSS), creating
// otherwise.
func orderState(servers []ServerReadiness, unpaid bool) (LifecycleState, string) {
	var reasons []string
	ready := 0
	for _, s := range servers {
		switch s.State {
		case LifecycleFailed:
			reasons = append(reasons, s.Reason)
		case LifecycleReady:
			ready++
		}
	}
	switch {
	case len(reasons) > 0:
		return LifecycleFailed, joinReasons(reasons)
	case ready == len(servers):
		return LifecycleReady, ""
	case unpaid:
		return LifecycleAwaitingPayment, ""
	}
	return LifecycleCreating, ""
}

func joinReasons(rs []string) string {
	out := rs[0]
	for _, r := range rs[1:] {
		out += "; " + r
	}
	return out
}

// lookAtServer reads one server and, once it is created, its phones. A server the API does not
// know is gone (deleted by its owner) only when the API showed it before (seen): one that was
// never shown is not created yet, or not visible yet so soon after its purchase, and waits (until
// the deadline), as does one whose order may still wait for payment (auto-pay off, no BSS to ask).
func (t *Tracking) lookAtServer(ctx context.Context, project, id string, paid, seen bool) (ServerReadiness, error) {
	s := ServerReadiness{ServerID: id, State: LifecycleCreating}
	srv, err := limited(ctx, t.cfg.RateLimiter, func(ctx context.Context) (*cph.Server, error) { return t.cfg.API.GetServer(ctx, project, id) })
	switch {
	case cph.IsNotFound(err) && !paid:
		s.State = LifecycleAwaitingPayment
		return s, nil
	case cph.IsNotFound(err) && !seen:
		return s, nil
	case cph.IsNotFound(err):
		s.State, s.Reason = LifecycleFailed, fmt.Sprintf("server %s is not known to the API any more (deleted by its owner?)", id)
		return s, nil
	case err != nil:
		return s, fmt.Errorf("server %s: %w", id, err)
	}
	status := srv.Status
	s.Status = &status
	switch cph.ServerPhase(status) {
	case cph.PhaseFailed:
		s.State, s.Reason = LifecycleFailed, fmt.Sprintf("server %s is abnormal (status %d)", id, status)
		return s, nil
	case cph.PhaseCreating:
		return s, nil
	}
	phones, err := t.phones(ctx, project, id)
	if err != nil {
		return s, fmt.Errorf("phones of server %s: %w", id, err)
	}
	s.Phones = phones
	created := 0
	for _, p := range phones {
		switch cph.PhonePhase(p.Status) {
		case cph.PhaseFailed:
			s.State, s.Reason = LifecycleFailed, fmt.Sprintf("phone %s of server %s failed (status %d)", p.PhoneID, id, p.Status)
			return s, nil
		case cph.PhaseCreated:
			created++
		}
	}
	if created > 0 && created == len(phones) {
		s.State = LifecycleReady
	}
	return s, nil
}

// phones lists every phone of one server, keeping only those that name it (should the API's
// filter be looser than its description).
func (t *Tracking) phones(ctx context.Context, project, serverID string) ([]PhoneReadiness, error) {
	var out []PhoneReadiness
	seen := 0
	for page := 0; page < maxPhonePages; page++ {
		f := cph.PhoneFilter{ServerID: serverID, Offset: seen, Limit: cph.DefaultListLimit}
		l, err := limited(ctx, t.cfg.RateLimiter, func(ctx context.Context) (*cph.PhoneList, error) { return t.cfg.API.ListPhones(ctx, project, f) })
		if err != nil {
			return nil, err
		}
		seen += len(l.Phones)
		for _, p := range l.Phones {
			if p.ServerID == serverID {
				out = append(out, PhoneReadiness{PhoneID: p.PhoneID, Status: p.Status})
			}
		}
		if len(l.Phones) == 0 || seen >= l.Count {
			return out, nil
		}
	}
	return nil, fmt.Errorf("the phone list did not end within %d pages", maxPhonePages)
}

// limited makes one call once the rate limiter gives it a slot.
func limited[T any](ctx context.Context, l *RateLimiter, call func(context.Context) (T, error)) (T, error) {
	if l != nil {
		wctx, cancel := context.WithTimeout(ctx, readinessRateWait)
		_, err := l.Wait(wctx)
		cancel()
		if err != nil {
			var zero T
			return zero, err
		}
	}
	return call(ctx)
}

// scheduleWrites bounds the in-process retries of scheduling a bought order's tracking.
const scheduleWrites = 5

// track schedules the tracking of the order this delivery bought, when tracking is on. r is its
// result; nil decodes stored, the result as the ledger holds it (another worker's, or one
// recorded by an earlier delivery). A Redis that stays away is logged: a later delivery of the
// same order (asynq hands back a task whose worker died) schedules it then.
func (d *delivery) track(ctx context.Context, r *Result, stored []byte) {
	t := d.h.cfg.Tracking
	if t == nil || d.order == nil {
		return
	}
	if r == nil {
		r = new(Result)
		if err := json.Unmarshal(stored, r); err != nil {
			return
		}
	}
	if r.Status != StatusSucceeded || r.OrderID == "" {
		return
	}
	tt := trackTask{
		IdempotencyKey: r.IdempotencyKey, ProjectID: r.ProjectID, OrderID: r.OrderID, ServerIDs: r.ServerIDs,
		ServerName: d.order.Request.ServerName, Count: d.order.Request.ServerCount(),
		AutoPay: d.order.Request.AutoPay(), PurchasedAt: r.FinishedAt, Metadata: r.Metadata,
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(2*time.Second))
	if err := backoff.Retry(func() error { return t.Schedule(detached(ctx), tt) }, backoff.WithMaxRetries(b, scheduleWrites-1)); err != nil {
		d.log.Error().Err(err).Str("order_id", r.OrderID).Msg("bought, but its readiness tracking could not be scheduled")
	}
}

type nopLifecycleObserver struct{}

func (nopLifecycleObserver) LifecycleEntered(LifecycleState) {}
func (nopLifecycleObserver) ReadyAfter(time.Duration)        {}
