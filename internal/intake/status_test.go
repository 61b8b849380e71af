package intake

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
	"cphpurchase/producer"
)

func TestStatus(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if r := h.post("/v1/orders", orderJSON("batch-7/row-3", "web-s1")); r.status != 202 {
		t.Fatalf("submit: %d %s", r.status, r.raw)
	}
	tests := []struct {
		name, path string
		wantStatus int
		check      func(r response) bool
	}{
		{"unknown key", "/v1/orders/nobody", 404, func(r response) bool { return r.body["code"] == "not_found" && r.body["idempotency_key"] == "nobody" }},
		{"queued", "/v1/orders/batch-7%2Frow-3", 200, func(r response) bool {
			return r.body["state"] == "pending" && r.body["done"] == false && r.body["task_id"] == tasks.TaskID("batch-7/row-3") && r.body["result"] == nil
		}},
		{"a short wait with no worker", "/v1/orders/batch-7%2Frow-3?wait=50ms", 200, func(r response) bool { return r.body["done"] == false }},
		{"wait not a duration", "/v1/orders/batch-7%2Frow-3?wait=soon", 400, func(r response) bool { return r.body["code"] == "bad_request" }},
		{"wait too long", "/v1/orders/batch-7%2Frow-3?wait=2m", 400, func(r response) bool { return strings.Contains(r.body["detail"].(string), "at most 1m0s") }},
		{"wait negative", "/v1/orders/batch-7%2Frow-3?wait=-1s", 400, func(r response) bool { return r.body["code"] == "bad_request" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(http.MethodGet, tt.path, "", nil)
			if r.status != tt.wantStatus || !tt.check(r) {
				t.Errorf("%d %s", r.status, r.raw)
			}
		})
	}
}

// TestRedisDown: while Redis is away every route that needs it answers 503, /readyz says so,
// and nothing of what was refused is enqueued once Redis is back.
func TestRedisDown(t *testing.T) {
	m := miniredis.RunT(t) // a Redis of this test's own, to stop and start
	h := newHarness(t, harnessOptions{redisURL: "redis://" + m.Addr() + "/0"})
	if r := h.post("/v1/orders", orderJSON("up-1", "web-up")); r.status != 202 {
		t.Fatalf("submit while up: %d %s", r.status, r.raw)
	}
	m.Close()
	for name, r := range map[string]response{
		"submit": h.post("/v1/orders", orderJSON("down-1", "web-down")),
		"batch":  h.post("/v1/orders:batch", batchJSON("", orderJSON("down-2", "web-d2"), orderJSON("down-3", "web-d3"))),
		"status": h.do(http.MethodGet, "/v1/orders/up-1", "", nil),
	} {
		if r.status != 503 || r.body["code"] != "unavailable" {
			t.Errorf("%s while Redis is down: %d %s", name, r.status, r.raw)
		}
		if batch, ok := r.body["batch"].(map[string]any); ok && (batch["enqueued"] != 0.0 || batch["total"] != 2.0) {
			t.Errorf("the batch's result: %v", batch)
		}
	}
	if r := h.do(http.MethodGet, "/readyz", "", nil); r.status != 503 {
		t.Errorf("/readyz while Redis is down: %d", r.status)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "/readyz once Redis is back", func() bool { return h.do(http.MethodGet, "/readyz", "", nil).status == 200 })
	if n := h.queued(); n != 1 {
		t.Errorf("%d orders queued, want only the one submitted while Redis was up", n)
	}
}

// TestBatchStoppedPartWayIsReported: a batch that Redis failed part way through answers 503 with
// what was done, never a silent success.
func TestBatchStoppedPartWayIsReported(t *testing.T) {
	done := producer.BatchResult{Total: 2, Enqueued: 1, Orders: []producer.Submission{{TaskID: "cph-1", IdempotencyKey: "p-1", Queue: "q", Status: "enqueued"}, {}}}
	h := newHarness(t, harnessOptions{wrap: func(Producer) Producer {
		return fakeProducer{batch: done, err: errors.New("producer: stopped after 1 of 2 orders: connection reset")}
	}})
	r := h.post("/v1/orders:batch", batchJSON("", orderJSON("p-1", "web-p1"), orderJSON("p-2", "web-p2")))
	batch, _ := r.body["batch"].(map[string]any)
	if r.status != 503 || batch["enqueued"] != 1.0 || !strings.Contains(r.body["detail"].(string), "after 1 of 2 orders") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if strings.Contains(r.raw, "connection reset") {
		t.Errorf("the cause of a failure belongs in the log, not the answer: %s", r.raw)
	}
}

// TestGracefulShutdown: once Serve's context ends, a long poll answers at once with what it
// knows, a batch in flight is enqueued to its end and answered, and then Serve returns.
func TestGracefulShutdown(t *testing.T) {
	var hold *held
	h := newHarness(t, harnessOptions{wrap: func(p Producer) Producer { hold = newHeld(p); return hold }})
	if r := h.post("/v1/orders", orderJSON("sd-1", "web-sd")); r.status != 202 {
		t.Fatalf("submit: %d %s", r.status, r.raw)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- h.server.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	batchDone := make(chan response, 1)
	go func() {
		batchDone <- h.do(http.MethodPost, base+"/v1/orders:batch", "application/json", batchJSON("", orderJSON("sd-2", "web-sd2")))
	}()
	pollDone := make(chan response, 1)
	go func() { pollDone <- h.do(http.MethodGet, base+"/v1/orders/sd-1?wait=60s", "", nil) }()
	<-hold.entered
	<-hold.waiting

	cancel()
	poll := <-pollDone
	if poll.status != 200 || poll.body["done"] != false {
		t.Errorf("long poll at shutdown: %d %s", poll.status, poll.raw)
	}
	if err := <-hold.waitEnded; !errors.Is(err, context.Canceled) {
		t.Errorf("the long poll's wait ended by %v, want cancelled by the shutdown", err)
	}
	close(hold.resume)
	if r := <-batchDone; r.status != 202 || r.body["enqueued"] != 1.0 {
		t.Errorf("batch in flight at shutdown: %d %s", r.status, r.raw)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the intake still accepts connections after shutdown")
	}
}

// TestMetrics: requests are counted by route pattern and status code, and timed by route.
func TestMetrics(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.post("/v1/orders", orderJSON("m-1", "web-m1"))
	h.post("/v1/orders", orderJSON("m-1", "web-m1"))
	h.do(http.MethodGet, "/v1/orders/m-1", "", nil)
	resp, err := http.Get(h.url + "/no/such/route") // not in the document: past the validating client
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	metrics := h.do(http.MethodGet, "/metrics", "", nil).raw
	for _, want := range []string{
		`cph_purchase_intake_requests_total{code="202",route="POST /v1/orders"} 1`,
		`cph_purchase_intake_requests_total{code="200",route="POST /v1/orders"} 1`,
		`cph_purchase_intake_requests_total{code="200",route="GET /v1/orders/{key...}"} 1`,
		`cph_purchase_intake_requests_total{code="404",route="other"} 1`,
		`cph_purchase_intake_request_duration_seconds_count{route="POST /v1/orders"} 2`,
		`go_goroutines`, `process_open_fds`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "m-1") {
		t.Error("/metrics shows an idempotency key")
	}
}
