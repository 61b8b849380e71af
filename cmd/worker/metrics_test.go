package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
)

// The worker's mux serves every metric family next to the probes, with the counts of what the
// worker did, and no secret or idempotency key in any of it.
func TestMetricsEndpoint(t *testing.T) {
	const redisPassword = "redis-PASSWORD-4f1c"
	cfg := config{
		Embedded: true, RateLimit: 100, Timeout: 5 * time.Second, Concurrency: 2, Queue: "cph-purchase",
		RetryBaseDelay: 50 * time.Millisecond, RetryMaxDelay: time.Second, ResultsStream: "cph:purchase:results",
		HTTPAddr: "127.0.0.1:0", LogLevel: "error", LogFormat: "json", ShutdownTimeout: time.Second, ReconcileGrace: time.Second,
	}
	emb, err := startEmbedded(&cfg, cphsim.Options{Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
		if c.ServerName == "metrics-arrears" {
			return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
		}
		return cphsim.Fault{Kind: cphsim.FaultNone}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close() })
	emb.redis.RequireAuth(redisPassword)
	cfg.RedisURL = "redis://:" + redisPassword + "@" + emb.redis.Addr() + "/0"
	token := string(cfg.Token)
	if len(token) < 16 {
		t.Fatalf("embedded token %q is too short to look for", token)
	}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}

	w, err := newWorker(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.srv.Start(w.handler); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.srv.Shutdown(); _ = w.rdb.Close() })
	ts := httptest.NewServer(w.http.Handler)
	t.Cleanup(ts.Close)

	ctx := context.Background()
	op, err := tasks.NewOperator(w.rdb, tasks.OperatorConfig{Queue: cfg.Queue, ResultsStream: cfg.ResultsStream, MaxRetry: 3})
	if err != nil {
		t.Fatal(err)
	}
	producer := op.Producer()
	var orderKeys []string
	for _, name := range []string{"metrics-web", "metrics-arrears"} {
		o := demoOrder(name, 1)
		o.ProjectID = cfg.ProjectID
		o.IdempotencyKey = "key-SECRET-" + name
		if _, err := producer.Enqueue(ctx, o); err != nil {
			t.Fatal(err)
		}
		orderKeys = append(orderKeys, o.IdempotencyKey)
	}
	if err := waitTerminal(ctx, op, orderKeys, 60*time.Second); err != nil {
		t.Fatal(err)
	}

	// The handler counts an outcome just after the ledger records it: poll for the counts.
	wantLines := []string{
		`cph_purchase_orders_total{class="",outcome="succeeded"} 1`,
		`cph_purchase_orders_total{class="rejected",outcome="dead_lettered"} 1`,
		`cph_purchase_api_call_duration_seconds_count{status="200"} 1`,
		`cph_purchase_api_call_duration_seconds_count{status="400"} 1`,
		`cph_purchase_dead_letters{queue="cph-purchase"} 1`,
		`cph_purchase_queue_stats_up{queue="cph-purchase"} 1`,
	}
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		body = get(t, ts.URL+"/metrics", http.StatusOK)
		missing := missingLines(body, wantLines)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, family := range []string{
		"cph_purchase_orders_total", "cph_purchase_retries_total", "cph_purchase_api_call_duration_seconds",
		"cph_purchase_rate_limit_wait_seconds", "cph_purchase_reconciliations_total", "cph_purchase_ledger_conflicts_total",
		"cph_purchase_queue_tasks", "cph_purchase_queue_latency_seconds", "cph_purchase_queue_paused",
		"cph_purchase_dead_letters", "cph_purchase_queue_stats_up", "cph_purchase_ledger_redis_persistence",
		"cph_purchase_ledger_redis_replicas", "cph_purchase_build_info", "go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(body, "# TYPE "+family+" ") {
			t.Errorf("/metrics lacks the family %s", family)
		}
	}
	// The gauges read from the shared Redis say that a fleet reports each value once a worker.
	for _, family := range []string{
		"cph_purchase_queue_tasks", "cph_purchase_queue_latency_seconds", "cph_purchase_queue_paused",
		"cph_purchase_dead_letters", "cph_purchase_ledger_redis_persistence", "cph_purchase_ledger_redis_replicas",
	} {
		if !regexp.MustCompile(`(?m)^# HELP ` + family + ` .*aggregate with max, not sum`).MatchString(body) {
			t.Errorf("%s's help does not say to aggregate it with max", family)
		}
	}
	if !regexp.MustCompile(`(?m)^cph_purchase_build_info\{goversion="go[^"]+",revision="[^"]*",version="[^"]+"\} 1$`).MatchString(body) {
		t.Error("/metrics lacks cph_purchase_build_info with its version labels")
	}
	for _, secret := range []string{token, redisPassword, "SECRET", cfg.RedisURL} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics contains %q", secret)
		}
	}

	// The probes are served beside it, as before.
	get(t, ts.URL+"/healthz", http.StatusOK)
	get(t, ts.URL+"/readyz", http.StatusOK)
}

func get(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, wantStatus, b)
	}
	return string(b)
}

// missingLines returns the lines of want that are not lines of body.
func missingLines(body string, want []string) []string {
	have := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		have[line] = true
	}
	var out []string
	for _, line := range want {
		if !have[line] {
			out = append(out, line)
		}
	}
	return out
}
