package cphsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/testkit"
)

var orderIDPattern = regexp.MustCompile(`^CS\d{10}[A-Z0-9]{10}$`)

func TestPurchaseSucceeds(t *testing.T) {
	clock := newClock()
	sim, ts := start(t, cphsim.Options{Now: clock.Now})

	r := purchase(t, ts, "", purchaseBody("web-01", 2))
	var got cph.PurchaseResponse
	decode(t, r, http.StatusOK, &got)
	if got.RequestID != r.header.Get("X-Request-Id") || !hex32.MatchString(got.RequestID) {
		t.Errorf("request_id %q, X-Request-Id %q", got.RequestID, r.header.Get("X-Request-Id"))
	}
	if !orderIDPattern.MatchString(got.OrderID) || !strings.HasPrefix(got.OrderID, "CS2611251800") {
		t.Errorf("order_id = %q, want CS + yyMMddHHmm + 10 letters/digits", got.OrderID)
	}
	if got.ProductID == "" || len(got.ServerIDs) != 2 || !hex32.MatchString(got.ServerIDs[0]) || got.ServerIDs[0] == got.ServerIDs[1] {
		t.Errorf("product_id %q, server_ids %q", got.ProductID, got.ServerIDs)
	}

	orders := sim.OrdersFor("web-01")
	if len(orders) != 1 {
		t.Fatalf("OrdersFor = %d orders, want 1", len(orders))
	}
	o := orders[0]
	if o.OrderID != got.OrderID || o.ProductID != got.ProductID || o.ProjectID != project || o.RequestID != got.RequestID ||
		!o.AutoPay || o.Fault != cphsim.FaultNone || !o.Time.Equal(clock.Now()) || len(o.ServerIDs) != 2 {
		t.Errorf("order = %+v, response %+v", o, got)
	}
	var req map[string]any
	if err := json.Unmarshal(o.Request, &req); err != nil || req["server_name"] != "web-01" {
		t.Errorf("order request = %s (%v)", o.Request, err)
	}
	if n := len(sim.Orders()); n != 1 {
		t.Errorf("Orders = %d, want 1", n)
	}
	if n := len(sim.OrdersFor("web")); n != 0 {
		t.Errorf("OrdersFor(prefix) = %d, want 0: exact match only", n)
	}
}

// A body built from the client's own types must be one the simulator accepts.
func TestPurchaseAcceptsClientTypes(t *testing.T) {
	_, ts := start(t, cphsim.Options{})
	var req cph.PurchaseRequest
	b, _ := json.Marshal(purchaseBody("from-types", 1))
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	var got cph.PurchaseResponse
	decode(t, purchase(t, ts, "", &req), http.StatusOK, &got)
	if len(got.ServerIDs) != 1 {
		t.Errorf("server_ids = %q", got.ServerIDs)
	}
}

// The seed page's example request, verbatim (is_auto_pay 0, two ports).
func TestPurchaseAcceptsDocumentedExample(t *testing.T) {
	sim, ts := start(t, cphsim.Options{})
	const example = `{ "server_name" : "cph-kertus-1110", "server_model_name" : "physical.kg1.4xlarge.cp", "phone_model_name" : "kg1.cp.c20.d64SSD.e1v1", "image_id" : "20060220200717f201120a2300000e91", "count" : 1, "keypair_name" : "keypair", "ports" : [ { "name" : "myServer1", "listen_port" : 20000, "internet_accessible" : "false" }, { "name" : "myServer2", "listen_port" : 20001, "internet_accessible" : "true" } ], "extend_param" : { "charging_mode" : 0, "period_type" : 2, "period_num" : 1, "is_auto_pay" : 0 }, "tenant_vpc_id" : "fca063f6-b942-42a8-9004-e5545f58d6a2", "nics" : [ { "subnet_id" : "f1cbfc37-eb42-4357-a0ec-9e4f11950908" } ], "public_ip" : { "eip" : { "type" : "5_bgp" } }, "band_width" : { "band_width_share_type" : 0, "band_width_size" : 300, "band_width_charge_mode" : 1 } }`
	if r := purchase(t, ts, "", example); r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if o := sim.OrdersFor("cph-kertus-1110"); len(o) != 1 || o[0].AutoPay {
		t.Errorf("orders = %+v, want one unpaid order", o)
	}
}

func TestPurchaseValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(b map[string]any) // nil: body is raw
		raw  string
		code string
	}{
		{name: "malformed JSON", raw: `{"server_name":`, code: "CPS.0005"},
		{name: "not an object", raw: `[1,2]`, code: "CPS.0005"},
		{name: "trailing data", raw: `{} {}`, code: "CPS.0005"},
		{name: "unknown field", edit: func(b map[string]any) { b["server_nmae"] = "x" }, code: "CPS.0005"},
		{name: "unknown field in extend_param", edit: func(b map[string]any) { b["extend_param"].(map[string]any)["auto_pay"] = 1 }, code: "CPS.0005"},
		{name: "server_name missing", edit: func(b map[string]any) { delete(b, "server_name") }, code: "CPS.0005"},
		{name: "server_name empty", edit: func(b map[string]any) { b["server_name"] = "" }, code: "CPS.0005"},
		{name: "server_name bad character", edit: func(b map[string]any) { b["server_name"] = "web.01" }, code: "CPS.0005"},
		{name: "server_name 61 characters", edit: func(b map[string]any) { b["server_name"] = strings.Repeat("a", 61) }, code: "CPS.0005"},
		{name: "server_name not a string", edit: func(b map[string]any) { b["server_name"] = 7 }, code: "CPS.0005"},
		{name: "count missing", edit: func(b map[string]any) { delete(b, "count") }, code: "CPS.0024"},
		{name: "count 0", edit: func(b map[string]any) { b["count"] = 0 }, code: "CPS.0024"},
		{name: "count 11", edit: func(b map[string]any) { b["count"] = 11 }, code: "CPS.0024"},
		{name: "count a string", edit: func(b map[string]any) { b["count"] = "2" }, code: "CPS.0024"},
		{name: "count fractional", edit: func(b map[string]any) { b["count"] = 1.5 }, code: "CPS.0024"},
		{name: "server_model_name missing", edit: func(b map[string]any) { delete(b, "server_model_name") }, code: "CPS.0028"},
		{name: "phone_model_name too long", edit: func(b map[string]any) { b["phone_model_name"] = strings.Repeat("p", 65) }, code: "CPS.0028"},
		{name: "image_id missing", edit: func(b map[string]any) { delete(b, "image_id") }, code: "CPS.0030"},
		{name: "image_id too long", edit: func(b map[string]any) { b["image_id"] = strings.Repeat("i", 33) }, code: "CPS.0030"},
		{name: "band_width missing", edit: func(b map[string]any) { delete(b, "band_width") }, code: "CPS.0031"},
		{name: "band_width charge mode missing", edit: func(b map[string]any) { delete(b["band_width"].(map[string]any), "band_width_charge_mode") }, code: "CPS.0031"},
		{name: "band_width share type 2", edit: func(b map[string]any) { b["band_width"].(map[string]any)["band_width_share_type"] = 2 }, code: "CPS.0031"},
		{name: "band_width size a string", edit: func(b map[string]any) { b["band_width"].(map[string]any)["band_width_size"] = "300" }, code: "CPS.0031"},
		{name: "extend_param missing", edit: func(b map[string]any) { delete(b, "extend_param") }, code: "CPS.0005"},
		{name: "period_num missing", edit: func(b map[string]any) { delete(b["extend_param"].(map[string]any), "period_num") }, code: "CPS.0005"},
		{name: "is_auto_pay 2", edit: func(b map[string]any) { b["extend_param"].(map[string]any)["is_auto_pay"] = 2 }, code: "CPS.0005"},
		{name: "tenant_vpc_id missing", edit: func(b map[string]any) { delete(b, "tenant_vpc_id") }, code: "CPS.0005"},
		{name: "nics empty", edit: func(b map[string]any) { b["nics"] = []any{} }, code: "CPS.0005"},
		{name: "nic without subnet", edit: func(b map[string]any) { b["nics"] = []any{map[string]any{"ipv6_enable": true}} }, code: "CPS.0005"},
		{name: "public_ip missing", edit: func(b map[string]any) { delete(b, "public_ip") }, code: "CPS.0005"},
		{name: "public_ip null", edit: func(b map[string]any) { b["public_ip"] = nil }, code: "CPS.0005"},
	}
	sim, ts := start(t, cphsim.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any = tt.raw
			if tt.edit != nil {
				b := purchaseBody("web-01", 1)
				tt.edit(b)
				body = b
			}
			wantError(t, purchase(t, ts, "", body), http.StatusBadRequest, tt.code)
		})
	}
	st := sim.Stats()
	if st.Orders != 0 || st.Invalid != len(tests) || st.PurchaseCalls != len(tests) || len(st.Faults) != 0 {
		t.Errorf("stats = %+v: want %d invalid calls, no orders, no fault decisions", st, len(tests))
	}
}

// The body limit protects the simulator, and answers like any other malformed body.
func TestPurchaseBodyTooLarge(t *testing.T) {
	sim, ts := start(t, cphsim.Options{})
	b := purchaseBody("big", 1)
	b["keypair_name"] = strings.Repeat("k", 2<<20)
	wantError(t, purchase(t, ts, "", b), http.StatusBadRequest, "CPS.0005")
	if n := sim.Stats().Orders; n != 0 {
		t.Errorf("orders = %d", n)
	}
}

func TestPurchaseNamesServers(t *testing.T) {
	tests := []struct {
		count int
		want  []string
	}{
		{1, []string{"name-x"}},
		{3, []string{"name-x-0001", "name-x-0002", "name-x-0003"}},
		{10, []string{"name-x-0001", "name-x-0002", "name-x-0003", "name-x-0004", "name-x-0005",
			"name-x-0006", "name-x-0007", "name-x-0008", "name-x-0009", "name-x-0010"}},
	}
	for _, tt := range tests {
		sim, ts := start(t, cphsim.Options{})
		var got cph.PurchaseResponse
		decode(t, purchase(t, ts, "", purchaseBody("name-x", tt.count)), http.StatusOK, &got)
		list := listServers(t, ts, "", "")
		if list.Count != tt.count || len(list.Servers) != tt.count {
			t.Fatalf("count %d: list has %d/%d servers", tt.count, list.Count, len(list.Servers))
		}
		for i, srv := range list.Servers {
			if srv.ServerName != tt.want[i] || srv.ServerID != got.ServerIDs[i] || srv.Status != cph.ServerStatusRunning ||
				srv.Metadata.OrderID != got.OrderID || srv.Metadata.ProductID != got.ProductID {
				t.Errorf("count %d: server %d = %+v, want name %s, id %s, order %s", tt.count, i, srv, tt.want[i], got.ServerIDs[i], got.OrderID)
			}
		}
		if o := sim.OrdersFor("name-x"); len(o) != 1 || len(o[0].ServerIDs) != tt.count {
			t.Errorf("count %d: orders %+v", tt.count, o)
		}
	}
}

// Without is_auto_pay 1 the order is placed (money committed) but nothing is listed: the order
// waits for payment in BSS, which is what makes reconciliation by listing miss it.
func TestPurchaseWithoutAutoPayHidesServers(t *testing.T) {
	for _, autoPay := range []any{0, nil} {
		sim, ts := start(t, cphsim.Options{})
		b := purchaseBody("unpaid", 2)
		if autoPay == nil {
			delete(b["extend_param"].(map[string]any), "is_auto_pay")
		} else {
			b["extend_param"].(map[string]any)["is_auto_pay"] = autoPay
		}
		var got cph.PurchaseResponse
		decode(t, purchase(t, ts, "", b), http.StatusOK, &got)
		orders := sim.OrdersFor("unpaid")
		if len(orders) != 1 || orders[0].AutoPay || orders[0].OrderID != got.OrderID {
			t.Fatalf("is_auto_pay %v: orders %+v", autoPay, orders)
		}
		if l := listServers(t, ts, "", ""); l.Count != 0 || len(l.Servers) != 0 {
			t.Errorf("is_auto_pay %v: list = %+v, want empty", autoPay, l)
		}
		r := mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers/"+got.ServerIDs[0], "", nil)
		wantError(t, r, http.StatusNotFound, "CPS.0015")
		if st := sim.Stats(); st.Orders != 1 || st.Servers != 2 {
			t.Errorf("stats = %+v", st)
		}
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault      cphsim.Fault
		status     int // 0: no response at all
		code       string
		retryAfter string
		orders     int
	}{
		{fault: cphsim.Fault{Kind: cphsim.FaultNone}, status: 200, orders: 1},
		{fault: cphsim.Fault{Kind: cphsim.FaultThrottle}, status: 429, code: "APIGW.0308", retryAfter: "3", orders: 0},
		{fault: cphsim.Fault{Kind: cphsim.FaultFailBeforeCommit}, status: 503, code: "APIGW.0201", orders: 0},
		{fault: cphsim.Fault{Kind: cphsim.FaultReject}, status: 400, code: "CPS.0006", orders: 0},
		{fault: cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0007"}, status: 400, code: "CPS.0007", orders: 0},
		{fault: cphsim.Fault{Kind: cphsim.FaultFailAfterCommit}, status: 500, code: "CPS.0003", orders: 1},
		{fault: cphsim.Fault{Kind: cphsim.FaultHangAfterCommit}, status: 504, code: "APIGW.0202", orders: 1},
		{fault: cphsim.Fault{Kind: cphsim.FaultDropAfterCommit}, status: 0, orders: 1},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String()+tt.fault.Code, func(t *testing.T) {
			sim, ts := start(t, cphsim.Options{
				RetryAfter: 2500 * time.Millisecond, // rounds up to whole seconds
				HangFor:    time.Millisecond,        // a hang nobody waits out ends in 504
				Decide:     func(cphsim.PurchaseCall) cphsim.Fault { return tt.fault },
			})
			r, err := do(context.Background(), http.MethodPost, ts.URL+"/v2/"+project+"/cloud-phone/servers", "", purchaseBody("f", 1))
			switch {
			case tt.status == 0 && err == nil:
				t.Fatalf("got a response %d %s, want the connection closed", r.status, r.body)
			case tt.status == 0:
			case err != nil:
				t.Fatal(err)
			case tt.code == "":
				if r.status != tt.status {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
			default:
				wantError(t, r, tt.status, tt.code)
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := tt.fault.Kind.Commits(); got != (tt.orders == 1) {
				t.Errorf("Commits() = %v", got)
			}
			orders := sim.OrdersFor("f")
			if len(orders) != tt.orders {
				t.Fatalf("orders = %d, want %d", len(orders), tt.orders)
			}
			if tt.orders == 1 && orders[0].Fault != tt.fault.Kind {
				t.Errorf("order fault = %v, want %v", orders[0].Fault, tt.fault.Kind)
			}
			testkit.Eventually(t, "the call to be recorded", func() bool { return len(sim.Calls()) == 1 })
			c := sim.Calls()[0]
			if c.Status != tt.status || c.Code != tt.code || c.Fault != tt.fault.Kind || c.ServerName != "f" || c.ProjectID != project {
				t.Errorf("call = %+v", c)
			}
			if (c.OrderID != "") != (tt.orders == 1) {
				t.Errorf("call order id = %q", c.OrderID)
			}
			if st := sim.Stats(); st.Faults[tt.fault.Kind] != 1 || st.Orders != tt.orders {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// A hang lasts as long as the client waits, and the order is committed before it starts.
func TestHangEndsWhenClientGoesAway(t *testing.T) {
	sim, ts := start(t, cphsim.Options{
		HangFor: time.Hour,
		Decide:  func(cphsim.PurchaseCall) cphsim.Fault { return cphsim.Fault{Kind: cphsim.FaultHangAfterCommit} },
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := do(ctx, http.MethodPost, ts.URL+"/v2/"+project+"/cloud-phone/servers", "", purchaseBody("hang", 1))
		errc <- err
	}()
	testkit.Eventually(t, "the order", func() bool { return len(sim.OrdersFor("hang")) == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("request succeeded, want the client's cancellation")
	}
	testkit.Eventually(t, "the hanging call to end", func() bool { return len(sim.Calls()) == 1 })
	if c := sim.Calls()[0]; c.Status != 0 || c.Fault != cphsim.FaultHangAfterCommit || c.OrderID == "" {
		t.Errorf("call = %+v, want no response, hang, an order", c)
	}
}

// Decide sees every call that reaches the fault decision, with Seq counting per server name.
func TestDecideScriptsAttempts(t *testing.T) {
	var mu sync.Mutex
	var seen []cphsim.PurchaseCall
	sim, ts := start(t, cphsim.Options{
		ThrottleRate: 1, // Decide wins over the rates
		Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
			mu.Lock()
			seen = append(seen, c)
			mu.Unlock()
			if c.Seq == 1 {
				return cphsim.Fault{Kind: cphsim.FaultFailAfterCommit}
			}
			return cphsim.Fault{Kind: cphsim.FaultNone}
		},
	})
	wantError(t, purchase(t, ts, "", purchaseBody("a", 1)), 500, "CPS.0003")
	wantError(t, purchase(t, ts, "", purchaseBody("a", 0)), 400, "CPS.0024") // not a decision
	if r := purchase(t, ts, "", purchaseBody("a", 1)); r.status != 200 {
		t.Fatalf("second attempt: %d %s", r.status, r.body)
	}
	wantError(t, purchase(t, ts, "", purchaseBody("b", 1)), 500, "CPS.0003")
	if len(seen) != 3 {
		t.Fatalf("Decide saw %d calls, want 3", len(seen))
	}
	for i, want := range []struct {
		name string
		seq  int
	}{{"a", 1}, {"a", 2}, {"b", 1}} {
		if seen[i].ServerName != want.name || seen[i].Seq != want.seq || seen[i].ProjectID != project || len(seen[i].Request) == 0 {
			t.Errorf("call %d = %+v, want %s #%d", i, seen[i], want.name, want.seq)
		}
	}
	if n := len(sim.OrdersFor("a")); n != 2 {
		t.Errorf("orders for a = %d, want 2 (a fail-after and a success)", n)
	}
}

// The same seed draws the same faults for the same calls; another seed draws others.
func TestSeedRepeatsFaults(t *testing.T) {
	run := func(seed int64) []cphsim.FaultKind {
		sim, ts := start(t, cphsim.Options{Seed: seed, ThrottleRate: 0.2, FailBeforeRate: 0.2, FailAfterRate: 0.2, RejectRate: 0.1})
		for i := range 40 {
			purchase(t, ts, "", purchaseBody("seed-"+string(rune('a'+i%8)), 1))
		}
		var kinds []cphsim.FaultKind
		for _, c := range sim.Calls() {
			kinds = append(kinds, c.Fault)
		}
		return kinds
	}
	a, b, c := run(42), run(42), run(43)
	if len(a) != 40 || !equalKinds(a, b) {
		t.Fatalf("seed 42 twice:\n%v\n%v", a, b)
	}
	if equalKinds(a, c) {
		t.Errorf("seeds 42 and 43 drew the same 40 faults: %v", a)
	}
	seen := map[cphsim.FaultKind]bool{}
	for _, k := range a {
		seen[k] = true
	}
	if len(seen) < 4 {
		t.Errorf("40 draws produced only %v", seen)
	}
}

func equalKinds(a, b []cphsim.FaultKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Every call with rate 1 of a kind gets that kind, through HTTP.
func TestRatesOfOne(t *testing.T) {
	tests := []struct {
		opts cphsim.Options
		want cphsim.FaultKind
		code string
	}{
		{cphsim.Options{ThrottleRate: 1}, cphsim.FaultThrottle, "APIGW.0308"},
		{cphsim.Options{FailBeforeRate: 1}, cphsim.FaultFailBeforeCommit, "APIGW.0201"},
		{cphsim.Options{FailAfterRate: 1}, cphsim.FaultFailAfterCommit, "CPS.0003"},
		{cphsim.Options{RejectRate: 1, RejectCode: "CPS.0008"}, cphsim.FaultReject, "CPS.0008"},
		{cphsim.Options{LateCommitRate: 1, LateCommitAfter: time.Hour}, cphsim.FaultLateCommit, "APIGW.0202"},
	}
	for _, tt := range tests {
		sim, ts := start(t, tt.opts)
		for range 5 {
			purchase(t, ts, "", purchaseBody("r", 1))
		}
		for _, c := range sim.Calls() {
			if c.Fault != tt.want || c.Code != tt.code {
				t.Errorf("%+v: call %+v", tt.opts, c)
			}
		}
	}
}

func TestConcurrentPurchases(t *testing.T) {
	const n = 200
	sim, ts := start(t, cphsim.Options{})
	var wg sync.WaitGroup
	ids := make([]cph.PurchaseResponse, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := do(context.Background(), http.MethodPost, ts.URL+"/v2/"+project+"/cloud-phone/servers", "",
				purchaseBody("c-"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), 1+i%3))
			if err == nil && r.status != 200 {
				err = &statusError{r}
			}
			if err == nil {
				err = json.Unmarshal(r.body, &ids[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	orderIDs, serverIDs, requestIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	wantServers := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("purchase %d: %v", i, errs[i])
		}
		orderIDs[ids[i].OrderID] = true
		requestIDs[ids[i].RequestID] = true
		for _, s := range ids[i].ServerIDs {
			serverIDs[s] = true
		}
		wantServers += 1 + i%3
	}
	if len(orderIDs) != n || len(requestIDs) != n || len(serverIDs) != wantServers {
		t.Errorf("unique ids: %d orders, %d requests, %d servers; want %d, %d, %d", len(orderIDs), len(requestIDs), len(serverIDs), n, n, wantServers)
	}
	st := sim.Stats()
	if st.Orders != n || st.PurchaseCalls != n || st.Calls != n || st.Servers != wantServers || len(sim.Orders()) != n {
		t.Errorf("stats = %+v", st)
	}
	if l := listServers(t, ts, "", "limit=1"); l.Count != wantServers {
		t.Errorf("list count = %d, want %d", l.Count, wantServers)
	}
}

type statusError struct{ r response }

func (e *statusError) Error() string { return string(e.r.body) }
