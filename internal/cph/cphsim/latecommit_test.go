package cphsim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/testkit"
)

// newClient is the worker's own client, pointed at ts (the simulator is open, so any token works).
func newClient(t *testing.T, ts *httptest.Server) *cph.Client {
	t.Helper()
	c, err := cph.NewClient(ts.URL, cph.StaticToken("tok"), cph.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func lateCommit(after time.Duration) func(cphsim.PurchaseCall) cphsim.Fault {
	return func(cphsim.PurchaseCall) cphsim.Fault {
		return cphsim.Fault{Kind: cphsim.FaultLateCommit, After: after}
	}
}

// wantLateCommit504 checks that a purchase error is the late commit's 504 as the client reports it:
// ambiguous, so that the worker reconciles instead of buying again.
func wantLateCommit504(t *testing.T, err error) *cph.Error {
	t.Helper()
	var e *cph.Error
	if !errors.As(err, &e) {
		t.Fatalf("Purchase err = %v, want a *cph.Error", err)
	}
	if e.Class != cph.ClassAmbiguous || e.HTTPStatus != http.StatusGatewayTimeout || e.Code != "APIGW.0202" ||
		!e.Sent || e.Throttled || e.RetryAfter != 0 || !hex32.MatchString(e.RequestID) {
		t.Fatalf("Purchase err = %+v, want ambiguous, HTTP 504 APIGW.0202, sent, with a request id", e)
	}
	return e
}

// wantServers checks that the list shows exactly the servers of order, named as a purchase of
// count servers under name is.
func wantServers(t *testing.T, l *cph.ServerList, o cphsim.Order, name string, count int) {
	t.Helper()
	if l.Count != count || len(l.Servers) != count {
		t.Fatalf("list shows %d/%d servers, want %d", l.Count, len(l.Servers), count)
	}
	for i, srv := range l.Servers {
		want := name
		if count > 1 {
			want = fmt.Sprintf("%s-%04d", name, i+1)
		}
		if srv.ServerName != want || srv.ServerID != o.ServerIDs[i] || srv.Status != cph.ServerStatusRunning ||
			srv.Metadata.OrderID != o.OrderID || srv.Metadata.ProductID != o.ProductID {
			t.Errorf("server %d = %+v, want %s of order %+v", i, srv, want, o)
		}
	}
}

// A late commit through the real client over HTTP: a 504 the client calls ambiguous, nothing to
// find right after it, and after the delay the order with its servers, as a normal purchase
// would have made them. Only lower bounds of time are relied on: the test polls for the commit.
func TestLateCommitThroughClient(t *testing.T) {
	tests := []struct {
		name  string
		count int
		opts  cphsim.Options
	}{
		// Fault.After wins over Options.LateCommitAfter (an hour would time the test out).
		{"decided After", 1, cphsim.Options{LateCommitAfter: time.Hour, Decide: lateCommit(200 * time.Millisecond)}},
		{"decided, Options.LateCommitAfter", 3, cphsim.Options{LateCommitAfter: 200 * time.Millisecond, Decide: lateCommit(0)}},
		{"random", 2, cphsim.Options{LateCommitRate: 1, LateCommitAfter: 200 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := start(t, tt.opts)
			c := newClient(t, ts)
			ctx := context.Background()
			const name = "late-web"
			req := cph.ExampleRequest(name)
			*req.Count = tt.count

			resp, err := c.Purchase(ctx, project, req)
			if err == nil {
				t.Fatalf("Purchase = %+v, want the 504", resp)
			}
			e := wantLateCommit504(t, err)

			// Reconciling right after the answer finds nothing. Pending still 1 after the list
			// proves the list ran before the commit; a machine so slow that the commit came first
			// proves nothing either way (TestLateCommitRecordsCommitTime checks it without a race).
			l, err := c.ListServers(ctx, project, cph.ListFilter{ServerName: name})
			if err != nil {
				t.Fatal(err)
			}
			switch pending := sim.PendingLateCommits(); {
			case l.Count == 0:
			case pending == 1:
				t.Fatalf("list shows %d servers before the late commit", l.Count)
			default:
				t.Logf("the commit came before the list call; the empty list was not checked")
			}

			testkit.Eventually(t, "the late commit", func() bool { return sim.PendingLateCommits() == 0 })
			orders := sim.OrdersFor(name)
			if len(orders) != 1 {
				t.Fatalf("orders = %+v, want 1", orders)
			}
			o := orders[0]
			if o.Fault != cphsim.FaultLateCommit || o.RequestID != e.RequestID || o.ProjectID != project || !o.AutoPay ||
				len(o.ServerIDs) != tt.count || !orderIDPattern.MatchString(o.OrderID) {
				t.Errorf("order = %+v, want a late commit of %d servers for request %s", o, tt.count, e.RequestID)
			}
			if l, err = c.ListServers(ctx, project, cph.ListFilter{ServerName: name}); err != nil {
				t.Fatal(err)
			}
			wantServers(t, l, o, name, tt.count)
			if srv, err := c.GetServer(ctx, project, o.ServerIDs[0]); err != nil || srv.Metadata.OrderID != o.OrderID {
				t.Errorf("GetServer = %+v, %v", srv, err)
			}

			calls := sim.Calls()
			if len(calls) < 1 {
				t.Fatal("no call recorded")
			}
			if pc := calls[0]; pc.Status != 504 || pc.Code != "APIGW.0202" || pc.Fault != cphsim.FaultLateCommit ||
				pc.OrderID != "" || pc.RequestID != e.RequestID || pc.ServerName != name {
				t.Errorf("purchase call = %+v, want 504 late_commit without an order id", pc)
			}
			if st := sim.Stats(); st.Faults[cphsim.FaultLateCommit] != 1 || st.Orders != 1 || st.Servers != tt.count || st.PendingLateCommits != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// With a delay nobody waits out, what the late commit records is checked step by step against a
// clock the test moves: nothing exists at the answer, by any route; the commit, forced by the test
// after moving the clock, is stamped with the clock at the commit.
func TestLateCommitRecordsCommitTime(t *testing.T) {
	clock := newClock()
	arrived := clock.Now()
	sim, ts := start(t, cphsim.Options{Now: clock.Now, Decide: lateCommit(time.Hour)})

	r := purchase(t, ts, "", purchaseBody("late", 2))
	e := wantError(t, r, http.StatusGatewayTimeout, "APIGW.0202")
	if pe := cph.ParseError(r.status, r.header, r.body); pe.Class != cph.ClassAmbiguous || pe.Code != "APIGW.0202" || pe.Message == "" {
		t.Errorf("ParseError = %+v, want ambiguous APIGW.0202", pe)
	}
	if ra := r.header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After = %q on a 504", ra)
	}
	if l := listServers(t, ts, "", ""); l.Count != 0 {
		t.Errorf("list right after the 504 = %+v", l)
	}
	if o := sim.Orders(); len(o) != 0 {
		t.Errorf("orders right after the 504 = %+v", o)
	}
	var st cphsim.Stats
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/stats", "", nil), 200, &st)
	if st.Orders != 0 || st.Servers != 0 || st.PendingLateCommits != 1 || st.Faults[cphsim.FaultLateCommit] != 1 {
		t.Errorf("stats before the commit = %+v", st)
	}
	if raw := mustDo(t, "GET", ts.URL+"/_sim/stats", "", nil).body; !strings.Contains(string(raw), `"late_commit":1`) ||
		!strings.Contains(string(raw), `"pending_late_commits":1`) {
		t.Errorf("/_sim/stats = %s", raw)
	}
	var calls []cphsim.Call
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/calls", "", nil), 200, &calls)
	if len(calls) < 1 || calls[0].Fault != cphsim.FaultLateCommit || calls[0].Status != 504 || calls[0].OrderID != "" || !calls[0].Time.Equal(arrived) {
		t.Errorf("calls = %+v", calls)
	}

	clock.Advance(90 * time.Minute)
	committed := clock.Now()
	if n := cphsim.CommitLateNow(sim); n != 1 {
		t.Fatalf("CommitLateNow committed %d, want 1", n)
	}
	orders := sim.OrdersFor("late")
	if len(orders) != 1 {
		t.Fatalf("orders = %+v", orders)
	}
	o := orders[0]
	if !o.Time.Equal(committed) || o.RequestID != e["request_id"] || o.Fault != cphsim.FaultLateCommit ||
		!strings.HasPrefix(o.OrderID, "CS"+committed.Format("0601021504")) {
		t.Errorf("order = %+v, want committed at %v for request %s", o, committed, e["request_id"])
	}
	l := listServers(t, ts, "", "")
	for i, srv := range l.Servers {
		if srv.CreateTime != committed.Format(cph.CreateTimeLayout) {
			t.Errorf("server %d create_time = %s, want the commit's %s", i, srv.CreateTime, committed.Format(cph.CreateTimeLayout))
		}
	}
	wantServers(t, &l, o, "late", 2)

	var debugOrders []cphsim.Order
	decode(t, mustDo(t, "GET", ts.URL+"/_sim/orders?server_name=late", "", nil), 200, &debugOrders)
	if len(debugOrders) != 1 || debugOrders[0].Fault != cphsim.FaultLateCommit || debugOrders[0].OrderID != o.OrderID {
		t.Errorf("/_sim/orders = %+v", debugOrders)
	}
	if st := sim.Stats(); st.PendingLateCommits != 0 || st.Orders != 1 || st.Servers != 2 {
		t.Errorf("stats after the commit = %+v", st)
	}
	if n := cphsim.CommitLateNow(sim); n != 0 {
		t.Errorf("a second CommitLateNow committed %d", n)
	}
}

// Reset and Close cancel what is pending; after Close nothing is scheduled any more, after Reset
// it is.
func TestLateCommitCancelled(t *testing.T) {
	tests := []struct {
		name        string
		cancel      func(*cphsim.Server)
		pendingNext int // after one more late-commit call
	}{
		{"Reset", (*cphsim.Server).Reset, 1},
		{"Close", (*cphsim.Server).Close, 0},
		{"Close twice", func(s *cphsim.Server) { s.Close(); s.Close() }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := start(t, cphsim.Options{Decide: lateCommit(time.Hour)})
			wantError(t, purchase(t, ts, "", purchaseBody("gone", 1)), 504, "APIGW.0202")
			if n := sim.PendingLateCommits(); n != 1 {
				t.Fatalf("pending = %d, want 1", n)
			}
			tt.cancel(sim)
			if n, c := sim.PendingLateCommits(), cphsim.CommitLateNow(sim); n != 0 || c != 0 {
				t.Errorf("after %s: %d pending, %d committed", tt.name, n, c)
			}
			wantError(t, purchase(t, ts, "", purchaseBody("next", 1)), 504, "APIGW.0202")
			if n := sim.PendingLateCommits(); n != tt.pendingNext {
				t.Errorf("pending after another late commit = %d, want %d", n, tt.pendingNext)
			}
			if o := sim.Orders(); len(o) != 0 {
				t.Errorf("orders = %+v", o)
			}
		})
	}
}

// A simulator that is never closed commits on its timer after its HTTP server is gone and while
// the API is down: the backend does not care about the gateway.
func TestLateCommitOutlivesHTTPServer(t *testing.T) {
	sim := cphsim.New(cphsim.Options{Decide: lateCommit(50 * time.Millisecond)})
	ts := httptest.NewServer(sim)
	wantError(t, purchase(t, ts, "", purchaseBody("orphan", 1)), 504, "APIGW.0202")
	sim.SetDown(true)
	ts.Close()
	testkit.Eventually(t, "the late commit", func() bool { return sim.PendingLateCommits() == 0 })
	if o := sim.OrdersFor("orphan"); len(o) != 1 || o[0].Fault != cphsim.FaultLateCommit {
		t.Errorf("orders = %+v", o)
	}
}

// Many late commits at once, with Reset and Stats racing them: each commits exactly once or is
// cancelled (run with -race).
func TestLateCommitsConcurrent(t *testing.T) {
	const n = 60
	sim, ts := start(t, cphsim.Options{Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
		return cphsim.Fault{Kind: cphsim.FaultLateCommit, After: time.Duration(1+len(c.ServerName)%5) * time.Millisecond}
	}})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := do(context.Background(), http.MethodPost, ts.URL+"/v2/"+project+"/cloud-phone/servers", "",
				purchaseBody(fmt.Sprintf("c-%s%d", strings.Repeat("x", i%5), i), 1))
			if err == nil && r.status != 504 {
				err = &statusError{r}
			}
			if err != nil {
				t.Error(err)
			}
		})
		if i == n/2 {
			wg.Go(func() { sim.Stats(); sim.Orders() })
		}
	}
	wg.Wait()
	testkit.Eventually(t, "the late commits", func() bool { return sim.PendingLateCommits() == 0 })
	orders := sim.Orders()
	seen := map[string]bool{}
	for _, o := range orders {
		if seen[o.ServerName] {
			t.Errorf("two orders for %s", o.ServerName)
		}
		seen[o.ServerName] = true
	}
	if len(orders) != n {
		t.Errorf("%d orders, want %d", len(orders), n)
	}

	// Reset racing commits that are due: afterwards nothing is pending and nothing turns up.
	for i := range n {
		wantError(t, purchase(t, ts, "", purchaseBody(fmt.Sprintf("r-%d", i), 1)), 504, "APIGW.0202")
	}
	sim.Reset()
	if n := sim.PendingLateCommits(); n != 0 {
		t.Fatalf("pending after Reset = %d", n)
	}
	time.Sleep(20 * time.Millisecond) // past every delay: a commit that escaped Reset would show
	if o := sim.Orders(); len(o) != 0 {
		t.Errorf("orders after Reset = %d", len(o))
	}
}

// A seed draws the same late commits every run, and adding LateCommitRate changes only calls
// that drew no fault before.
func TestSeedRepeatsLateCommits(t *testing.T) {
	run := func(seed int64, lateRate float64) []cphsim.FaultKind {
		sim, ts := start(t, cphsim.Options{
			Seed: seed, ThrottleRate: 0.15, FailAfterRate: 0.15, RejectRate: 0.1,
			LateCommitRate: lateRate, LateCommitAfter: time.Hour,
		})
		for i := range 40 {
			purchase(t, ts, "", purchaseBody("seed-"+string(rune('a'+i%8)), 1))
		}
		var kinds []cphsim.FaultKind
		for _, c := range sim.Calls() {
			kinds = append(kinds, c.Fault)
		}
		return kinds
	}
	a, b, without := run(42, 0.3), run(42, 0.3), run(42, 0)
	if len(a) != 40 || !equalKinds(a, b) {
		t.Fatalf("seed 42 twice:\n%v\n%v", a, b)
	}
	late := 0
	for i := range a {
		switch {
		case a[i] == cphsim.FaultLateCommit && without[i] == cphsim.FaultNone:
			late++
		case a[i] != without[i]:
			t.Errorf("call %d drew %v with LateCommitRate, %v without", i, a[i], without[i])
		}
	}
	if late == 0 {
		t.Errorf("40 draws at rate 0.3 produced no late commit: %v", a)
	}
}
