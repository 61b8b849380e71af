package cphsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

const project = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// start serves a simulator with opts over real HTTP, debug routes included. The test's end closes
// both, so no late commit outlives it.
func start(t *testing.T, opts cphsim.Options) (*cphsim.Server, *httptest.Server) {
	t.Helper()
	sim := cphsim.New(opts)
	ts := httptest.NewServer(sim.WithDebug())
	t.Cleanup(ts.Close)
	t.Cleanup(sim.Close)
	return sim, ts
}

// fakeClock is Options.Now under the test's control.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// purchaseBody is a valid purchase body (the seed page's example, auto-paid unless changed).
func purchaseBody(name string, count int) map[string]any {
	return map[string]any{
		"server_name":       name,
		"server_model_name": "physical.kg1.4xlarge.cp",
		"phone_model_name":  "kg1.cp.c20.d64SSD.e1v1",
		"image_id":          "20060220200717f201120a2300000e91",
		"count":             count,
		"keypair_name":      "keypair",
		"ports": []any{
			map[string]any{"name": "myServer1", "listen_port": 20000, "internet_accessible": "false"},
		},
		"extend_param":  map[string]any{"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 1},
		"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
		"nics":          []any{map[string]any{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908"}},
		"public_ip":     map[string]any{"eip": map[string]any{"type": "5_bgp"}},
		"band_width":    map[string]any{"band_width_share_type": 0, "band_width_size": 300, "band_width_charge_mode": 1},
	}
}

// response is what a test looks at of an answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; body is raw bytes, a string, or anything to marshal as JSON.
func do(ctx context.Context, method, url, token string, body any) (response, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}, err
}

// mustDo is do for calls that must get an answer.
func mustDo(t *testing.T, method, url, token string, body any) response {
	t.Helper()
	r, err := do(context.Background(), method, url, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func purchase(t *testing.T, ts *httptest.Server, token string, body any) response {
	t.Helper()
	return mustDo(t, http.MethodPost, ts.URL+"/v2/"+project+"/cloud-phone/servers", token, body)
}

// wantError checks status, the API's error body (exactly error_code, error_msg, request_id) and
// that X-Request-Id matches request_id.
func wantError(t *testing.T, r response, status int, code string) map[string]string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var e map[string]string
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if len(e) != 3 || e["error_msg"] == "" || e["error_code"] != code {
		t.Fatalf("error body = %s, want error_code %s, error_msg and request_id only", r.body, code)
	}
	if !hex32.MatchString(e["request_id"]) || r.header.Get("X-Request-Id") != e["request_id"] {
		t.Fatalf("request_id %q, X-Request-Id %q: want equal 32-hex ids", e["request_id"], r.header.Get("X-Request-Id"))
	}
	return e
}

// decode unmarshals a 2xx body into v.
func decode(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}
