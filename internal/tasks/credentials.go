package tasks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
)

// CheckCredentials asks the CPH API, with one cheap read, whether it accepts the worker's
// credentials: the first server of projectID's list, the call reconciliation makes. It returns
// nil when they are accepted, an error for which CredentialsRefused holds when the API (or IAM,
// or the token file) refused them, and any other error when the question could not be answered
// (the API unreachable or failing), which says nothing about the credentials.
func CheckCredentials(ctx context.Context, api API, projectID string) error {
	_, err := api.ListServers(ctx, projectID, cph.ListFilter{Limit: 1})
	return err
}

// CredentialsRefused reports whether err says that the credentials are wrong: a 401 (APIGW.0301)
// even with a fresh token, or a token source that refused them (IAM's 4xx, a token file that
// cannot be read). An unreachable IAM is not a refusal (cph.ErrTokenUnavailable).
func CredentialsRefused(err error) bool {
	class, ok := cph.ClassOf(err)
	return ok && class == cph.ClassAuth
}

// Credential watcher defaults.
const (
	DefaultCredentialMinBackoff = time.Second
	DefaultCredentialMaxBackoff = time.Minute
	// credentialHoldRecheck is when a delivery held for refused credentials comes back: soon,
	// since a paused queue keeps it pending anyway and a fixed worker should not wait long.
	credentialHoldRecheck = 5 * time.Second
)

// CredentialWatcherConfig wires a CredentialWatcher.
type CredentialWatcherConfig struct {
	// API is the client whose credentials are watched, the one the handler buys with.
	API API
	// ProjectID is the project whose server list the checks read (CPH_PROJECT_ID). Empty: the
	// project of the order whose purchase call was refused.
	ProjectID string
	// Operator holds the queue while the credentials are refused, and lifts the hold.
	Operator *Operator
	Logger   zerolog.Logger
	// MinBackoff and MaxBackoff bound the wait between two checks while the credentials are
	// refused (DefaultCredentialMinBackoff, DefaultCredentialMaxBackoff when zero). Every
	// MaxBackoff the watcher also looks for a hold that another worker left behind.
	MinBackoff, MaxBackoff time.Duration
}

// CredentialWatcher stops the worker from taking orders while the CPH API refuses its credentials,
// instead of dead-lettering every order as auth (docs/design.md, "When the credentials go bad").
// When a purchase call is refused (401 after a fresh token), the handler asks Confirm: one read
// call tells a refused token from an order the API refuses for its own reasons. Refused, the
// watcher pauses the queue (Operator.HoldForCredentials), fails readiness with the reason
// (Refused), sets cph_purchase_credentials_refused to 1 and logs it; the order comes back
// uncounted, and the worker holds every order it still gets without calling. Run then checks the
// credentials with backoff and, once they are accepted, lifts the hold: the orders that waited are
// bought. A watcher is safe for concurrent use.
type CredentialWatcher struct {
	cfg         CredentialWatcherConfig
	refusedDesc *prometheus.Desc
	wake        chan struct{}
	checking    sync.Mutex // one check at a time: a burst of refused calls makes one read call

	mu      sync.Mutex
	reason  string // why the credentials are refused; "" while they are accepted
	project string // the project the checks read
}

// NewCredentialWatcher returns a watcher whose credentials are taken to be accepted; the worker
// checks them once before it starts (CheckCredentials).
func NewCredentialWatcher(cfg CredentialWatcherConfig) *CredentialWatcher {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultCredentialMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultCredentialMaxBackoff, cfg.MinBackoff)
	}
	return &CredentialWatcher{
		cfg: cfg,
		refusedDesc: prometheus.NewDesc(prometheus.BuildFQName(MetricsNamespace, "credentials", "refused"),
			"1 while the CPH API refuses this worker's credentials: it holds the purchase queue and takes no orders until they work again.", nil, nil),
		wake:    make(chan struct{}, 1),
		project: cfg.ProjectID,
	}
}

// Refused is why the API refuses the credentials, or "" while they are accepted. It never holds a
// secret: it is an error message of the cph client, which never does.
func (w *CredentialWatcher) Refused() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reason
}

// Confirm is asked after a purchase call of projectID was refused with the token (class auth): it
// reports whether the worker's credentials are refused, so that the order waits, or whether they
// are accepted, so that the refusal is the order's own (a project the credentials may not buy in)
// and the order is dead-lettered auth. A check that cannot be made (the API unreachable) says
// refused for this order, which then comes back uncounted, but holds nothing.
func (w *CredentialWatcher) Confirm(ctx context.Context, projectID string) bool {
	if w.Refused() != "" {
		return true
	}
	w.checking.Lock()
	defer w.checking.Unlock()
	if w.Refused() != "" {
		return true // refused by the check that ran while this one waited
	}
	project := w.cfg.ProjectID
	if project == "" {
		project = projectID
	}
	err := CheckCredentials(ctx, w.cfg.API, project)
	switch {
	case err == nil:
		return false
	case CredentialsRefused(err):
		w.refuse(ctx, project, err)
		return true
	}
	w.cfg.Logger.Warn().Err(err).Msg("a purchase call's token was refused and the credentials could not be checked: the order waits")
	return true
}

// refuse records that the credentials are refused, holds the queue and wakes Run.
func (w *CredentialWatcher) refuse(ctx context.Context, project string, cause error) {
	reason := fmt.Sprintf("the CPH API refuses the credentials: %v", cause)
	w.mu.Lock()
	first := w.reason == ""
	w.reason, w.project = reason, project
	w.mu.Unlock()
	if !first {
		return
	}
	held, err := w.cfg.Operator.HoldForCredentials(detached(ctx), reason)
	log := w.cfg.Logger.Error().Str("reason", reason).Str("queue", w.cfg.Operator.Queue())
	switch {
	case err != nil:
		log.AnErr("hold_error", err).Msg("credentials refused: could not pause the queue; this worker holds the orders it gets without calling, and checks the credentials again with backoff")
	case held:
		log.Msg("credentials refused: queue paused, orders wait uncounted; checking the credentials again with backoff, and resuming once they work (fix CPH_TOKEN, CPH_TOKEN_FILE or IAM_*)")
	default:
		log.Msg("credentials refused: the queue was paused by an operator already and stays so; this worker holds the orders it gets and checks the credentials again with backoff")
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run checks refused credentials again, waiting MinBackoff, then twice as long each time up to
// MaxBackoff, and lifts the hold once they are accepted. While they are accepted it looks, every
// MaxBackoff and once at start, for a hold that a worker left behind (one that stopped, or whose
// credentials alone were wrong) and lifts it when this worker's credentials work. It returns when
// ctx ends.
func (w *CredentialWatcher) Run(ctx context.Context) {
	w.liftLeftHold(ctx)
	delay := w.cfg.MinBackoff
	for {
		wait := w.cfg.MaxBackoff
		if w.Refused() != "" {
			wait = delay
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
			t.Stop()
			delay = w.cfg.MinBackoff
			continue
		case <-t.C:
		}
		if w.Refused() == "" {
			w.liftLeftHold(ctx)
			continue
		}
		if w.recheck(ctx) {
			delay = w.cfg.MinBackoff
		} else {
			delay = min(2*delay, w.cfg.MaxBackoff)
		}
	}
}

// recheck checks refused credentials again and reports whether they are accepted now.
func (w *CredentialWatcher) recheck(ctx context.Context) bool {
	w.checking.Lock()
	defer w.checking.Unlock()
	w.mu.Lock()
	project := w.project
	w.mu.Unlock()
	err := CheckCredentials(ctx, w.cfg.API, project)
	switch {
	case err == nil:
	case CredentialsRefused(err):
		w.cfg.Logger.Info().Err(err).Msg("credentials still refused; the queue stays held")
		return false
	default:
		w.cfg.Logger.Info().Err(err).Msg("credentials could not be checked; the queue stays held")
		return false
	}
	w.mu.Lock()
	w.reason = ""
	w.mu.Unlock()
	lifted, err := w.cfg.Operator.LiftCredentialHold(detached(ctx))
	log := w.cfg.Logger.Warn().Str("queue", w.cfg.Operator.Queue())
	switch {
	case err != nil:
		log.AnErr("lift_error", err).Msg("credentials accepted again, but the queue's hold could not be lifted; the watcher tries again, or run `enqueue queue resume`")
	case lifted:
		log.Msg("credentials accepted again: queue resumed")
	default:
		log.Msg("credentials accepted again: this worker takes orders again (the queue was not held by a worker)")
	}
	return true
}

// liftLeftHold lifts a hold for credentials that is there while this worker's credentials are
// accepted, after checking them: the worker that held the queue may have stopped, or may be the
// only one with wrong credentials.
func (w *CredentialWatcher) liftLeftHold(ctx context.Context) {
	reason, err := w.cfg.Operator.CredentialHold(ctx)
	if err != nil || reason == "" {
		return
	}
	w.mu.Lock()
	project := w.project
	w.mu.Unlock()
	if project == "" {
		return // no project to check with: the worker that held it, or an operator, lifts it
	}
	w.checking.Lock()
	err = CheckCredentials(ctx, w.cfg.API, project)
	w.checking.Unlock()
	switch {
	case err == nil:
		if lifted, err := w.cfg.Operator.LiftCredentialHold(detached(ctx)); err == nil && lifted {
			w.cfg.Logger.Warn().Str("queue", w.cfg.Operator.Queue()).Str("held_for", reason).
				Msg("the queue was held for refused credentials, and this worker's are accepted: queue resumed")
		}
	case CredentialsRefused(err):
		w.refuse(ctx, project, err)
	}
}

// Describe implements prometheus.Collector.
func (w *CredentialWatcher) Describe(ch chan<- *prometheus.Desc) { ch <- w.refusedDesc }

// Collect implements prometheus.Collector: cph_purchase_credentials_refused.
func (w *CredentialWatcher) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	if w.Refused() != "" {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(w.refusedDesc, prometheus.GaugeValue, v)
}

// held reports whether the worker knows that the API refuses its credentials: then no call goes
// out, and no posting mark is set for one either.
func (d *delivery) held() bool {
	return d.h.cfg.Credentials != nil && d.h.cfg.Credentials.Refused() != ""
}

// purchaseUnlessHeld makes the purchase call, unless the worker knows that the API refuses its
// credentials: the order then comes back, uncounted, instead of making a call bound to be refused.
func (d *delivery) purchaseUnlessHeld(ctx context.Context) error {
	if w := d.h.cfg.Credentials; w != nil {
		if reason := w.Refused(); reason != "" {
			return d.comeBack(ctx, outcomeWaiting, "", retryUncounted(fmt.Errorf("held: %s", reason), credentialHoldRecheck))
		}
	}
	return d.purchase(ctx)
}

// authRefused settles a purchase call whose token the API refused even after a fresh one. The
// refusal came before the order was placed (docs/design.md): the mark is cleared and the call
// taken back out of the count already. When the worker's credentials are refused, the order comes
// back uncounted and waits for them to be fixed; when they are accepted, the refusal is the
// order's own, and it is dead-lettered auth. Without a watcher it is dead-lettered at once.
func (d *delivery) authRefused(ctx context.Context, err error) error {
	w := d.h.cfg.Credentials
	if w == nil || !w.Confirm(ctx, d.order.ProjectID) {
		return d.deadLetter(ctx, ClassAuth, err)
	}
	return d.comeBack(ctx, outcomeWaiting, "", retryUncounted(err, credentialHoldRecheck))
}
