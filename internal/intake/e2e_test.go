package intake

import (
	"context"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"cphpurchase/internal/testkit"
	"cphpurchase/internal/testkit/inproc"
)

// TestEndToEnd is a client of the intake written with plain net/http (every answer checked
// against the OpenAPI document) that submits, duplicates, conflicts and waits for purchases
// through a real worker and the CPH simulator.
func TestEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	w, err := inproc.Start(inproc.Config{RedisURL: h.redis.URL, Queue: h.queue, ResultsStream: h.stream, ProjectID: testProject})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	if r := h.post("/v1/orders", orderJSON("", "e2e-1"), "Idempotency-Key", "e2e/1"); r.status != 202 {
		t.Fatalf("submit: %d %s", r.status, r.raw)
	}
	if r := h.post("/v1/orders", orderJSON("e2e/1", "e2e-1")); r.status != 200 || r.body["status"] != "duplicate" {
		t.Fatalf("duplicate: %d %s", r.status, r.raw)
	}
	done := h.waitDone("e2e%2F1")
	result := done["result"].(map[string]any)
	if result["status"] != "succeeded" || result["order_id"] == "" || result["idempotency_key"] != "e2e/1" {
		t.Fatalf("result: %v", done)
	}
	// Bought: the key is in the ledger with its purchase now, so reusing it is refused at once.
	if r := h.post("/v1/orders", orderJSON("e2e/1", "e2e-other")); r.status != 409 || r.body["idempotency_key"] != "e2e/1" {
		t.Fatalf("conflict: %d %s", r.status, r.raw)
	}
	if r := h.post("/v1/orders:batch", batchJSON("b", orderJSON("e2e/2", "e2e-2"), orderJSON("e2e/1", "e2e-other"))); r.status != 409 {
		t.Fatalf("batch reusing a bought key: %d %s", r.status, r.raw)
	}
	if r := h.post("/v1/orders", orderJSON("e2e/1", "e2e-1")); r.status != 200 || r.body["status"] != "duplicate" {
		t.Fatalf("duplicate after success: %d %s", r.status, r.raw)
	}
	if r := h.post("/v1/orders:batch", batchJSON("b", orderJSON("e2e/2", "e2e-2"), orderJSON("e2e/3", "e2e-3"))); r.status != 202 || r.body["enqueued"] != 2.0 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	for _, key := range []string{"e2e%2F2", "e2e%2F3"} {
		if res := h.waitDone(key)["result"].(map[string]any); res["status"] != "succeeded" || res["metadata"].(map[string]any)["batch"] != "b" {
			t.Errorf("%s: %v", key, res)
		}
	}
	for _, name := range []string{"e2e-1", "e2e-2", "e2e-3", "e2e-other"} {
		want := 1
		if name == "e2e-other" {
			want = 0
		}
		if n := len(w.Sim.OrdersFor(name)); n != want {
			t.Errorf("the simulator has %d orders for %s, want %d", n, name, want)
		}
	}
}

// waitDone long-polls the order of the escaped key until it is done, and returns its status.
func (h *harness) waitDone(escapedKey string) map[string]any {
	h.t.Helper()
	var st map[string]any
	testkit.Eventually(h.t, "the result of "+escapedKey, func() bool {
		r := h.do(http.MethodGet, "/v1/orders/"+escapedKey+"?wait=10s", "", nil)
		if r.status != 200 {
			h.t.Fatalf("status of %s: %d %s", escapedKey, r.status, r.raw)
		}
		st = r.body
		return st["done"] == true
	})
	return st
}

// TestDocument: the document is valid OpenAPI, served as it is embedded, and documents every
// route the intake serves (the catch-all aside).
func TestDocument(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if r := h.do(http.MethodGet, "/v1/openapi.json", "", nil); r.status != 200 || r.raw != string(document) {
		t.Fatalf("GET /v1/openapi.json: %d", r.status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(document)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, route := range []struct{ method, path string }{
		{"POST", "/v1/orders"}, {"POST", "/v1/orders:batch"}, {"GET", "/v1/orders/{key}"},
		{"GET", "/v1/openapi.json"}, {"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/metrics"},
	} {
		item := doc.Paths.Value(route.path)
		if item == nil || item.GetOperation(route.method) == nil {
			t.Errorf("%s %s is served but not documented", route.method, route.path)
		}
	}
	if n := doc.Paths.Len(); n != 7 {
		t.Errorf("the document has %d paths, the intake serves 7", n)
	}
}
