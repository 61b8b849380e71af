package cph_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
)

// simClock is the simulator's clock, moved by the test instead of sleeping.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// The lifecycle calls, through the real client over HTTP, see each fate of the simulator: servers
// and phones creating until the create time has passed, then what the fate says.
func TestLifecycleCallsAgainstSimulator(t *testing.T) {
	cases := []struct {
		fate         cphsim.Fate
		server       cph.Phase
		phones       []cph.Phase
		serverStatus int
	}{
		{cphsim.FateReady, cph.PhaseCreated, []cph.Phase{cph.PhaseCreated, cph.PhaseCreated}, cph.ServerStatusRunning},
		{cphsim.FateAbnormal, cph.PhaseFailed, []cph.Phase{cph.PhaseFailed, cph.PhaseFailed}, cph.ServerStatusAbnormal},
		{cphsim.FatePhoneFails, cph.PhaseCreated, []cph.Phase{cph.PhaseFailed, cph.PhaseCreated}, cph.ServerStatusRunning},
		{cphsim.FateNeverReady, cph.PhaseCreating, []cph.Phase{cph.PhaseCreating, cph.PhaseCreating}, cph.ServerStatusCreating},
	}
	for _, tc := range cases {
		t.Run(tc.fate.String(), func(t *testing.T) {
			ctx := context.Background()
			clock := &simClock{now: time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)}
			sim := cphsim.New(cphsim.Options{
				Now: clock.Now, CreateTime: 5 * time.Minute,
				Lifecycle: func(cphsim.OrderCall) cphsim.Fate { return tc.fate },
			})
			ts := httptest.NewServer(sim)
			defer ts.Close()
			c, err := cph.NewClient(ts.URL, cph.StaticToken("tok"), cph.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Purchase(ctx, simProject, cph.ExampleRequest("life-"+tc.fate.String()))
			if err != nil {
				t.Fatal(err)
			}
			id := resp.ServerIDs[0]
			check := func(wantServer cph.Phase, wantPhones []cph.Phase) {
				t.Helper()
				srv, err := c.GetServer(ctx, simProject, id)
				if err != nil {
					t.Fatal(err)
				}
				if got := cph.ServerPhase(srv.Status); got != wantServer {
					t.Errorf("server status %d is %s, want %s", srv.Status, got, wantServer)
				}
				phones, err := c.ListPhones(ctx, simProject, cph.PhoneFilter{ServerID: id})
				if err != nil {
					t.Fatal(err)
				}
				if phones.Count != len(wantPhones) || len(phones.Phones) != len(wantPhones) {
					t.Fatalf("phones = %+v, want %d", phones, len(wantPhones))
				}
				for i, p := range phones.Phones {
					if got := cph.PhonePhase(p.Status); got != wantPhones[i] || p.ServerID != id || p.PhoneID == "" {
						t.Errorf("phone %d = %+v (%s), want %s of server %s", i, p, got, wantPhones[i], id)
					}
				}
			}
			check(cph.PhaseCreating, []cph.Phase{cph.PhaseCreating, cph.PhaseCreating})
			clock.advance(5 * time.Minute)
			check(tc.server, tc.phones)
			if srv, _ := c.GetServer(ctx, simProject, id); srv.Status != tc.serverStatus {
				t.Errorf("status = %d, want %d", srv.Status, tc.serverStatus)
			}
		})
	}
}

// An order placed without auto-pay waits for payment in BSS and has no servers to show; paid
// through the simulator's admin call, it completes and its servers start creating. A deleted
// server is the API's 404.
func TestOrderPaymentAndDeletionAgainstSimulator(t *testing.T) {
	ctx := context.Background()
	clock := &simClock{now: time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)}
	sim := cphsim.New(cphsim.Options{Now: clock.Now, CreateTime: time.Minute})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	c, err := cph.NewClient(ts.URL, cph.StaticToken("tok"), cph.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := cph.ExampleRequest("unpaid")
	req.ExtendParam.IsAutoPay = nil
	resp, err := c.Purchase(ctx, simProject, req)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.GetOrder(ctx, resp.OrderID)
	if err != nil || o.OrderID != resp.OrderID || cph.OrderPayment(o.Status) != cph.PaymentAwaiting || o.PaymentTime != "" {
		t.Fatalf("GetOrder before payment = %+v, %v; want awaiting payment", o, err)
	}
	if _, err := c.GetServer(ctx, simProject, resp.ServerIDs[0]); !cph.IsNotFound(err) {
		t.Fatalf("GetServer of an unpaid order's server: %v, want 404", err)
	}
	if err := sim.PayOrder(resp.OrderID); err != nil {
		t.Fatal(err)
	}
	o, err = c.GetOrder(ctx, resp.OrderID)
	if err != nil || cph.OrderPayment(o.Status) != cph.PaymentCompleted || o.PaymentTime == "" {
		t.Fatalf("GetOrder after payment = %+v, %v; want completed", o, err)
	}
	srv, err := c.GetServer(ctx, simProject, resp.ServerIDs[0])
	if err != nil || cph.ServerPhase(srv.Status) != cph.PhaseCreating {
		t.Fatalf("GetServer after payment = %+v, %v; want creating", srv, err)
	}
	clock.advance(time.Minute)
	if srv, err = c.GetServer(ctx, simProject, resp.ServerIDs[0]); err != nil || srv.Status != cph.ServerStatusRunning {
		t.Fatalf("GetServer a create time after payment = %+v, %v; want running", srv, err)
	}

	if err := sim.DeleteServer(resp.ServerIDs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetServer(ctx, simProject, resp.ServerIDs[0]); !cph.IsNotFound(err) {
		t.Fatalf("GetServer of a deleted server: %v, want 404", err)
	}
	if _, err := c.GetOrder(ctx, "CS-no-such-order"); !cph.IsNotFound(err) {
		t.Fatalf("GetOrder of nothing: %v, want 404", err)
	}
}
