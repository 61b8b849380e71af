package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// outageWorker runs a worker against the given Redis address and simulator, in-process.
type outageWorker struct {
	cfg   config
	w     *worker
	logs  *testkit.SyncBuffer
	probe *httptest.Server
	stop  func()
}

func startOutageWorker(t *testing.T, redisAddr, simURL string) *outageWorker {
	t.Helper()
	ow := &outageWorker{logs: &testkit.SyncBuffer{}}
	ow.cfg = config{
		RedisURL: "redis://" + redisAddr + "/0", Endpoint: simURL, Token: cph.Secret("tok"),
		ProjectID: "0b1c000000000000000000000outage", RateLimit: 100, Timeout: time.Second, Concurrency: 4,
		Queue: "cph-purchase", RetryBaseDelay: 200 * time.Millisecond, RetryMaxDelay: 2 * time.Second,
		ResultsStream: "cph:purchase:results", HTTPAddr: "127.0.0.1:0", LogLevel: "info", LogFormat: "json",
		ShutdownTimeout: time.Second, ReconcileGrace: 200 * time.Millisecond,
	}
	log, _ := newLogger(ow.logs, ow.cfg.LogLevel, ow.cfg.LogFormat)
	w, err := newWorker(ow.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ow.w = w
	ow.probe = httptest.NewServer(w.http.Handler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	ow.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
		ow.probe.Close()
	}
	t.Cleanup(ow.stop)
	return ow
}

func (ow *outageWorker) ready(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(ow.probe.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A worker started while Redis is down says so, is not ready, keeps trying, and processes the
// queue once Redis is there.
func TestWorkerStartsWhileRedisIsDown(t *testing.T) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := mr.Addr()
	mr.Close() // nothing answers there now
	sim := httptest.NewServer(cphsim.New(cphsim.Options{}))
	t.Cleanup(sim.Close)

	ow := startOutageWorker(t, addr, sim.URL)
	testkit.Eventually(t, "the worker to say Redis is unreachable", func() bool {
		return strings.Contains(ow.logs.String(), "Redis is not reachable yet")
	})
	if code := ow.ready(t); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while Redis is down = %d, want 503", code)
	}

	back := miniredis.NewMiniRedis()
	if err := back.StartAddr(addr); err != nil {
		t.Skipf("could not take the port back for Redis: %v", err)
	}
	t.Cleanup(back.Close)
	testkit.Eventually(t, "/readyz to be 200", func() bool { return ow.ready(t) == http.StatusOK })

	res := enqueueAndWait(t, ow.cfg, "redis-came-back")
	if res.Status != tasks.StatusSucceeded {
		t.Fatalf("result = %+v", res)
	}
}

// While the CPH API is unreachable for a while, orders back off instead of spending their retries
// at once, and complete when it returns — bought once.
func TestOrdersOutlastAnAPIOutage(t *testing.T) {
	mr := miniredis.RunT(t)
	simulator := cphsim.New(cphsim.Options{})
	sim := httptest.NewServer(simulator)
	t.Cleanup(sim.Close)
	simulator.SetDown(true)
	ow := startOutageWorker(t, mr.Addr(), sim.URL)

	go func() {
		time.Sleep(4 * time.Second) // minutes in production; seconds at these retry delays
		simulator.SetDown(false)
	}()
	res := enqueueAndWait(t, ow.cfg, "api-came-back")
	if res.Status != tasks.StatusSucceeded {
		t.Fatalf("result = %+v, %+v", res, res.Error)
	}
	if n := len(simulator.OrdersFor("api-came-back")); n != 1 {
		t.Fatalf("orders = %d, want 1", n)
	}
	if res.Attempts > 9 {
		t.Fatalf("attempts = %d: the retries were spent too fast for a 4 s outage", res.Attempts)
	}
}

// enqueueAndWait submits one order through the producer and waits for its terminal result.
func enqueueAndWait(t *testing.T, cfg config, name string) tasks.Result {
	t.Helper()
	opt, _ := redisconn.ParseURL(cfg.RedisURL)
	op, err := tasks.NewOperator(redisconn.NewClient(opt), tasks.OperatorConfig{Queue: cfg.Queue, ResultsStream: cfg.ResultsStream, MaxRetry: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Close() })
	producer := op.Producer()
	o := demoOrder(name, 1)
	o.ProjectID = cfg.ProjectID
	ctx := context.Background()
	if _, err := producer.Enqueue(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := waitTerminal(ctx, op, []string{o.Key()}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	e, _, _ := op.Ledger().Get(ctx, o.Key())
	var r tasks.Result
	if err := json.Unmarshal(e.Result, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
