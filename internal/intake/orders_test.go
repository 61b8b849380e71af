package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// TestSubmitOrder drives POST /v1/orders through every answer of the "Bad input" list and
// the good ones, over real HTTP; each response is checked against the OpenAPI document, and a
// refused order leaves the queue as it was.
func TestSubmitOrder(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if r := h.post("/v1/orders", orderJSON("k-1", "web-01")); r.status != http.StatusAccepted || r.body["status"] != "enqueued" || r.body["task_id"] != tasks.TaskID("k-1") {
		t.Fatalf("first submit: %d %s", r.status, r.raw)
	}
	tooBig := append(orderJSON("k-big", "web-big")[:10], bytes.Repeat([]byte(" "), MaxOrderBytes)...)
	tests := []struct {
		name        string
		contentType string
		body        []byte
		header      []string
		wantStatus  int
		wantCode    string // the problem's code, or the submission's status
		wantFields  []string
		wantKey     string
		enqueues    bool
	}{
		{"duplicate", "application/json", orderJSON("k-1", "web-01"), nil, 200, "duplicate", nil, "k-1", false},
		{"conflict", "application/json", orderJSON("k-1", "web-02"), nil, 409, "conflict", nil, "k-1", false},
		{"derived key", "application/json", orderJSON("", "web-03"), nil, 202, "enqueued", nil, "", true},
		{"derived key again", "application/json", orderJSON("", "web-03"), nil, 200, "duplicate", nil, "", false},
		{"key in the header", "application/json", orderJSON("", "web-04"), []string{"Idempotency-Key", "hdr-4"}, 202, "enqueued", nil, "hdr-4", true},
		{"same key in both", "application/json", orderJSON("k-5", "web-05"), []string{"Idempotency-Key", "k-5"}, 202, "enqueued", nil, "k-5", true},
		{"header and body disagree", "application/json", orderJSON("k-6", "web-06"), []string{"Idempotency-Key", "other"}, 400, "bad_request", nil, "", false},
		{"two key headers", "application/json", orderJSON("", "web-07"), []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, 400, "bad_request", nil, "", false},
		{"malformed JSON", "application/json", []byte(`{"request": {"server_name": "x",}`), nil, 400, "malformed_json", []string{"(root): malformed JSON"}, "", false},
		{"not an object", "application/json", []byte(`[1, 2]`), nil, 422, "invalid", []string{"(root): "}, "", false},
		{"wrong content type", "text/plain", orderJSON("k-8", "web-08"), nil, 415, "unsupported_media_type", nil, "", false},
		{"no content type", "", orderJSON("k-9", "web-09"), nil, 415, "unsupported_media_type", nil, "", false},
		{"over the limit", "application/json", tooBig, nil, 413, "too_large", nil, "", false},
		{"unknown field", "application/json", []byte(`{"priority": "high", "request": {}}`), nil, 422, "invalid", []string{"priority: unknown field"}, "", false},
		{"unknown field in the request", "application/json", withRequestField(orderJSON("k-10", "web-10"), "colour", "red"), nil, 422, "invalid", []string{"request.colour: unknown field"}, "", false},
		{"rule broken", "application/json", withRequestField(orderJSON("k-11", "web-11"), "count", 11), nil, 422, "invalid", []string{"request.count: must be between 1 and 10, got 11"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.queued()
			r := h.do(http.MethodPost, "/v1/orders", tt.contentType, tt.body, tt.header...)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			got := r.body["code"]
			if r.status < 300 {
				got = r.body["status"]
			}
			if got != tt.wantCode {
				t.Errorf("code/status %v, want %s: %s", got, tt.wantCode, r.raw)
			}
			paths := fieldPaths(r)
			for _, want := range tt.wantFields {
				if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, want) }) {
					t.Errorf("fields %q lack %q", paths, want)
				}
			}
			if tt.wantKey != "" && r.body["idempotency_key"] != tt.wantKey {
				t.Errorf("idempotency_key %v, want %s", r.body["idempotency_key"], tt.wantKey)
			}
			if tt.name == "derived key" && !strings.HasPrefix(r.body["idempotency_key"].(string), "sha256:") {
				t.Errorf("derived key %v", r.body["idempotency_key"])
			}
			want := before
			if tt.enqueues {
				want++
			}
			if n := h.queued(); n != want {
				t.Errorf("%d tasks queued, want %d", n, want)
			}
		})
	}
}

// withRequestField sets one field of an order's request.
func withRequestField(order []byte, field string, value any) []byte {
	var o map[string]any
	if err := json.Unmarshal(order, &o); err != nil {
		panic(err)
	}
	o["request"].(map[string]any)[field] = value
	b, _ := json.Marshal(o)
	return b
}

// TestSubmitBatch: a batch is validated and checked whole before anything of it is enqueued.
func TestSubmitBatch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	good := batchJSON("2026-11", orderJSON("b-1", "web-1"), orderJSON("b-2", "web-2"), orderJSON("", "web-3"))
	r := h.post("/v1/orders:batch", good)
	if r.status != 202 || r.body["enqueued"] != 3.0 || r.body["total"] != 3.0 || r.body["name"] != "2026-11" {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	info, err := asynq.NewInspectorFromRedisClient(h.redis.Client).GetTaskInfo(h.queue, tasks.TaskID("b-1"))
	if err != nil || !strings.Contains(string(info.Payload), `"batch":"2026-11"`) {
		t.Errorf("the batch's name is not in the order's metadata: %s (%v)", info.Payload, err)
	}
	if r := h.post("/v1/orders:batch", good); r.status != 200 || r.body["duplicates"] != 3.0 || r.body["enqueued"] != 0.0 {
		t.Fatalf("the same batch again: %d %s", r.status, r.raw)
	}
	// A named batch's keys are its members, as `enqueue bulk --batch` records them: `enqueue
	// batch status` follows a batch sent over HTTP, counting each key once.
	op, err := tasks.NewOperator(h.redis.Client, tasks.OperatorConfig{Queue: h.queue, ResultsStream: h.stream})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := op.Batch(context.Background(), "2026-11"); err != nil || rep.Counts.Total != 3 {
		t.Fatalf("batch 2026-11's members: %+v, %v; want the 3 keys", rep.Counts, err)
	}

	tests := []struct {
		name        string
		contentType string
		body        []byte
		wantStatus  int
		wantCode    string
		wantFields  []string
		wantInvalid float64
	}{
		{"an invalid order refuses all", "application/json",
			batchJSON("", orderJSON("c-1", "web-c1"), withRequestField(orderJSON("c-2", "web-c2"), "count", 0), withRequestField(orderJSON("c-3", "web-c3"), "colour", "red")),
			422, "invalid", []string{"orders[1].request.count: ", "orders[2].request.colour: unknown field"}, 2},
		{"unknown field of an order", "application/json", []byte(`{"orders": [{"request": {}, "priority": 1}]}`), 422, "invalid", []string{"orders[0].priority: unknown field"}, 1},
		{"unknown field of the batch", "application/json", []byte(`{"orders": [], "owner": "me"}`), 422, "invalid", []string{"owner: unknown field"}, 0},
		{"no orders", "application/json", []byte(`{"orders": []}`), 422, "invalid", []string{"orders: must hold at least one order"}, 0},
		{"one key, two purchases", "application/json",
			batchJSON("", orderJSON("d-1", "web-d1"), orderJSON("d-1", "web-d2")), 409, "conflict", nil, 0},
		{"malformed JSON", "application/json", []byte(`{"orders": [`), 400, "malformed_json", []string{"(root): malformed JSON"}, 0},
		{"wrong content type", "application/x-ndjson", good, 415, "unsupported_media_type", nil, 0},
		{"over the limit", "application/json", append([]byte(`{"orders": [`), bytes.Repeat([]byte(" "), MaxBatchBytes)...), 413, "too_large", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.queued()
			r := h.do(http.MethodPost, "/v1/orders:batch", tt.contentType, tt.body)
			if r.status != tt.wantStatus || r.body["code"] != tt.wantCode {
				t.Fatalf("%d %v, want %d %s: %s", r.status, r.body["code"], tt.wantStatus, tt.wantCode, r.raw)
			}
			paths := fieldPaths(r)
			for _, want := range tt.wantFields {
				if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, want) }) {
					t.Errorf("fields %q lack %q", paths, want)
				}
			}
			if batch, ok := r.body["batch"].(map[string]any); ok && batch["invalid"] != tt.wantInvalid {
				t.Errorf("batch.invalid %v, want %v", batch["invalid"], tt.wantInvalid)
			}
			if tt.wantCode == "conflict" {
				batch := r.body["batch"].(map[string]any)
				orders := batch["orders"].([]any)
				if batch["conflicts"] != 1.0 || orders[1].(map[string]any)["status"] != "conflict" || len(orders[0].(map[string]any)) != 0 {
					t.Errorf("conflict's batch: %v", batch)
				}
			}
			if n := h.queued(); n != before {
				t.Errorf("%d tasks queued, want %d: a refused batch enqueued something", n, before)
			}
		})
	}

	// A key queued but not yet taken by a worker is not in the ledger yet: its reuse is found as
	// the batch is enqueued, reported, and the rest of the batch goes ahead (as enqueue bulk).
	before := h.queued()
	r = h.post("/v1/orders:batch", batchJSON("", orderJSON("e-1", "web-e1"), orderJSON("b-1", "web-other")))
	batch, _ := r.body["batch"].(map[string]any)
	if r.status != 409 || batch["enqueued"] != 1.0 || batch["conflicts"] != 1.0 || h.queued() != before+1 {
		t.Errorf("a queued key reused: %d %s", r.status, r.raw)
	}
}

// TestClientDisconnectsMidBatch: a client that goes away while its batch is being enqueued does
// not cut the batch short; the batch is enqueued whole and the log says what it did.
func TestClientDisconnectsMidBatch(t *testing.T) {
	var hold *held
	h := newHarness(t, harnessOptions{wrap: func(p Producer) Producer { hold = newHeld(p); return hold }})
	// Once released, wait for the intake's context to end, as it would if it were the request's:
	// then the enqueue below would fail and enqueue part of the batch, or nothing.
	hold.beforeEnqueue = func(ctx context.Context) {
		testkit.Poll(2*time.Second, func() bool { return ctx.Err() != nil })
	}
	orders := make([][]byte, 20)
	for i := range orders {
		orders[i] = orderJSON(fmt.Sprintf("gone-%d", i), fmt.Sprintf("web-gone-%d", i))
	}
	body := batchJSON("gone", orders...)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/orders:batch HTTP/1.1\r\nHost: intake\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	<-hold.entered
	conn.Close()
	close(hold.resume)
	testkit.Eventually(t, "the batch's log line", func() bool { return strings.Contains(h.logs.String(), `"batch":"gone"`) })
	if !strings.Contains(h.logs.String(), `"enqueued":20`) {
		t.Errorf("log: %s", h.logs.String())
	}
	if n := h.queued(); n != 20 {
		t.Fatalf("%d of 20 orders queued after the client left", n)
	}
}
