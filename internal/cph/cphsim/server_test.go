package cphsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

func TestUnknownRoutes(t *testing.T) {
	sim, ts := start(t, cphsim.Options{})
	tests := []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/v2/" + project + "/cloud-phone/servers"},  // purchase path, wrong method
		{"POST", "/v1/" + project + "/cloud-phone/servers"}, // list path, wrong method
		{"DELETE", "/v1/" + project + "/cloud-phone/servers/abc"},
		{"GET", "/v1//cloud-phone/servers"},
		{"GET", "/v1/" + project + "/cloud-phone/servers/abc/extra"},
		{"GET", "/v1/" + project + "/cloud-phone/servers/"},
		{"GET", "/v3/auth/tokens"},
		{"POST", "/v3/auth/tokens/extra"},
		{"POST", "/v1/" + project + "/cloud-phone/phones"}, // phone list path, wrong method
		{"GET", "/v2/orders/customer-orders/details/"},
	}
	for _, tt := range tests {
		wantError(t, mustDo(t, tt.method, ts.URL+tt.path, "", nil), http.StatusNotFound, "APIGW.0101")
	}
	if st := sim.Stats(); st.Calls != len(tests) || st.PurchaseCalls != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// Latency delays every kind of call; only a lower bound is asserted, so a slow machine passes.
func TestLatency(t *testing.T) {
	const latency = 40 * time.Millisecond
	_, ts := start(t, cphsim.Options{Latency: latency})
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v2/" + project + "/cloud-phone/servers", purchaseBody("lat", 1)},
		{"GET", "/v1/" + project + "/cloud-phone/servers", nil},
		{"GET", "/v1/" + project + "/cloud-phone/servers/x", nil},
		{"POST", "/v3/auth/tokens", tokenBody("u", "p", "d", project)},
	} {
		begin := time.Now()
		r := mustDo(t, c.method, ts.URL+c.path, "", c.body)
		if d := time.Since(begin); d < latency {
			t.Errorf("%s %s answered %d after %v, want at least %v", c.method, c.path, r.status, d, latency)
		}
	}
	begin := time.Now()
	mustDo(t, "GET", ts.URL+"/_sim/stats", "", nil)
	if d := time.Since(begin); d >= 10*time.Second {
		t.Errorf("debug route took %v", d)
	}
}

func TestSetDown(t *testing.T) {
	sim, ts := start(t, cphsim.Options{})
	sim.SetDown(true)
	for _, path := range []string{"/v2/" + project + "/cloud-phone/servers", "/v3/auth/tokens"} {
		if r, err := do(context.Background(), "POST", ts.URL+path, "", purchaseBody("down", 1)); err == nil {
			t.Errorf("POST %s while down: got %d, want no response", path, r.status)
		}
	}
	if n := len(sim.Orders()); n != 0 {
		t.Errorf("orders while down = %d", n)
	}
	for _, c := range sim.Calls() {
		if c.Status != 0 {
			t.Errorf("call while down = %+v, want status 0", c)
		}
	}
	sim.SetDown(false)
	if r := purchase(t, ts, "", purchaseBody("up", 1)); r.status != 200 {
		t.Errorf("after SetDown(false): %d", r.status)
	}
}

func TestReset(t *testing.T) {
	sim, ts := start(t, cphsim.Options{Tokens: []string{"tok"}})
	purchase(t, ts, "tok", purchaseBody("before", 1))
	sim.Reset()
	if st := sim.Stats(); st.Calls != 0 || st.Orders != 0 || st.Servers != 0 || st.PurchaseCalls != 0 || len(sim.Calls()) != 0 || len(sim.Orders()) != 0 {
		t.Fatalf("after Reset: %+v", st)
	}
	if l := listServers(t, ts, "tok", ""); l.Count != 0 {
		t.Errorf("servers after Reset: %d", l.Count)
	}
	if r := purchase(t, ts, "tok", purchaseBody("after", 1)); r.status != 200 {
		t.Errorf("tokens after Reset: %d", r.status)
	}
}

func TestDebugRoutes(t *testing.T) {
	sim, ts := start(t, cphsim.Options{Tokens: []string{"tok"}})
	purchase(t, ts, "tok", purchaseBody("dbg", 1))
	purchase(t, ts, "tok", purchaseBody("dbg-2", 2))

	var st cphsim.Stats
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/stats", "", nil), 200, &st)
	if st.Orders != 2 || st.Servers != 3 || st.Faults[cphsim.FaultNone] != 2 {
		t.Errorf("stats = %+v", st)
	}
	var orders []cphsim.Order
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/orders", "", nil), 200, &orders)
	if len(orders) != 2 || orders[1].ServerName != "dbg-2" || len(orders[1].ServerIDs) != 2 {
		t.Errorf("orders = %+v", orders)
	}
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/orders?server_name=dbg", "", nil), 200, &orders)
	if len(orders) != 1 || orders[0].ServerName != "dbg" {
		t.Errorf("orders for dbg = %+v", orders)
	}
	var calls []cphsim.Call
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/calls", "", nil), 200, &calls)
	if len(calls) != 2 || calls[0].Status != 200 || calls[0].Method != "POST" {
		t.Errorf("calls = %+v", calls)
	}
	r := mustDo(t, "GET", ts.URL+"/_sim/stats", "", nil)
	if !strings.Contains(string(r.body), `"none":2`) {
		t.Errorf("faults are not written by name: %s", r.body)
	}

	post := func(name string) {
		t.Helper()
		if r := mustDo(t, "POST", ts.URL+"/_sim/"+name, "", nil); r.status != http.StatusNoContent {
			t.Fatalf("POST /_sim/%s: %d %s", name, r.status, r.body)
		}
	}
	post("expire-tokens")
	wantError(t, purchase(t, ts, "tok", purchaseBody("dbg", 1)), 401, "APIGW.0301")

	post("down")
	if _, err := do(context.Background(), "GET", ts.URL+"/v1/"+project+"/cloud-phone/servers", "", nil); err == nil {
		t.Error("API answered while down")
	}
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/stats", "", nil), 200, &st) // debug still answers
	post("up")
	if r := mustDo(t, "GET", ts.URL+"/v3/auth/tokens", "", nil); r.status != 404 {
		t.Errorf("API after up: %d", r.status)
	}

	post("reset")
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/calls", "", nil), 200, &calls)
	if len(calls) != 0 {
		t.Errorf("calls after reset = %d", len(calls))
	}
	if r := mustDo(t, "GET", ts.URL+"/_sim/orders", "", nil); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("orders after reset = %s, want []", r.body)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/_sim/nothing"}, {"GET", "/_sim/reset"}, {"POST", "/_sim/stats"}} {
		if r := mustDo(t, c.method, ts.URL+c.path, "", nil); r.status != 404 {
			t.Errorf("%s %s: %d", c.method, c.path, r.status)
		}
	}
	if n := len(sim.Calls()); n != 0 {
		t.Errorf("debug routes were recorded as API calls: %d", n)
	}
}

// Without WithDebug the debug paths are just unknown API routes.
func TestDebugRoutesAreOptIn(t *testing.T) {
	sim := cphsim.New(cphsim.Options{})
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, httptest.NewRequest("GET", "/_sim/stats", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "APIGW.0101") {
		t.Errorf("GET /_sim/stats on the bare handler: %d %s", rec.Code, rec.Body)
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []cphsim.Options{
		{ThrottleRate: -0.1},
		{DropRate: 1.5},
		{ThrottleRate: 0.6, FailAfterRate: 0.6},
		{RateLimit: -1},
		{Latency: -time.Second},
		{IAMUser: "u"},
		{LateCommitRate: 1.5},
		{LateCommitRate: 0.5, DropRate: 0.3, RejectRate: 0.3},
		{LateCommitAfter: -time.Second},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: valid, want an error", o)
		}
	}
	good := []cphsim.Options{
		{}, {ThrottleRate: 0.5, FailAfterRate: 0.5}, {RateLimit: 0.1, IAMUser: "u", IAMPassword: "p"},
		{LateCommitRate: 0.5, RejectRate: 0.5, LateCommitAfter: time.Millisecond},
	}
	for _, o := range good {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted invalid options")
		}
	}()
	cphsim.New(bad[0])
}

func TestFaultKindText(t *testing.T) {
	for k := cphsim.FaultNone; k <= cphsim.FaultLateCommit; k++ {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var back cphsim.FaultKind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("%v → %s → %v (%v)", k, b, back, err)
		}
	}
	if s := cphsim.FaultLateCommit.String(); s != "late_commit" {
		t.Errorf("FaultLateCommit.String() = %q", s)
	}
	if k, err := cphsim.ParseFaultKind("late_commit"); err != nil || k != cphsim.FaultLateCommit {
		t.Errorf(`ParseFaultKind("late_commit") = %v, %v`, k, err)
	}
	if _, err := cphsim.ParseFaultKind("explode"); err == nil {
		t.Error("ParseFaultKind accepted an unknown name")
	}
}
