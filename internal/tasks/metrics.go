package tasks

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsNamespace prefixes every metric of ours, so that dashboards find them among asynq's,
// Go's and other services' metrics.
const MetricsNamespace = "cph_purchase"

// The outcomes that Handler reports to its Observer. Metrics turns them into label values, so the
// set is closed: a label never carries anything but these words.
const (
	outcomeSucceeded    = "succeeded"
	outcomeDuplicate    = "duplicate"
	outcomeDeadLettered = "dead_lettered"
	outcomeRetry        = "retry"
	outcomeThrottled    = "throttled"
	outcomeBusy         = "busy"
	outcomeWaiting      = "waiting"
)

// retryKinds maps a non-terminal outcome to its kind of retry: "counted" spends MAX_RETRY;
// "throttled" (429 or the fleet-wide limit), "busy" (another worker holds the key) and "waiting"
// (reconciliation not conclusive yet) come back without spending it.
var retryKinds = map[string]string{
	outcomeRetry:     "counted",
	outcomeThrottled: "throttled",
	outcomeBusy:      "busy",
	outcomeWaiting:   "waiting",
}

// purchaseCallBuckets span a fast API answer (10ms) to the largest sensible CPH_TIMEOUT (60s).
var purchaseCallBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}

// rateLimitWaitBuckets start at 1ms, where an idle limiter answers at once, and end at the
// handler's longest wait for one attempt (30s).
var rateLimitWaitBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics is the Prometheus Observer of the handler: what happened to orders, how the purchase API
// answered, how long the fleet-wide rate limit held calls back, and how often copies of one order
// met in the ledger. Labels carry only words from closed sets (outcomes, error classes, retry
// kinds, HTTP status codes): never a token, a URL, an idempotency key or anything per order, which
// would leak secrets or grow without bound.
type Metrics struct {
	orders          *prometheus.CounterVec
	retries         *prometheus.CounterVec
	purchaseCalls   *prometheus.HistogramVec
	rateLimitWait   prometheus.Histogram
	reconciliations *prometheus.CounterVec
	ledgerConflicts prometheus.Counter
	// lifecycle and readyAfter are the readiness tracking's (LifecycleObserver).
	lifecycle  *prometheus.CounterVec
	readyAfter prometheus.Histogram
}

// lifecycleStates are the label values of the lifecycle counter: every state an order can enter
// after its purchase ("ordered" is where it starts, and is not entered).
var lifecycleStates = []LifecycleState{LifecycleAwaitingPayment, LifecycleCreating, LifecycleReady, LifecycleFailed, LifecycleTimedOut}

// readyAfterBuckets span a server created at once (30s) to the longest READINESS_DEADLINE worth
// waiting for (3h); Terraform's default deadline, 90 minutes, is one of them.
var readyAfterBuckets = []float64{30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800}

// NewMetrics creates the metrics and registers them on reg. It takes a Registerer rather than
// using Prometheus's global one, so that a worker (or a test) owns exactly what it exposes.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace, Name: "orders_total",
			Help: "Handler runs that ended an order, by outcome (succeeded, duplicate, dead_lettered) and dead-letter class.",
		}, []string{"outcome", "class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace, Name: "retries_total",
			Help: "Handler runs that put an order back for later, by kind: counted (spends MAX_RETRY), throttled, busy (ledger conflict), waiting (reconciliation).",
		}, []string{"kind"}),
		purchaseCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "api_call_duration_seconds",
			Help:    "Duration of purchase calls to the CPH API, by HTTP status (none: no answer).",
			Buckets: purchaseCallBuckets,
		}, []string{"status"}),
		rateLimitWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "rate_limit_wait_seconds",
			Help:    "Time a purchase call waited for the fleet-wide rate limit (CPH_RATE_LIMIT).",
			Buckets: rateLimitWaitBuckets,
		}),
		reconciliations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace, Name: "reconciliations_total",
			Help: "Reconciliations of purchase calls with no known outcome, by result: found (the order existed) or not_found.",
		}, []string{"result"}),
		ledgerConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: MetricsNamespace, Name: "ledger_conflicts_total",
			Help: "Handler runs that found their idempotency key held by another worker and backed off without calling.",
		}),
		lifecycle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsNamespace, Name: "lifecycle_orders_total",
			Help: "Bought orders that entered a lifecycle state, by state: awaiting_payment, creating, and the terminal ready, failed, timed_out.",
		}, []string{"state"}),
		readyAfter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: MetricsNamespace, Name: "purchase_to_ready_seconds",
			Help:    "Time from an order's purchase to its servers and phones being ready.",
			Buckets: readyAfterBuckets,
		}),
	}
	// Every series that can exist starts at zero, so that rate() and alerts see the first event.
	m.orders.WithLabelValues(outcomeSucceeded, "")
	m.orders.WithLabelValues(outcomeDuplicate, "")
	for _, c := range []ErrorClass{ClassInvalid, ClassRejected, ClassAuth, ClassExhausted, ClassAmbiguous} {
		m.orders.WithLabelValues(outcomeDeadLettered, string(c))
	}
	for _, kind := range retryKinds {
		m.retries.WithLabelValues(kind)
	}
	m.reconciliations.WithLabelValues("found")
	m.reconciliations.WithLabelValues("not_found")
	for _, s := range lifecycleStates {
		m.lifecycle.WithLabelValues(string(s))
	}

	var errs []error
	for _, c := range []prometheus.Collector{m.orders, m.retries, m.purchaseCalls, m.rateLimitWait, m.reconciliations, m.ledgerConflicts, m.lifecycle, m.readyAfter} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register purchase metrics: %w", err)
	}
	return m, nil
}

// Outcome implements Observer. A terminal outcome counts an order; any other counts a retry of its
// kind, and "busy" a ledger conflict too. Words outside the known sets are counted as "other",
// so that no caller can turn a label into free text.
func (m *Metrics) Outcome(outcome, class string) {
	if kind, ok := retryKinds[outcome]; ok {
		m.retries.WithLabelValues(kind).Inc()
		if outcome == outcomeBusy {
			m.ledgerConflicts.Inc()
		}
		return
	}
	switch outcome {
	case outcomeSucceeded, outcomeDuplicate, outcomeDeadLettered:
	default:
		outcome = "other"
	}
	m.orders.WithLabelValues(outcome, classLabel(class)).Inc()
}

// classLabel is class when it is one of the dead-letter classes or empty, and "other" otherwise.
func classLabel(class string) string {
	switch ErrorClass(class) {
	case "", ClassInvalid, ClassRejected, ClassAuth, ClassExhausted, ClassAmbiguous:
		return class
	}
	return "other"
}

// PurchaseCall implements Observer.
func (m *Metrics) PurchaseCall(d time.Duration, status int) {
	label := "none"
	if status >= 100 && status <= 599 {
		label = strconv.Itoa(status)
	}
	m.purchaseCalls.WithLabelValues(label).Observe(d.Seconds())
}

// RateLimitWait implements Observer.
func (m *Metrics) RateLimitWait(d time.Duration) { m.rateLimitWait.Observe(d.Seconds()) }

// Reconciled implements Observer.
func (m *Metrics) Reconciled(found bool) {
	result := "not_found"
	if found {
		result = "found"
	}
	m.reconciliations.WithLabelValues(result).Inc()
}

// LifecycleEntered implements LifecycleObserver; a state outside the known set counts as "other".
func (m *Metrics) LifecycleEntered(state LifecycleState) {
	label := "other"
	for _, s := range lifecycleStates {
		if s == state {
			label = string(s)
		}
	}
	m.lifecycle.WithLabelValues(label).Inc()
}

// ReadyAfter implements LifecycleObserver.
func (m *Metrics) ReadyAfter(d time.Duration) { m.readyAfter.Observe(d.Seconds()) }
