package cphsim_test

import (
	"net/http"
	"testing"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
)

// The debug routes pay an order and delete a server as a test in another process needs them; an
// unknown id is a 404, not a silent success.
func TestDebugPayAndDeleteServer(t *testing.T) {
	sim, ts := start(t, cphsim.Options{})
	body := purchaseBody("unpaid", 2)
	body["extend_param"] = map[string]any{"charging_mode": 0, "period_type": 2, "period_num": 1}
	var bought struct {
		OrderID   string   `json:"order_id"`
		ServerIDs []string `json:"server_ids"`
	}
	decode(t, purchase(t, ts, "", body), http.StatusOK, &bought)
	if l := listServers(t, ts, "", "server_name=unpaid"); l.Count != 0 {
		t.Fatalf("an unpaid order lists %d servers, want 0", l.Count)
	}
	if r := mustDo(t, http.MethodPost, ts.URL+"/_sim/pay?order_id="+bought.OrderID, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("pay: %d %s", r.status, r.body)
	}
	if l := listServers(t, ts, "", "server_name=unpaid"); l.Count != 2 {
		t.Fatalf("a paid order lists %d servers, want 2", l.Count)
	}
	if o := sim.OrdersFor("unpaid"); len(o) != 1 || o[0].PaidAt == nil || o[0].Fate != cphsim.FateReady {
		t.Errorf("order = %+v, want paid, fate ready", o)
	}
	if r := mustDo(t, http.MethodPost, ts.URL+"/_sim/pay?order_id="+bought.OrderID, "", nil); r.status != http.StatusNoContent {
		t.Errorf("paying twice: %d %s, want 204 (nothing changes)", r.status, r.body)
	}
	if l := listServers(t, ts, "", "server_name=unpaid"); l.Count != 2 {
		t.Errorf("after paying twice the list has %d servers, want 2", l.Count)
	}
	if r := mustDo(t, http.MethodPost, ts.URL+"/_sim/delete-server?server_id="+bought.ServerIDs[0], "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete-server: %d %s", r.status, r.body)
	}
	wantError(t, mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers/"+bought.ServerIDs[0], "", nil), http.StatusNotFound, "CPS.0015")
	if l := listServers(t, ts, "", "server_name=unpaid"); l.Count != 1 {
		t.Errorf("after deleting one the list has %d servers, want 1", l.Count)
	}
	for _, path := range []string{"pay?order_id=CSnothing", "delete-server?server_id=nothing", "pay"} {
		if r := mustDo(t, http.MethodPost, ts.URL+"/_sim/"+path, "", nil); r.status != http.StatusNotFound {
			t.Errorf("POST /_sim/%s: %d, want 404", path, r.status)
		}
	}
}

// Servers and phones are creating until the create time has passed, on the simulator's clock; the
// list's status filter sees the same status as the detail call.
func TestCreateTimeOnTheSimulatorsClock(t *testing.T) {
	clock := newClock()
	_, ts := start(t, cphsim.Options{Now: clock.Now, CreateTime: 90 * time.Second, PhonesPerServer: 3})
	decode(t, purchase(t, ts, "", purchaseBody("slow", 1)), http.StatusOK, &struct{}{})
	phones := func() []int {
		var l cph.PhoneList
		decode(t, mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/phones?limit=2&offset=1", "", nil), http.StatusOK, &l)
		if l.Count != 3 || len(l.Phones) != 2 {
			t.Fatalf("phones = %+v, want a page of 2 of 3", l)
		}
		return []int{l.Phones[0].Status, l.Phones[1].Status}
	}
	if l := listServers(t, ts, "", "status=1"); l.Count != 1 || phones()[0] != cph.PhoneStatusCreating {
		t.Fatalf("at once: %+v, phones %v; want creating", l, phones())
	}
	clock.Advance(90 * time.Second)
	if l := listServers(t, ts, "", "status=5"); l.Count != 1 || phones()[1] != cph.PhoneStatusRunning {
		t.Fatalf("after the create time: %+v, phones %v; want running", l, phones())
	}
}

// Without Options.Lifecycle, the fates are drawn from the rates, repeatably for a seed.
func TestFatesFromRates(t *testing.T) {
	opts := cphsim.Options{Seed: 3, AbnormalRate: 0.3, PhoneFailRate: 0.3, NeverReadyRate: 0.3}
	count := func() map[cphsim.Fate]int {
		_, ts := start(t, opts)
		sim := map[cphsim.Fate]int{}
		for i := range 40 {
			decode(t, purchase(t, ts, "", purchaseBody("fate-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 1)), http.StatusOK, &struct{}{})
		}
		var orders []cphsim.Order
		decode(t, mustDo(t, http.MethodGet, ts.URL+"/_sim/orders", "", nil), http.StatusOK, &orders)
		for _, o := range orders {
			sim[o.Fate]++
		}
		return sim
	}
	first := count()
	for _, f := range []cphsim.Fate{cphsim.FateReady, cphsim.FateAbnormal, cphsim.FatePhoneFails, cphsim.FateNeverReady} {
		if first[f] == 0 {
			t.Errorf("fate %s never drawn in 40 orders: %v", f, first)
		}
	}
	if second := count(); len(second) != len(first) || second[cphsim.FateAbnormal] != first[cphsim.FateAbnormal] {
		t.Errorf("the same seed drew %v, then %v", first, second)
	}
}

func TestLifecycleOptionsAreValidated(t *testing.T) {
	for _, o := range []cphsim.Options{
		{AbnormalRate: 0.6, NeverReadyRate: 0.6},
		{PhoneFailRate: -0.1},
		{PhonesPerServer: -1},
		{CreateTime: -time.Second},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", o)
		}
	}
}
