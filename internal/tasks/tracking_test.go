package tasks

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/testkit"
)

// lifecycleRig is the purchase path with readiness tracking for one test: the producer and the
// operator, an asynq server running the purchase handler, another running the tracking, the real
// client, and the simulator over real HTTP (its BSS route included). The tracking's clock is the
// real one plus skew, which a test moves forward to pass a deadline instead of waiting for it.
type lifecycleRig struct {
	t        testing.TB
	tr       *testRedis
	sim      *cphsim.Server
	simURL   string
	op       *Operator
	tracking *Tracking
	skew     atomic.Int64
}

type lifecycleOptions struct {
	sim cphsim.Options
	// noBSS leaves the tracking without a BSS client.
	noBSS bool
}

func startLifecycle(t testing.TB, o lifecycleOptions) *lifecycleRig {
	t.Helper()
	tr := newTestRedis(t)
	t.Cleanup(func() { testkit.DeleteKeys(t, tr.rdb, TrackingQueue(tr.queue), tr.stream) })
	r := &lifecycleRig{t: t, tr: tr, sim: cphsim.New(o.sim)}
	ts := httptest.NewServer(r.sim)
	t.Cleanup(ts.Close)
	r.simURL = ts.URL
	api, err := cph.NewClient(ts.URL, cph.StaticToken("test-token"), cph.ClientOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.op, err = NewOperator(tr.rdb, OperatorConfig{Queue: tr.queue, ResultsStream: tr.stream, MaxRetry: 2}); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	tcfg := TrackingConfig{
		API: api, BSS: api, Redis: tr.rdb, Keys: tr.keys, Queue: TrackingQueue(tr.queue),
		RateLimiter: NewReadinessRateLimiter(tr.rdb, tr.keys, 1000),
		FirstCheck:  50 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Deadline: time.Hour,
		Logger: log, Now: func() time.Time { return time.Now().Add(time.Duration(r.skew.Load())) },
	}
	if o.noBSS {
		tcfg.BSS = nil
	}
	tracking := NewTracking(tcfg)
	r.tracking = tracking
	h := NewHandler(HandlerConfig{
		API: api, Ledger: r.op.Ledger(), RateLimiter: NewRateLimiter(tr.rdb, tr.keys, 1000), Queue: tr.queue,
		DefaultProjectID: testProject, CallTimeout: 2 * time.Second, ReconcileGrace: 200 * time.Millisecond,
		Logger: log, Tracking: tracking,
	})
	retry := RetryPolicy{BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
	purchases := NewServer(tr.rdb, ServerConfig{Queue: tr.queue, Concurrency: 4, Retry: retry, DelayedTaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: time.Second})
	looks := NewServer(tr.rdb, ServerConfig{Queue: TrackingQueue(tr.queue), Concurrency: ReadinessConcurrency, Retry: retry, DelayedTaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: time.Second})
	if err := purchases.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(purchases.Shutdown)
	if err := looks.Start(tracking); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(looks.Shutdown)
	return r
}

// pass moves the tracking's clock forward by d.
func (r *lifecycleRig) pass(d time.Duration) { r.skew.Add(int64(d)) }

// submit enqueues an order for one server named name; autoPay false makes it wait for payment.
func (r *lifecycleRig) submit(name string, autoPay bool) string {
	r.t.Helper()
	o := order(name)
	o.IdempotencyKey = "life/" + name
	if !autoPay {
		o.Request.ExtendParam.IsAutoPay = nil
	}
	if _, err := r.op.Producer().Enqueue(context.Background(), o); err != nil {
		r.t.Fatalf("enqueue %s: %v", name, err)
	}
	return o.IdempotencyKey
}

// readiness returns key's lifecycle record, the zero one while it has none.
func (r *lifecycleRig) readiness(key string) Readiness {
	r.t.Helper()
	rec, _, err := r.op.Readiness().Get(context.Background(), key)
	if err != nil {
		r.t.Fatal(err)
	}
	return rec
}

// waitState waits until key's lifecycle is in state, looked at at least looks times.
func (r *lifecycleRig) waitState(key string, state LifecycleState, looks int) Readiness {
	r.t.Helper()
	var rec Readiness
	testkit.Eventually(r.t, key+" "+string(state), func() bool {
		rec = r.readiness(key)
		return rec.State == state && rec.Checks >= looks
	})
	return rec
}

// events counts the readiness events of each key.
func (r *lifecycleRig) events() map[string][]LifecycleState {
	r.t.Helper()
	evs, err := r.op.Readiness().Events(context.Background(), "", 0)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string][]LifecycleState{}
	for _, e := range evs {
		out[e.IdempotencyKey] = append(out[e.IdempotencyKey], e.State)
	}
	return out
}

// A batch of mixed outcomes ends with exactly one readiness event per bought order and the right
// counts: two ready, one server abnormal, one phone failed, one never ready (timed out at the
// deadline), one waiting for payment and then paid (ready), and one refused at purchase
// (dead-lettered, no readiness at all).
func TestReadinessMixedBatch(t *testing.T) {
	fates := map[string]cphsim.Fate{"mix-abnormal": cphsim.FateAbnormal, "mix-phone": cphsim.FatePhoneFails, "mix-never": cphsim.FateNeverReady}
	r := startLifecycle(t, lifecycleOptions{sim: cphsim.Options{
		CreateTime: 100 * time.Millisecond,
		Lifecycle:  func(c cphsim.OrderCall) cphsim.Fate { return fates[c.ServerName] },
		Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
			if c.ServerName == "mix-rejected" {
				return cphsim.Fault{Kind: cphsim.FaultReject}
			}
			return cphsim.Fault{Kind: cphsim.FaultNone}
		},
	}})
	ctx := context.Background()
	names := []string{"mix-ready-1", "mix-ready-2", "mix-abnormal", "mix-phone", "mix-never", "mix-rejected"}
	var keys []string
	for _, n := range names {
		keys = append(keys, "life/"+n)
	}
	keys = append(keys, "life/mix-unpaid")
	if err := r.op.AddToBatch(ctx, "mix", keys); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		r.submit(n, true)
	}
	unpaid := r.submit("mix-unpaid", false)
	if err := r.op.AddToBatch(ctx, "mix", keys[:3]); err != nil { // a second run of the same file
		t.Fatal(err)
	}

	rec := r.waitState(unpaid, LifecycleAwaitingPayment, 2)
	if rec.Payment != cph.PaymentAwaiting {
		t.Errorf("unpaid order's payment = %q, want awaiting_payment", rec.Payment)
	}
	if err := r.sim.PayOrder(rec.OrderID); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]LifecycleState{
		"life/mix-ready-1": LifecycleReady, "life/mix-ready-2": LifecycleReady, unpaid: LifecycleReady,
		"life/mix-abnormal": LifecycleFailed, "life/mix-phone": LifecycleFailed,
	} {
		r.waitState(key, want, 1)
	}
	r.waitState("life/mix-never", LifecycleCreating, 2)
	r.pass(2 * time.Hour)
	never := r.waitState("life/mix-never", LifecycleTimedOut, 3)
	if !strings.Contains(never.Reason, "READINESS_DEADLINE") {
		t.Errorf("timed out with reason %q", never.Reason)
	}

	if rec := r.readiness("life/mix-abnormal"); !strings.Contains(rec.Reason, "abnormal (status 2)") || *rec.Servers[0].Status != cph.ServerStatusAbnormal {
		t.Errorf("abnormal: %+v", rec)
	}
	if rec := r.readiness("life/mix-phone"); !strings.Contains(rec.Reason, "status -8") || len(rec.Servers[0].Phones) != cphsim.DefaultPhonesPerServer {
		t.Errorf("phone failed: %+v", rec)
	}
	if rec := r.readiness("life/mix-ready-1"); rec.FinishedAt == nil || len(rec.Servers) != 1 || len(rec.Servers[0].Phones) != cphsim.DefaultPhonesPerServer ||
		rec.Metadata["test"] != "mix-ready-1" || rec.OrderID == "" {
		t.Errorf("ready: %+v", rec)
	}

	events := r.events()
	for _, k := range keys {
		want := 1
		if k == "life/mix-rejected" {
			want = 0
		}
		if len(events[k]) != want {
			t.Errorf("%s: readiness events %v, want %d", k, events[k], want)
		}
	}
	rep, err := r.op.Batch(ctx, "mix")
	if err != nil {
		t.Fatal(err)
	}
	want := BatchCounts{Total: 7, Ready: 3, Failed: 2, TimedOut: 1, DeadLettered: map[ErrorClass]int{ClassRejected: 1}}
	if c := rep.Counts; c.Total != want.Total || c.Ready != want.Ready || c.Failed != want.Failed || c.TimedOut != want.TimedOut ||
		c.Queued+c.Buying+c.Bought+c.Creating+c.AwaitingPayment != 0 || len(c.DeadLettered) != 1 || c.DeadLettered[ClassRejected] != 1 {
		t.Errorf("batch counts = %+v, want %+v", rep.Counts, want)
	}
	if reached, final := UntilReady.Progress(rep.Counts); reached != 3 || final != 7 {
		t.Errorf("until ready: %d reached, %d final; want 3, 7", reached, final)
	}
	if reached, _ := UntilBought.Progress(rep.Counts); reached != 6 {
		t.Errorf("until bought: %d reached, want 6", reached)
	}
	st, err := r.op.Status(ctx, unpaid)
	if err != nil || st.Readiness == nil || st.Readiness.State != LifecycleReady {
		t.Errorf("status of %s: %+v, %v; want its readiness, ready", unpaid, st, err)
	}
}

// A server that the API no longer knows (deleted by its owner) ends its order failed with that
// reason, not in an endless poll.
func TestReadinessDeletedServerFails(t *testing.T) {
	r := startLifecycle(t, lifecycleOptions{sim: cphsim.Options{Lifecycle: func(cphsim.OrderCall) cphsim.Fate { return cphsim.FateNeverReady }}})
	key := r.submit("deleted-1", true)
	rec := r.waitState(key, LifecycleCreating, 1)
	if err := r.sim.DeleteServer(rec.Servers[0].ServerID); err != nil {
		t.Fatal(err)
	}
	rec = r.waitState(key, LifecycleFailed, 2)
	if !strings.Contains(rec.Reason, "server "+rec.Servers[0].ServerID+" is not known to the API") {
		t.Errorf("reason = %q", rec.Reason)
	}
	if ev := r.events()[key]; len(ev) != 1 || ev[0] != LifecycleFailed {
		t.Errorf("events = %v, want one failed", ev)
	}
}

// simClock is the simulator's clock, moved by a test.
type simClock struct{ skew atomic.Int64 }

func (c *simClock) Now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

// An API outage during tracking delays it and never fails it early: while the API is down the
// order keeps being looked at and stays where it was; once it is back, the order becomes ready.
func TestReadinessOutageDelaysNeverFails(t *testing.T) {
	clock := &simClock{}
	r := startLifecycle(t, lifecycleOptions{sim: cphsim.Options{CreateTime: time.Hour, Now: clock.Now}})
	key := r.submit("outage-1", true)
	r.waitState(key, LifecycleCreating, 1)
	r.sim.SetDown(true)
	clock.skew.Add(int64(time.Hour)) // ready now, but nobody can tell
	before := r.readiness(key).Checks
	if rec := r.waitState(key, LifecycleCreating, before+3); rec.State.Terminal() {
		t.Fatalf("during the outage: %+v", rec)
	}
	r.sim.SetDown(false)
	r.waitState(key, LifecycleReady, before+4)
	if ev := r.events()[key]; len(ev) != 1 || ev[0] != LifecycleReady {
		t.Errorf("events = %v, want one ready", ev)
	}
}

// An order that waits for payment keeps waiting, looked at again and again, until its deadline,
// whether BSS says so or, without BSS, the API does not know its servers yet; then it times out
// saying where it stood.
func TestReadinessAwaitingPaymentWaitsUntilTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noBSS bool
	}{{"bss", false}, {"no-bss", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := startLifecycle(t, lifecycleOptions{noBSS: tc.noBSS})
			key := r.submit("unpaid-"+tc.name, false)
			r.waitState(key, LifecycleAwaitingPayment, 3)
			r.pass(2 * time.Hour)
			rec := r.waitState(key, LifecycleTimedOut, 4)
			if !strings.Contains(rec.Reason, "last seen awaiting_payment") {
				t.Errorf("reason = %q", rec.Reason)
			}
			if ev := r.events()[key]; len(ev) != 1 || ev[0] != LifecycleTimedOut {
				t.Errorf("events = %v, want one timed_out", ev)
			}
		})
	}
}

// Looks come ever further apart, from FirstCheck to MaxInterval, and never past the deadline.
func TestReadinessNextLook(t *testing.T) {
	tr := NewTracking(TrackingConfig{FirstCheck: time.Minute, MaxInterval: 5 * time.Minute, Deadline: 90 * time.Minute})
	for _, tc := range []struct{ elapsed, want time.Duration }{
		{0, time.Minute},
		{time.Minute, time.Minute},
		{2 * time.Minute, 2 * time.Minute},
		{4 * time.Minute, 4 * time.Minute},
		{8 * time.Minute, 5 * time.Minute},
		{88 * time.Minute, 2 * time.Minute},
		{90 * time.Minute, time.Millisecond},
		{3 * time.Hour, time.Millisecond},
	} {
		if got := tr.nextLook(tc.elapsed); got != tc.want {
			t.Errorf("nextLook(%s) = %s, want %s", tc.elapsed, got, tc.want)
		}
	}
}

// The lifecycle's GET calls have a fleet-wide budget of their own (READINESS_RATE_LIMIT), on a
// key apart from the purchases': following orders never takes a purchase's slot. A look that
// cannot get a slot in time makes no call.
func TestReadinessRateLimitIsItsOwnBudget(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	purchases, looks := NewRateLimiter(tr.rdb, tr.keys, 1), NewReadinessRateLimiter(tr.rdb, tr.keys, 1)
	if purchases.key == looks.key {
		t.Fatalf("both limiters use %s", looks.key)
	}
	if _, err := looks.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The next look's slot is a second away; the purchases' limiter has given none yet.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if waited, err := purchases.Wait(short); err != nil {
		t.Fatalf("a purchase waited %s behind a look: %v", waited, err)
	}
	calls := 0
	_, err := limited(short, looks, func(context.Context) (int, error) { calls++; return 0, nil })
	if err == nil || calls != 0 {
		t.Errorf("a look without a slot: err %v, %d calls; want an error and none", err, calls)
	}
}

// fakeLifecycleAPI answers GetServer with status (or err) and lists phones in pages of at most
// 100, one of them another server's.
type fakeLifecycleAPI struct {
	status int
	err    error
	phones []int // statuses of the server's phones
}

func (f fakeLifecycleAPI) GetServer(_ context.Context, _, id string) (*cph.Server, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &cph.Server{ServerID: id, Status: f.status}, nil
}

func (f fakeLifecycleAPI) ListServers(context.Context, string, cph.ListFilter) (*cph.ServerList, error) {
	return &cph.ServerList{}, nil
}

func (f fakeLifecycleAPI) ListPhones(_ context.Context, _ string, pf cph.PhoneFilter) (*cph.PhoneList, error) {
	all := []cph.Phone{{PhoneID: "foreign", ServerID: "other", Status: cph.PhoneStatusCreationFailed}}
	for i, st := range f.phones {
		all = append(all, cph.Phone{PhoneID: "p" + string(rune('a'+i%26)), ServerID: pf.ServerID, Status: st})
	}
	lo := min(pf.Offset, len(all))
	hi := min(lo+pf.Limit, len(all))
	return &cph.PhoneList{Count: len(all), Phones: all[lo:hi]}, nil
}

// One server, read through the status tables: its own state and why, over every page of phones.
func TestReadinessLookAtServer(t *testing.T) {
	many := make([]int, 150)
	for i := range many {
		many[i] = cph.PhoneStatusRunning
	}
	notFound := &cph.Error{Class: cph.ClassRejected, HTTPStatus: 404}
	cases := []struct {
		name   string
		api    fakeLifecycleAPI
		paid   bool
		state  LifecycleState
		reason string
		phones int
		err    bool
		// unseen: the API never showed the server before this look.
		unseen bool
	}{
		{"creating", fakeLifecycleAPI{status: 1}, true, LifecycleCreating, "", 0, false, false},
		{"abnormal", fakeLifecycleAPI{status: 2}, true, LifecycleFailed, "abnormal (status 2)", 0, false, false},
		{"running, 150 phones over two pages", fakeLifecycleAPI{status: 5, phones: many}, true, LifecycleReady, "", 150, false, false},
		{"stopped counts as created", fakeLifecycleAPI{status: 10, phones: []int{cph.PhoneStatusShutDown}}, true, LifecycleReady, "", 1, false, false},
		{"running, no phone yet", fakeLifecycleAPI{status: 5}, true, LifecycleCreating, "", 0, false, false},
		{"running, a phone creating", fakeLifecycleAPI{status: 5, phones: []int{2, 1}}, true, LifecycleCreating, "", 2, false, false},
		{"running, a phone failed", fakeLifecycleAPI{status: 5, phones: []int{2, -8}}, true, LifecycleFailed, "failed (status -8)", 2, false, false},
		{"gone", fakeLifecycleAPI{err: notFound}, true, LifecycleFailed, "not known to the API", 0, false, false},
		{"not shown yet so soon after the purchase", fakeLifecycleAPI{err: notFound}, true, LifecycleCreating, "", 0, false, true},
		{"not paid yet", fakeLifecycleAPI{err: notFound}, false, LifecycleAwaitingPayment, "", 0, false, false},
		{"the API fails", fakeLifecycleAPI{err: &cph.Error{Class: cph.ClassAmbiguous, HTTPStatus: 502}}, true, LifecycleCreating, "", 0, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracking(TrackingConfig{API: tc.api})
			s, err := tr.lookAtServer(context.Background(), testProject, "s1", tc.paid, !tc.unseen)
			if (err != nil) != tc.err || s.State != tc.state || !strings.Contains(s.Reason, tc.reason) || len(s.Phones) != tc.phones {
				t.Errorf("got %+v (%d phones), %v; want %s %q, %d phones, error %v", s, len(s.Phones), err, tc.state, tc.reason, tc.phones, tc.err)
			}
		})
	}
}

// An order whose purchase answer named no servers (as an order waiting for payment may) waits,
// awaiting payment, as long as the server list shows none of its servers; once paid, its servers
// are found in the list by name and order id, and it becomes ready.
func TestReadinessFindsTheServersOfAnOrderThatNamedNone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noBSS bool
	}{{"bss", false}, {"no-bss", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := startLifecycle(t, lifecycleOptions{noBSS: tc.noBSS})
			ctx := context.Background()
			api, err := cph.NewClient(r.simURL, cph.StaticToken("test-token"), cph.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			req := cph.ExampleRequest("nameless-" + tc.name)
			*req.Count = 2
			req.ExtendParam.IsAutoPay = nil
			bought, err := api.Purchase(ctx, testProject, req)
			if err != nil {
				t.Fatal(err)
			}
			key := "life/nameless-" + tc.name
			if err := r.tracking.Schedule(ctx, trackTask{IdempotencyKey: key, ProjectID: testProject, OrderID: bought.OrderID,
				ServerName: req.ServerName, Count: 2, PurchasedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if rec := r.waitState(key, LifecycleAwaitingPayment, 3); len(rec.Servers) != 0 {
				t.Fatalf("before payment: %+v, want no server", rec)
			}
			if err := r.sim.PayOrder(bought.OrderID); err != nil {
				t.Fatal(err)
			}
			rec := r.waitState(key, LifecycleReady, 4)
			var got []string
			for _, s := range rec.Servers {
				got = append(got, s.ServerID)
			}
			if len(got) != 2 || !slices.Contains(got, bought.ServerIDs[0]) || !slices.Contains(got, bought.ServerIDs[1]) {
				t.Errorf("servers = %+v, want %v", rec.Servers, bought.ServerIDs)
			}
		})
	}
}
