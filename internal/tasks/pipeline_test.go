package tasks

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
)

// pipeline is the whole purchase path for one test: a producer, an asynq server running the
// handler, the real HTTP client, and the simulator over real HTTP.
type pipeline struct {
	t        testing.TB
	tr       *testRedis
	sim      *cphsim.Server
	simURL   string
	op       *Operator
	ledger   *Ledger
	dls      *DeadLetters
	producer *Producer
	client   *asynq.Client
	insp     *asynq.Inspector
	srv      *asynq.Server
	handler  *Handler
	api      *cph.Client // the real client, over HTTP to sim
}

type pipelineOptions struct {
	sim         cphsim.Options
	maxRetry    int
	callTimeout time.Duration
	tokens      func(simURL string) cph.TokenSource
	concurrency int
	rateLimit   int
	observer    Observer
	// minReplicas is the handler ledger's WithMinReplicas.
	minReplicas int
	// redis is the Redis to run on; nil means newTestRedis's (REDIS_URL or miniredis).
	redis asynq.RedisConnOpt
	// asynqLog receives asynq's own warnings and errors; nil silences them.
	asynqLog asynq.Logger
	// grace is the handler's ReconcileGrace (200ms when zero); policy its Policy.
	grace  time.Duration
	policy RebuyPolicy
	// wrapAPI, when set, stands between the handler and the real client over HTTP.
	wrapAPI func(API) API
}

const testProject = "0b1c00000000000000000000000test"

func startPipeline(t testing.TB, o pipelineOptions) *pipeline {
	t.Helper()
	tr := newTestRedisOn(t, o.redis)
	sim := cphsim.New(o.sim)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	if o.callTimeout == 0 {
		o.callTimeout = 5 * time.Second
	}
	if o.concurrency == 0 {
		o.concurrency = 4
	}
	if o.rateLimit == 0 {
		o.rateLimit = 1000
	}
	tokens := cph.StaticToken("test-token")
	if o.tokens != nil {
		tokens = o.tokens(ts.URL)
	}
	api, err := cph.NewClient(ts.URL, tokens, cph.ClientOptions{Timeout: o.callTimeout})
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{t: t, tr: tr, sim: sim, simURL: ts.URL, api: api}
	var handlerAPI API = api
	if o.wrapAPI != nil {
		handlerAPI = o.wrapAPI(api)
	}
	if o.grace == 0 {
		o.grace = 200 * time.Millisecond
	}
	if p.op, err = NewOperator(tr.rdb, OperatorConfig{Queue: tr.queue, ResultsStream: tr.stream, MaxRetry: o.maxRetry}); err != nil {
		t.Fatal(err)
	}
	p.ledger, p.dls, p.client, p.insp, p.producer = p.op.Ledger(), p.op.DeadLetters(), p.op.Client(), p.op.Inspector(), p.op.Producer()
	h := NewHandler(HandlerConfig{
		API: handlerAPI, Ledger: p.ledger.WithMinReplicas(o.minReplicas), RateLimiter: NewRateLimiter(tr.rdb, tr.keys, o.rateLimit),
		Queue: tr.queue, DefaultProjectID: testProject, CallTimeout: o.callTimeout,
		ReconcileGrace: o.grace, Policy: o.policy, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Observer: o.observer,
	})
	p.handler = h
	cfg := ServerConfig{
		Queue:                    tr.queue,
		Concurrency:              o.concurrency,
		Retry:                    RetryPolicy{BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:          time.Second,
	}
	if o.asynqLog != nil {
		cfg.Logger, cfg.LogLevel = o.asynqLog, asynq.WarnLevel
	}
	p.srv = NewServer(tr.rdb, cfg)
	if err := p.srv.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.srv.Shutdown()
	})
	return p
}

// order returns a valid purchase order for one server named name, paid automatically.
func order(name string) *Order {
	return &Order{ProjectID: testProject, Request: cph.ExampleRequest(name), Metadata: map[string]string{"test": name}}
}

func (p *pipeline) submit(o *Order) EnqueueResult {
	p.t.Helper()
	r, err := p.producer.Enqueue(context.Background(), o)
	if err != nil {
		p.t.Fatalf("enqueue: %v", err)
	}
	return r
}

// enqueueRaw puts a payload on the queue the way a producer that skips validation would.
func (p *pipeline) enqueueRaw(taskType string, payload []byte, taskID string) {
	p.t.Helper()
	_, err := p.client.Enqueue(asynq.NewTask(taskType, payload),
		asynq.Queue(p.tr.queue), asynq.TaskID(taskID), asynq.MaxRetry(3), asynq.Retention(time.Hour))
	if err != nil {
		p.t.Fatalf("enqueue raw: %v", err)
	}
}

// wait polls the ledger until key's order is terminal and returns its result.
func (p *pipeline) wait(key string) Result {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		e, ok, err := p.ledger.Get(context.Background(), key)
		if err != nil {
			p.t.Fatal(err)
		}
		if ok && (e.State == "succeeded" || e.State == "failed") && e.Result != nil {
			var r Result
			if err := json.Unmarshal(e.Result, &r); err != nil {
				p.t.Fatal(err)
			}
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("order %s did not end", key)
	return Result{}
}

// waitTask polls asynq until the task is done (completed or archived) and returns its info.
func (p *pipeline) waitTask(taskID string) *asynq.TaskInfo {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		info, err := p.insp.GetTaskInfo(p.tr.queue, taskID)
		if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
			return info
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("task %s did not finish", taskID)
	return nil
}

func (p *pipeline) stream() []StreamEntry { return streamEntries(p.t, p.tr) }

// decideBySeq scripts the simulator: the n-th purchase call for any name gets faults[n-1];
// later calls succeed.
func decideBySeq(faults ...cphsim.FaultKind) func(cphsim.PurchaseCall) cphsim.Fault {
	return func(c cphsim.PurchaseCall) cphsim.Fault {
		if c.Seq <= len(faults) {
			return cphsim.Fault{Kind: faults[c.Seq-1]}
		}
		return cphsim.Fault{Kind: cphsim.FaultNone}
	}
}

func TestPipelineHappyPath(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3})
	en := p.submit(order("happy-1"))
	if en.Status != EnqueueEnqueued || en.TaskID != TaskID(en.IdempotencyKey) {
		t.Fatalf("enqueue = %+v", en)
	}
	r := p.wait(en.IdempotencyKey)
	orders := p.sim.OrdersFor("happy-1")
	if len(orders) != 1 {
		t.Fatalf("simulator has %d orders, want 1", len(orders))
	}
	if r.Status != StatusSucceeded || r.OrderID != orders[0].OrderID || r.Reconciled || r.Attempts != 1 ||
		r.ProjectID != testProject || r.Metadata["test"] != "happy-1" || len(r.ServerIDs) != 1 || r.Error != nil {
		t.Fatalf("result = %+v, sim order %+v", r, orders[0])
	}
	info := p.waitTask(en.TaskID)
	var stored Result
	if err := json.Unmarshal(info.Result, &stored); err != nil || stored.OrderID != r.OrderID {
		t.Fatalf("task result = %s (%v)", info.Result, err)
	}
	entries := p.stream()
	if len(entries) != 1 || entries[0].Status != StatusSucceeded || entries[0].IdempotencyKey != en.IdempotencyKey {
		t.Fatalf("stream = %+v", entries)
	}
}

func TestPipelineDuplicates(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3})
	o := order("dup-1")
	first := p.submit(o)
	if again := p.submit(o); again.Status != EnqueueDuplicate || again.TaskID != first.TaskID {
		t.Fatalf("second enqueue while pending = %+v, want duplicate", again)
	}
	r := p.wait(first.IdempotencyKey)
	if again := p.submit(order("dup-1")); again.Status != EnqueueDuplicate {
		t.Fatalf("enqueue after success = %+v, want duplicate", again)
	}
	// A copy that reaches a worker anyway (another producer, a re-delivery) gets the stored
	// result and makes no call.
	payload, _ := json.Marshal(o)
	p.enqueueRaw(TypePurchase, payload, "redelivered-copy")
	info := p.waitTask("redelivered-copy")
	var copyResult Result
	if err := json.Unmarshal(info.Result, &copyResult); err != nil || copyResult.OrderID != r.OrderID {
		t.Fatalf("copy's task result = %s (%v), want order %s", info.Result, err, r.OrderID)
	}
	if n := p.sim.Stats().PurchaseCalls; n != 1 {
		t.Fatalf("purchase calls = %d, want 1", n)
	}
	if n := len(p.stream()); n != 1 {
		t.Fatalf("stream has %d entries, want 1", n)
	}
}

func TestPipelineInvalidOrderIsDeadLetteredWithoutACall(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3})
	o := order("invalid-1")
	o.IdempotencyKey = "invalid-1"
	*o.Request.Count = 11
	o.Request.Ports = []cph.Port{{Name: "adb"}}
	payload, _ := json.Marshal(o)
	p.enqueueRaw(TypePurchase, payload, TaskID("invalid-1"))
	var r Result
	if err := json.Unmarshal(p.waitTask(TaskID("invalid-1")).Result, &r); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := p.ledger.Get(context.Background(), "invalid-1"); ok {
		t.Fatal("an invalid order took its key in the ledger")
	}
	if r.IdempotencyKey != "invalid-1" || r.Status != StatusDeadLettered || r.Error == nil || r.Error.Class != ClassInvalid {
		t.Fatalf("result = %+v", r)
	}
	paths := map[string]bool{}
	for _, f := range r.Error.Fields {
		paths[f.Path] = true
	}
	for _, want := range []string{"request.count", "request.ports[0].name", "request.ports[0].listen_port"} {
		if !paths[want] {
			t.Errorf("fields %+v lack %s", r.Error.Fields, want)
		}
	}
	if n := p.sim.Stats().Calls; n != 0 {
		t.Fatalf("API calls = %d, want 0", n)
	}
	dl, ok, err := p.dls.Get(context.Background(), TaskID("invalid-1"))
	if err != nil || !ok || dl.Class != ClassInvalid || len(dl.Error.Fields) == 0 {
		t.Fatalf("dead letter = %+v, %v, %v", dl, ok, err)
	}
	if info := p.waitTask(TaskID("invalid-1")); info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("task state = %v, retried %d; want archived at once", info.State, info.Retried)
	}

	// Replayed as it is, it is dead-lettered again, with a new record and a new result.
	if _, err := p.producer.replay(context.Background(), p.dls, p.insp, TaskID("invalid-1"), ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if dl, ok, _ := p.dls.Get(context.Background(), TaskID("invalid-1")); ok && dl.Class == ClassInvalid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a replayed invalid order was not dead-lettered again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(p.stream()); n != 2 {
		t.Fatalf("stream has %d entries, want 2 (one per run)", n)
	}

	// Not JSON at all, and a foreign task type: dead letters too, never a panic.
	p.enqueueRaw(TypePurchase, []byte("\xff not json"), "garbage")
	p.enqueueRaw("something:else", []byte(`{}`), "foreign")
	for _, id := range []string{"garbage", "foreign"} {
		if info := p.waitTask(id); info.State != asynq.TaskStateArchived {
			t.Fatalf("%s: state %v", id, info.State)
		}
		if dl, ok, _ := p.dls.Get(context.Background(), id); !ok || dl.Class != ClassInvalid {
			t.Fatalf("%s: dead letter %+v %v", id, dl, ok)
		}
	}
}

func TestPipelineRejectedOrder(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3, sim: cphsim.Options{
		Decide: func(cphsim.PurchaseCall) cphsim.Fault {
			return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
		},
	}})
	en := p.submit(order("rejected-1"))
	r := p.wait(en.IdempotencyKey)
	if r.Status != StatusDeadLettered || r.Error.Class != ClassRejected || r.Error.Code != "CPS.0006" || r.Error.HTTPStatus != 400 {
		t.Fatalf("result = %+v, error %+v", r, r.Error)
	}
	if n := p.sim.Stats().PurchaseCalls; n != 1 {
		t.Fatalf("purchase calls = %d, want 1: a rejection is never retried", n)
	}
}

func TestPipelineThrottledThenBought(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 1, sim: cphsim.Options{
		Decide: decideBySeq(cphsim.FaultThrottle, cphsim.FaultThrottle, cphsim.FaultThrottle),
	}})
	en := p.submit(order("throttled-1"))
	r := p.wait(en.IdempotencyKey)
	// Three throttles with a budget of one retry: throttling is not counted against it.
	if r.Status != StatusSucceeded || len(p.sim.OrdersFor("throttled-1")) != 1 {
		t.Fatalf("result = %+v", r)
	}
	if info := p.waitTask(en.TaskID); info.Retried != 0 {
		t.Fatalf("retried = %d, want 0", info.Retried)
	}
}

func TestPipelineTokenExpiryThenRefresh(t *testing.T) {
	var sim *cphsim.Server
	var expired atomic.Bool
	p := startPipeline(t, pipelineOptions{maxRetry: 3,
		sim: cphsim.Options{IAMUser: "u", IAMPassword: "p4ss", IAMDomain: "d", Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
			return cphsim.Fault{Kind: cphsim.FaultNone}
		}},
		tokens: func(simURL string) cph.TokenSource {
			ts, err := cph.NewIAMToken(cph.IAMConfig{Endpoint: simURL, Username: "u", Password: "p4ss", Domain: "d", ProjectID: testProject})
			if err != nil {
				t.Fatal(err)
			}
			return ts
		}})
	sim = p.sim
	first := p.submit(order("token-1"))
	p.wait(first.IdempotencyKey)
	sim.ExpireTokens() // the cached token is now refused: the client must refresh once and go on
	expired.Store(true)
	second := p.submit(order("token-2"))
	if r := p.wait(second.IdempotencyKey); r.Status != StatusSucceeded {
		t.Fatalf("after expiry: %+v", r)
	}
	if st := sim.Stats(); st.Unauthorized < 1 || st.Orders != 2 {
		t.Fatalf("stats = %+v; want a 401 seen and 2 orders", st)
	}
}

func TestPipelineAmbiguousOutcomesAreReconciled(t *testing.T) {
	for _, fault := range []cphsim.FaultKind{cphsim.FaultDropAfterCommit, cphsim.FaultFailAfterCommit, cphsim.FaultHangAfterCommit} {
		t.Run(fault.String(), func(t *testing.T) {
			p := startPipeline(t, pipelineOptions{maxRetry: 3, callTimeout: time.Second,
				sim: cphsim.Options{Decide: decideBySeq(fault), HangFor: time.Minute}})
			name := "ambiguous-" + fault.String()
			name = name[:min(len(name), 60)]
			en := p.submit(order(sanitizeName(name)))
			r := p.wait(en.IdempotencyKey)
			orders := p.sim.OrdersFor(sanitizeName(name))
			if len(orders) != 1 {
				t.Fatalf("simulator has %d orders, want exactly 1", len(orders))
			}
			if r.Status != StatusSucceeded || !r.Reconciled || r.OrderID != orders[0].OrderID || len(r.ServerIDs) != 1 {
				t.Fatalf("result = %+v, sim order %s", r, orders[0].OrderID)
			}
			if n := p.sim.Stats().PurchaseCalls; n != 1 {
				t.Fatalf("purchase calls = %d, want 1", n)
			}
		})
	}
}

func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

func TestPipelineAmbiguousWithoutAutoPayIsDeadLetteredNotRebought(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3, sim: cphsim.Options{Decide: decideBySeq(cphsim.FaultFailAfterCommit)}})
	o := order("manual-pay-1")
	*o.Request.ExtendParam.IsAutoPay = 0
	en := p.submit(o)
	r := p.wait(en.IdempotencyKey)
	if r.Status != StatusDeadLettered || r.Error.Class != ClassAmbiguous {
		t.Fatalf("result = %+v %+v", r, r.Error)
	}
	if n := p.sim.Stats().PurchaseCalls; n != 1 {
		t.Fatalf("purchase calls = %d, want 1: never a blind re-POST", n)
	}
}

func TestPipelineExhaustedThenReplayedWithAFreshBudget(t *testing.T) {
	var healthy atomic.Bool
	p := startPipeline(t, pipelineOptions{maxRetry: 2, sim: cphsim.Options{
		Decide: func(cphsim.PurchaseCall) cphsim.Fault {
			if healthy.Load() {
				return cphsim.Fault{Kind: cphsim.FaultNone}
			}
			return cphsim.Fault{Kind: cphsim.FaultFailBeforeCommit}
		},
	}})
	en := p.submit(order("exhausted-1"))
	r := p.wait(en.IdempotencyKey)
	if r.Status != StatusDeadLettered || r.Error.Class != ClassExhausted || r.Error.HTTPStatus != 503 {
		t.Fatalf("result = %+v %+v", r, r.Error)
	}
	if n := p.sim.Stats().PurchaseCalls; n != 3 {
		t.Fatalf("purchase calls = %d, want 3 (1 + MAX_RETRY 2)", n)
	}
	if info := p.waitTask(en.TaskID); info.State != asynq.TaskStateArchived {
		t.Fatalf("task state %v, want archived", info.State)
	}

	healthy.Store(true)
	rep, err := p.producer.replay(context.Background(), p.dls, p.insp, en.TaskID, ReplayOptions{})
	if err != nil || rep.Status != EnqueueEnqueued {
		t.Fatalf("replay = %+v, %v", rep, err)
	}
	if _, ok, _ := p.dls.Get(context.Background(), en.TaskID); ok {
		t.Fatal("dead letter still there after replay")
	}
	r = p.wait(en.IdempotencyKey)
	if r.Status != StatusSucceeded || len(p.sim.OrdersFor("exhausted-1")) != 1 {
		t.Fatalf("after replay: %+v", r)
	}
	info := p.waitTask(en.TaskID)
	if info.MaxRetry != 3 || info.Retried != 0 {
		t.Fatalf("replayed task retried %d of %d; want a fresh budget", info.Retried, info.MaxRetry)
	}
	var succeeded, dead int
	for _, e := range p.stream() {
		switch e.Status {
		case StatusSucceeded:
			succeeded++
		case StatusDeadLettered:
			dead++
		}
	}
	if succeeded != 1 || dead != 1 {
		t.Fatalf("stream: %d succeeded, %d dead_lettered; want 1 and 1", succeeded, dead)
	}
}

func TestPipelineTwoHandlersOnOneKeyMakeOneCall(t *testing.T) {
	// A slow API keeps the first holder inside its call while the second copy arrives.
	p := startPipeline(t, pipelineOptions{maxRetry: 3, concurrency: 4, sim: cphsim.Options{Latency: 500 * time.Millisecond}})
	o := order("race-1")
	o.IdempotencyKey = "race-1"
	payload, _ := json.Marshal(o)
	for _, id := range []string{"copy-a", "copy-b", "copy-c"} {
		p.enqueueRaw(TypePurchase, payload, id)
	}
	r := p.wait("race-1")
	for _, id := range []string{"copy-a", "copy-b", "copy-c"} {
		info := p.waitTask(id)
		var got Result
		if err := json.Unmarshal(info.Result, &got); err != nil || got.OrderID != r.OrderID {
			t.Fatalf("%s: result %s (%v)", id, info.Result, err)
		}
	}
	if n := p.sim.Stats().PurchaseCalls; n != 1 {
		t.Fatalf("purchase calls = %d, want 1", n)
	}
	if n := len(p.stream()); n != 1 {
		t.Fatalf("stream entries = %d, want 1", n)
	}
}

// deadlineTokens is a static token that records how long the caller's context had left each
// time a token was asked for: the client asks at the start of every request.
type deadlineTokens struct {
	mu   sync.Mutex
	left []time.Duration
}

func (d *deadlineTokens) Token(ctx context.Context) (cph.Secret, error) {
	dl, ok := ctx.Deadline()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ok {
		d.left = append(d.left, time.Duration(math.MaxInt64))
	} else {
		d.left = append(d.left, time.Until(dl))
	}
	return "test-token", nil
}

func (d *deadlineTokens) Invalidate(cph.Secret) {}

func TestPipelinePurchaseCallEndsInsideItsPostingWindow(t *testing.T) {
	// The posting mark's lease and reconciliation assume that a purchase call, token fetch and
	// any re-send included, is over CallTimeout after the mark. A call given the attempt's whole
	// context could send after a slow token fetch, when another worker may already have found
	// no order and bought it.
	tokens := &deadlineTokens{}
	p := startPipeline(t, pipelineOptions{maxRetry: 3, callTimeout: 2 * time.Second,
		tokens: func(string) cph.TokenSource { return tokens }})
	en := p.submit(order("window-1"))
	if r := p.wait(en.IdempotencyKey); r.Status != StatusSucceeded {
		t.Fatalf("result = %+v", r)
	}
	tokens.mu.Lock()
	defer tokens.mu.Unlock()
	if len(tokens.left) == 0 {
		t.Fatal("no token was asked for")
	}
	for _, left := range tokens.left {
		if left > 2*time.Second {
			t.Fatalf("the purchase call had %s left, more than CallTimeout (2s): %v", left, tokens.left)
		}
	}
}

func TestPipelineLastDeliveryWaitsForABusyKeyInsteadOfBeingArchived(t *testing.T) {
	// On a task's last delivery asynq archives whatever error the handler returns, silently: a
	// "come back later" there (the key held by a worker that died, Redis away) would leave the
	// order with no result, no dead letter and nobody to finish it.
	p := startPipeline(t, pipelineOptions{maxRetry: 3})
	o := order("last-delivery-1")
	o.IdempotencyKey = "last-delivery-1"
	// A worker that died holding the key: its lease runs out in a moment.
	if _, err := p.ledger.Acquire(context.Background(), AcquireArgs{Hold: Hold{Key: o.IdempotencyKey, Owner: "dead-owner"}, TaskID: "dead-task", Lease: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(o)
	_, err := p.client.Enqueue(asynq.NewTask(TypePurchase, payload),
		asynq.Queue(p.tr.queue), asynq.TaskID("last-delivery"), asynq.MaxRetry(0), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := p.insp.GetTaskInfo(p.tr.queue, "last-delivery"); err == nil && info.State == asynq.TaskStateArchived {
			t.Fatalf("the task was archived (last error %q) and the order has no result", info.LastErr)
		}
		if e, ok, _ := p.ledger.Get(context.Background(), o.IdempotencyKey); ok && e.State == "succeeded" {
			if n := len(p.sim.OrdersFor("last-delivery-1")); n != 1 {
				t.Fatalf("simulator has %d orders, want 1", n)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the order did not end")
}
