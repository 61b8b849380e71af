package tasks

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/testkit"
)

// credentialPipeline is a handler with a credential watcher, running on asynq against the
// simulator over HTTP with a static token.
type credentialPipeline struct {
	tr      *testRedis
	sim     *cphsim.Server
	op      *Operator
	watcher *CredentialWatcher
	logs    *testkit.SyncBuffer
}

func startCredentialPipeline(t *testing.T, wrap func(API) API) *credentialPipeline {
	t.Helper()
	tr := newTestRedis(t)
	sim := cphsim.New(cphsim.Options{Tokens: []string{"tok"}})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	client, err := cph.NewClient(ts.URL, cph.StaticToken("tok"), cph.ClientOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var api API = client
	if wrap != nil {
		api = wrap(client)
	}
	op := newTestOperator(t, tr, 3)
	logs := &testkit.SyncBuffer{}
	log := zerolog.New(logs)
	w := NewCredentialWatcher(CredentialWatcherConfig{
		API: api, ProjectID: testProject, Operator: op, Logger: log,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h := NewHandler(HandlerConfig{
		API: api, Ledger: op.Ledger(), Queue: tr.queue, DefaultProjectID: testProject, CallTimeout: 5 * time.Second,
		Logger: log, Credentials: w,
	})
	srv := NewServer(tr.rdb, ServerConfig{
		Queue: tr.queue, Concurrency: 4, Retry: RetryPolicy{BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		DelayedTaskCheckInterval: 100 * time.Millisecond, ShutdownTimeout: time.Second,
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return &credentialPipeline{tr: tr, sim: sim, op: op, watcher: w, logs: logs}
}

func (p *credentialPipeline) ended(t *testing.T, key string) (Entry, bool) {
	t.Helper()
	e, ok, err := p.op.Ledger().Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return e, ok && e.Ended()
}

// While the API refuses the credentials, orders wait in the paused queue instead of being
// dead-lettered as auth; readiness, the metric and the queue's summary say why; once the
// credentials work again the worker resumes by itself and each order is bought once.
func TestCredentialsRefusedWhileRunningHoldTheQueue(t *testing.T) {
	p := startCredentialPipeline(t, nil)
	ctx := context.Background()
	if _, err := p.op.Producer().Enqueue(ctx, order("cred-before")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the first order to be bought", func() bool { _, ok := p.ended(t, order("cred-before").Key()); return ok })

	p.sim.RefuseCredentials(true)
	var keys []string
	for i := range 6 {
		o := order(fmt.Sprintf("cred-held-%d", i))
		keys = append(keys, o.Key())
		if _, err := p.op.Producer().Enqueue(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, "the queue to be held for credentials", func() bool {
		s, err := p.op.Summary(ctx)
		return err == nil && s.Paused && strings.Contains(s.HeldForCredentials, "APIGW.0301")
	})
	if r := p.watcher.Refused(); !strings.Contains(r, "refuses the credentials") || strings.Contains(r, "tok") {
		t.Fatalf("Refused() = %q: want the reason, without the token", r)
	}
	if v := testutil.ToFloat64(p.watcher); v != 1 {
		t.Fatalf("cph_purchase_credentials_refused = %v while refused, want 1", v)
	}
	// The watcher checks again with backoff; while it sees the refusal, no purchase call goes out
	// (the calls in flight when the credentials went bad have long ended after two checks).
	checked := func(n int) func() bool {
		return func() bool { return strings.Count(p.logs.String(), "credentials still refused") >= n }
	}
	testkit.Eventually(t, "the credentials to be checked again", checked(2))
	calls := p.sim.Stats().PurchaseCalls
	testkit.Eventually(t, "the credentials to be checked again twice more", checked(4))
	if n, err := p.op.DeadLetters().Count(ctx); err != nil || n != 0 {
		t.Fatalf("dead letters while the credentials are refused = %d, %v; want 0", n, err)
	}
	if n := p.sim.Stats().PurchaseCalls; n != calls {
		t.Fatalf("purchase calls went on while held: %d, then %d", calls, n)
	}

	p.sim.RefuseCredentials(false)
	testkit.Eventually(t, "every held order to be bought", func() bool {
		for _, k := range keys {
			if _, ok := p.ended(t, k); !ok {
				return false
			}
		}
		return true
	})
	for i, k := range keys {
		e, _ := p.ended(t, k)
		if e.State != StateSucceeded {
			t.Errorf("%s: %s, want succeeded", k, e.State)
		}
		if n := len(p.sim.OrdersFor(fmt.Sprintf("cred-held-%d", i))); n != 1 {
			t.Errorf("%s: %d orders, want 1", k, n)
		}
	}
	s, err := p.op.Summary(ctx)
	if err != nil || s.Paused || s.HeldForCredentials != "" || s.DeadLetters != 0 {
		t.Fatalf("summary after recovery = %+v, %v; want resumed, no hold, no dead letter", s, err)
	}
	if p.watcher.Refused() != "" || testutil.ToFloat64(p.watcher) != 0 {
		t.Fatal("the watcher still says refused")
	}
	if !strings.Contains(p.logs.String(), "credentials accepted again: queue resumed") {
		t.Fatalf("no log line says the queue resumed:\n%s", p.logs.String())
	}
}

// refusingPurchases refuses the token on purchases in one project only, as an API that lets the
// credentials read but not buy there would: the refusal is the order's, not the credentials'.
type refusingPurchases struct {
	API
	project string
}

func (r refusingPurchases) Purchase(ctx context.Context, projectID string, req *cph.PurchaseRequest) (*cph.PurchaseResponse, error) {
	if projectID == r.project {
		return nil, &cph.Error{Class: cph.ClassAuth, HTTPStatus: 401, Code: "APIGW.0301", Message: "not in this project", Sent: true}
	}
	return r.API.Purchase(ctx, projectID, req)
}

// A refusal that the credentials' check does not confirm is the order's own: it is
// dead-lettered auth as before, and the queue is not held.
func TestCredentialsAcceptedMakeARefusedOrderADeadLetter(t *testing.T) {
	p := startCredentialPipeline(t, func(api API) API { return refusingPurchases{API: api, project: "0b1c0000000000000000000000other"} })
	ctx := context.Background()
	o := order("cred-other-project")
	o.ProjectID = "0b1c0000000000000000000000other"
	if _, err := p.op.Producer().Enqueue(ctx, o); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the order to end", func() bool { _, ok := p.ended(t, o.Key()); return ok })
	dl, err := p.op.FindDeadLetter(ctx, o.Key())
	if err != nil || dl.Class != ClassAuth {
		t.Fatalf("dead letter = %+v, %v; want class auth", dl, err)
	}
	if s, err := p.op.Summary(ctx); err != nil || s.Paused || p.watcher.Refused() != "" {
		t.Fatalf("summary = %+v, %v, refused %q; want the queue running", s, err, p.watcher.Refused())
	}
}

// An operator's pause is the operator's: a watcher neither takes it over nor lifts it. A hold
// that a worker left behind is lifted at start by a worker whose credentials work.
func TestCredentialHoldAndAnOperatorsPause(t *testing.T) {
	ctx := context.Background()
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 3)

	if err := op.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if held, err := op.HoldForCredentials(ctx, "refused"); err != nil || held {
		t.Fatalf("HoldForCredentials on an operator's pause = %v, %v; want not held", held, err)
	}
	if lifted, err := op.LiftCredentialHold(ctx); err != nil || lifted {
		t.Fatalf("LiftCredentialHold of an operator's pause = %v, %v; want not lifted", lifted, err)
	}
	if paused, _ := op.Paused(ctx); !paused {
		t.Fatal("the operator's pause was lifted")
	}
	if err := op.Unpause(ctx); err != nil {
		t.Fatal(err)
	}

	if held, err := op.HoldForCredentials(ctx, "the CPH API refuses the credentials: left behind"); err != nil || !held {
		t.Fatalf("HoldForCredentials = %v, %v; want held", held, err)
	}
	sim := cphsim.New(cphsim.Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	client, _ := cph.NewClient(ts.URL, cph.StaticToken("tok"), cph.ClientOptions{})
	w := NewCredentialWatcher(CredentialWatcherConfig{API: client, ProjectID: testProject, Operator: op, Logger: zerolog.Nop()})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	testkit.Eventually(t, "the left hold to be lifted", func() bool {
		s, err := op.Summary(ctx)
		return err == nil && !s.Paused && s.HeldForCredentials == ""
	})
}

// CheckCredentials tells refused credentials from an API it cannot reach.
func TestCheckCredentials(t *testing.T) {
	sim := cphsim.New(cphsim.Options{Tokens: []string{"good"}})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		name     string
		endpoint string
		token    string
		ok       bool
		refused  bool
	}{
		{"accepted", ts.URL, "good", true, false},
		{"refused", ts.URL, "bad", false, true},
		{"unreachable", "http://127.0.0.1:1", "good", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cph.NewClient(tc.endpoint, cph.StaticToken(cph.Secret(tc.token)), cph.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = CheckCredentials(context.Background(), c, testProject)
			if (err == nil) != tc.ok || CredentialsRefused(err) != tc.refused {
				t.Fatalf("err = %v; want ok %v, refused %v", err, tc.ok, tc.refused)
			}
		})
	}
	if CredentialsRefused(errors.New("plain")) {
		t.Error("a plain error is no refusal")
	}
	var _ prometheus.Collector = (*CredentialWatcher)(nil)
}

// purchaseCounter is an API that only counts the purchase calls made of it.
type purchaseCounter struct {
	API
	calls atomic.Int32
}

func (c *purchaseCounter) Purchase(context.Context, string, *cph.PurchaseRequest) (*cph.PurchaseResponse, error) {
	c.calls.Add(1)
	return nil, errors.New("no purchase should have been made")
}

// While the credentials are refused, a delivery whose first step could set the posting mark with
// the key (acquirePostScript) must not: it would call, or leave a mark for a call never made.
func TestCredentialsRefusedHoldTheFirstStepToo(t *testing.T) {
	p := startCredentialPipeline(t, nil)
	ctx := context.Background()
	p.watcher.refuse(ctx, testProject, errors.New("APIGW.0301"))
	api := &purchaseCounter{}
	h := NewHandler(HandlerConfig{API: api, Ledger: p.op.Ledger(), Queue: p.tr.queue, DefaultProjectID: testProject,
		Credentials: p.watcher, RateLimiter: NewRateLimiter(p.tr.rdb, p.tr.keys, 1000)})
	o := order("cred-first-step")
	d, err := h.newDelivery(TypePurchase, TaskID(o.Key()), mustJSON(t, o), nil, 0, NewBudget(3).TaskMaxRetry())
	if err != nil {
		t.Fatal(err)
	}
	var later *retryLater
	if err := d.run(ctx); !errors.As(err, &later) || later.counted {
		t.Fatalf("run while held: %v; want an uncounted retry", err)
	}
	if n := api.calls.Load(); n != 0 {
		t.Fatalf("%d purchase calls while held", n)
	}
	if e, _, _ := p.op.Ledger().Get(ctx, o.Key()); e.Posting || e.Attempts != 0 {
		t.Fatalf("ledger while held = %+v; want no mark and no call counted", e)
	}
}
