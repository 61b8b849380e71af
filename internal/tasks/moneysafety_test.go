package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/testkit"
)

// The regression tests of the money-safety review: each scenario bought twice, reported an order
// that its key never placed, or left a paid order reported by no key.

// unknownOutcomeAPI answers the purchase calls that fail picks with a 500 whose outcome is unknown,
// without sending them: the worst case for attribution, a key that must reconcile although it
// placed nothing.
type unknownOutcomeAPI struct {
	API
	fail func(req *cph.PurchaseRequest, n int) bool
	mu   sync.Mutex
	n    map[string]int // calls per server name
}

func (a *unknownOutcomeAPI) Purchase(ctx context.Context, projectID string, req *cph.PurchaseRequest) (*cph.PurchaseResponse, error) {
	a.mu.Lock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[req.ServerName+"/"+projectID]++
	n := a.n[req.ServerName+"/"+projectID]
	a.mu.Unlock()
	if a.fail(req, n) {
		return nil, &cph.Error{Class: cph.ClassAmbiguous, HTTPStatus: 500, Code: "CPS.0003", Message: "internal error", Sent: true}
	}
	return a.API.Purchase(ctx, projectID, req)
}

// keyed is order(name) under an explicit idempotency key, told apart by its metadata.
func keyed(key, name string) *Order {
	o := order(name)
	o.IdempotencyKey = key
	o.Metadata = map[string]string{"key": key}
	return o
}

// assertOneOrderEach checks that each key reports a different order, that every order placed for
// name is reported by exactly one key, and that nothing else was placed.
func assertOneOrderEach(t *testing.T, p *pipeline, name string, results map[string]Result) {
	t.Helper()
	placed := map[string]bool{}
	for _, o := range p.sim.OrdersFor(name) {
		placed[o.OrderID] = true
	}
	reportedBy := map[string]string{}
	for key, r := range results {
		if r.Status != StatusSucceeded {
			t.Errorf("%s: %s (%+v); want succeeded", key, r.Status, r.Error)
			continue
		}
		if other, dup := reportedBy[r.OrderID]; dup {
			t.Errorf("order %s is reported by %s and by %s", r.OrderID, other, key)
		}
		reportedBy[r.OrderID] = key
		if !placed[r.OrderID] {
			t.Errorf("%s reports order %s, which the simulator never placed", key, r.OrderID)
		}
	}
	for id := range placed {
		if _, ok := reportedBy[id]; !ok {
			t.Errorf("order %s was placed (and paid for) but no key reports it", id)
		}
	}
	if len(placed) != len(results) {
		t.Errorf("the simulator placed %d orders for %d keys", len(placed), len(results))
	}
}

// Scenario 1: a key whose call placed nothing must not take another key's order of the same name.
func TestMoneySharedNameIsNotAnotherKeysOrder(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3, wrapAPI: func(api API) API {
		// The second call for "web" (key b's first) fails with an unknown outcome and places nothing.
		return &unknownOutcomeAPI{API: api, fail: func(_ *cph.PurchaseRequest, n int) bool { return n == 2 }}
	}})
	a := p.submit(keyed("shared-a", "web"))
	ra := p.wait(a.IdempotencyKey)
	b := p.submit(keyed("shared-b", "web"))
	rb := p.wait(b.IdempotencyKey)
	assertOneOrderEach(t, p, "web", map[string]Result{a.IdempotencyKey: ra, b.IdempotencyKey: rb})
	if !rb.Reconciled && rb.Attempts < 2 {
		t.Errorf("b's result = %+v; want it bought by a later call", rb)
	}
}

// Scenario 1, mirrored: both keys' calls place an order and answer 500. Each must report its own.
func TestMoneySharedNameBothUnknownEachGetsItsOwn(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 5, concurrency: 8,
		sim: cphsim.Options{Decide: decideBySeq(cphsim.FaultFailAfterCommit, cphsim.FaultFailAfterCommit, cphsim.FaultFailAfterCommit, cphsim.FaultFailAfterCommit)}})
	keys := []string{"mirror-a", "mirror-b", "mirror-c", "mirror-d"}
	for _, k := range keys {
		p.submit(keyed(k, "db"))
	}
	results := map[string]Result{}
	for _, k := range keys {
		results[k] = p.wait(k)
	}
	assertOneOrderEach(t, p, "db", results)
}

// Scenario 2: decisions are on Redis's clock. A worker whose clock is minutes ahead must see the
// key busy while another worker's call is in flight, and must not buy.
func TestMoneyClockSkewDoesNotTakeAKeyInFlight(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3, concurrency: 1})
	if err := p.insp.PauseQueue(p.tr.queue); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var calls atomic.Int32
	slow := &blockingAPI{API: p.api, release: release, calls: &calls}
	newWorker := func(skew time.Duration, obs Observer) *Handler {
		cfg := p.handler.cfg
		cfg.API, cfg.Observer = slow, obs
		cfg.Now = func() time.Time { return time.Now().Add(skew) }
		return NewHandler(cfg)
	}
	outcomes := &outcomeLog{}
	behind, ahead := newWorker(-5*time.Minute, nil), newWorker(5*time.Minute, outcomes)
	o := keyed("skew-1", "skew-1")
	payload := mustJSON(t, o)
	ctx := context.Background()

	first := make(chan error, 1)
	go func() {
		d, err := behind.newDelivery(TypePurchase, TaskID(o.IdempotencyKey), payload, nil, 0, NewBudget(3).TaskMaxRetry())
		if err != nil {
			first <- err
			return
		}
		first <- d.run(ctx)
	}()
	for calls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// The worker ahead gets a copy of the task while the call is in flight.
	d, err := ahead.newDelivery(TypePurchase, TaskID(o.IdempotencyKey), payload, nil, 0, NewBudget(3).TaskMaxRetry())
	if err != nil {
		t.Fatal(err)
	}
	var later *retryLater
	if err := d.run(ctx); !errors.As(err, &later) || later.counted || outcomes.last() != outcomeBusy {
		t.Fatalf("the copy on the fast clock: %v, outcome %q; want an uncounted wait for the busy key", err, outcomes.last())
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first worker: %v", err)
	}
	if n := len(p.sim.OrdersFor("skew-1")); n != 1 || calls.Load() != 1 {
		t.Fatalf("%d orders from %d calls; want 1 from 1", n, calls.Load())
	}
}

// outcomeLog records the outcomes a handler reports.
type outcomeLog struct {
	nopObserver
	mu       sync.Mutex
	outcomes []string
}

func (o *outcomeLog) Outcome(outcome, _ string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outcomes = append(o.outcomes, outcome)
}

func (o *outcomeLog) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.outcomes) == 0 {
		return ""
	}
	return o.outcomes[len(o.outcomes)-1]
}

// blockingAPI holds every purchase call until release is closed.
type blockingAPI struct {
	API
	release chan struct{}
	calls   *atomic.Int32
}

func (a *blockingAPI) Purchase(ctx context.Context, projectID string, req *cph.PurchaseRequest) (*cph.PurchaseResponse, error) {
	a.calls.Add(1)
	<-a.release
	return a.API.Purchase(ctx, projectID, req)
}

// ambiguousDeadLetter leaves key's order as an ambiguous dead letter with a posting mark, as a run
// whose retries ran out before its call's outcome was known does, and returns its task id.
func ambiguousDeadLetter(t *testing.T, p *pipeline, o *Order) string {
	t.Helper()
	ctx := context.Background()
	id := TaskID(o.Key())
	h := Hold{Key: o.Key(), Owner: "dead-run", ProjectID: o.ProjectID, ServerNames: serverNames(o.Request)}
	if c, err := p.ledger.Acquire(ctx, AcquireArgs{Hold: h, TaskID: id, Fingerprint: o.Fingerprint(), Lease: time.Minute}); err != nil || c.State != ClaimAcquired {
		t.Fatalf("acquire: %+v %v", c, err)
	}
	if _, err := p.ledger.MarkPosting(ctx, h, PostingArgs{CallTimeout: time.Second, Lease: time.Minute, NameHold: time.Second}); err != nil {
		t.Fatal(err)
	}
	dl := DeadLetter{TaskID: id, IdempotencyKey: o.Key(), Queue: p.tr.queue, Class: ClassAmbiguous,
		Error: &ResultError{Class: ClassAmbiguous, Message: "unknown"}, FailedAt: time.Now(), Payload: mustJSON(t, o)}
	if _, _, err := p.ledger.Fail(ctx, Failure{LedgerKey: o.Key(), Owner: "dead-run", Result: []byte(`{"status":"dead_lettered"}`), DeadLetter: dl}); err != nil {
		t.Fatal(err)
	}
	return id
}

// Scenario 3: the ledger's record is gone (expired, flushed) when an ambiguous dead letter is
// replayed. The replay must reconcile from the dead letter's record of the call, not buy blind.
func TestMoneyReplayAfterTheLedgerForgot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		placed bool // the dead run's call did place the order (else: its servers were deleted)
		want   string
	}{
		{"the order exists: found", true, StatusSucceeded},
		{"the servers are gone: ambiguous again, not bought", false, StatusDeadLettered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPipeline(t, pipelineOptions{maxRetry: 3})
			o := keyed("forgot-"+testkit.RandomID(), "forgot")
			id := ambiguousDeadLetter(t, p, o)
			if tc.placed {
				if _, err := p.api.Purchase(context.Background(), o.ProjectID, o.Request); err != nil {
					t.Fatal(err)
				}
			}
			p.tr.rdb.Del(context.Background(), p.tr.keys.Ledger(o.Key()))
			if _, err := p.producer.replay(context.Background(), p.dls, p.insp, id, ReplayOptions{}); err != nil {
				t.Fatal(err)
			}
			r := p.wait(o.Key())
			placed := 0
			if tc.placed {
				placed = 1
			}
			if n := len(p.sim.OrdersFor("forgot")); r.Status != tc.want || n != placed {
				t.Fatalf("after the replay: %s (%+v), %d orders; want %s and %d", r.Status, r.Error, n, tc.want, placed)
			}
			if tc.placed && !r.Reconciled {
				t.Errorf("result = %+v; want reconciled", r)
			}
		})
	}
}

// Scenario 4: a gateway answers 504 and its backend commits later. Under RebuyNever nothing is
// bought twice however late the commit; with a grace that covers it, the late order is found.
func TestMoneyLateCommit(t *testing.T) {
	// The commit lands after the call's deadline (1s) plus the default test grace (200ms).
	late := cphsim.Fault{Kind: cphsim.FaultLateCommit, After: 2500 * time.Millisecond}
	decideLate := func(c cphsim.PurchaseCall) cphsim.Fault {
		if c.Seq == 1 {
			return late
		}
		return cphsim.Fault{Kind: cphsim.FaultNone}
	}
	t.Run("never re-buy: ambiguous, then found on replay", func(t *testing.T) {
		p := startPipeline(t, pipelineOptions{maxRetry: 3, callTimeout: time.Second, policy: RebuyNever, sim: cphsim.Options{Decide: decideLate}})
		en := p.submit(keyed("late-never", "late-never"))
		r := p.wait(en.IdempotencyKey)
		if r.Status != StatusDeadLettered || r.Error.Class != ClassAmbiguous {
			t.Fatalf("result = %s %+v; want an ambiguous dead letter", r.Status, r.Error)
		}
		for p.sim.PendingLateCommits() > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := p.producer.replay(context.Background(), p.dls, p.insp, en.TaskID, ReplayOptions{}); err != nil {
			t.Fatal(err)
		}
		r = p.wait(en.IdempotencyKey)
		if orders := p.sim.OrdersFor("late-never"); len(orders) != 1 || r.Status != StatusSucceeded || r.OrderID != orders[0].OrderID || !r.Reconciled {
			t.Fatalf("after the replay: %+v, orders %+v; want the late order, reconciled", r, orders)
		}
	})
	t.Run("a grace that covers the commit: found", func(t *testing.T) {
		p := startPipeline(t, pipelineOptions{maxRetry: 3, callTimeout: time.Second, grace: 20 * time.Second, sim: cphsim.Options{Decide: decideLate}})
		en := p.submit(keyed("late-grace", "late-grace"))
		r := p.wait(en.IdempotencyKey)
		if orders := p.sim.OrdersFor("late-grace"); len(orders) != 1 || r.Status != StatusSucceeded || r.OrderID != orders[0].OrderID || !r.Reconciled {
			t.Fatalf("result %+v, orders %+v; want the late order, reconciled", r, orders)
		}
	})
}

// Scenario 7: the sweeper lists an archived task, a replay replaces it and reopens its key, then the
// sweeper reaches it. The sweeper must leave the replayed order alone.
func TestMoneySweeperLeavesAReplayedTaskAlone(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3, sim: cphsim.Options{Decide: decideBySeq(cphsim.FaultReject)}})
	en := p.submit(keyed("swept-replay", "swept-replay"))
	if r := p.wait(en.IdempotencyKey); r.Status != StatusDeadLettered {
		t.Fatalf("first run: %+v", r)
	}
	stale := p.waitTask(en.TaskID) // what the sweeper listed
	if err := p.insp.PauseQueue(p.tr.queue); err != nil {
		t.Fatal(err)
	}
	if _, err := p.producer.replay(context.Background(), p.dls, p.insp, en.TaskID, ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	sweeper := NewSweeper(p.handler, p.insp, p.dls, time.Hour)
	if swept, err := sweeper.sweepTask(context.Background(), stale); err != nil || swept {
		t.Fatalf("sweepTask on the replaced task = %v, %v; want left alone", swept, err)
	}
	// The key was reopened but not taken: the sweeper must not take it either way. Take it as a
	// worker would, and the sweeper must still see that the task is no longer archived.
	if err := p.insp.UnpauseQueue(p.tr.queue); err != nil {
		t.Fatal(err)
	}
	r := p.wait(en.IdempotencyKey)
	if r.Status != StatusSucceeded || len(p.sim.OrdersFor("swept-replay")) != 1 {
		t.Fatalf("after the replay: %+v; want bought once", r)
	}
	if swept, err := sweeper.sweepTask(context.Background(), stale); err != nil || swept {
		t.Fatalf("sweepTask after the replay succeeded = %v, %v; want left alone", swept, err)
	}
}

// Same key, different request: a conflict at enqueue, and dead-lettered invalid without a call if
// it reaches a worker anyway.
func TestMoneyKeyReusedForAnotherPurchaseIsAConflict(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3})
	ctx := context.Background()
	first := keyed("reused", "reused-1")
	if err := p.insp.PauseQueue(p.tr.queue); err != nil {
		t.Fatal(err)
	}
	p.submit(first)
	other := keyed("reused", "reused-2")
	// Queued, not yet taken: the producer reads the queued task.
	if r, err := p.producer.Enqueue(ctx, other); !errors.Is(err, ErrKeyConflict) || r.Status != EnqueueConflict {
		t.Fatalf("enqueue while queued = %+v, %v; want a conflict", r, err)
	}
	if r, err := p.producer.Enqueue(ctx, keyed("reused", "reused-1")); err != nil || r.Status != EnqueueDuplicate {
		t.Fatalf("the same purchase again = %+v, %v; want a duplicate", r, err)
	}
	if err := p.insp.UnpauseQueue(p.tr.queue); err != nil {
		t.Fatal(err)
	}
	p.wait("reused")
	p.waitTask(TaskID("reused")) // asynq marks the task completed after the ledger's success
	// Known to the ledger.
	if r, err := p.producer.Enqueue(ctx, other); !errors.Is(err, ErrKeyConflict) || r.Status != EnqueueConflict {
		t.Fatalf("enqueue after the purchase = %+v, %v; want a conflict", r, err)
	}
	if c, err := p.producer.Conflicts(ctx, []*Order{other, keyed("fresh", "x"), keyed("fresh", "y")}); err != nil || !c[0] || c[1] || !c[2] {
		t.Fatalf("Conflicts = %v, %v; want [true false true]", c, err)
	}
	// A second line of the same conflicting order conflicts with the ledger as the first does.
	if c, err := p.producer.Conflicts(ctx, []*Order{other, keyed("reused", "reused-2")}); err != nil || !c[0] || !c[1] {
		t.Fatalf("Conflicts of a conflicting order twice = %v, %v; want [true true]", c, err)
	}
	// A producer that skips every check: the worker refuses it, with no call.
	if err := p.insp.DeleteTask(p.tr.queue, TaskID("reused")); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatal(err)
	}
	p.enqueueRaw(TypePurchase, mustJSON(t, other), TaskID("reused"))
	info := p.waitTask(TaskID("reused"))
	if info.State != asynq.TaskStateArchived {
		t.Fatalf("the conflicting task ended %s", info.State)
	}
	dl, ok, err := p.dls.Get(ctx, TaskID("reused"))
	if err != nil || !ok || dl.Class != ClassInvalid || dl.Error.Code != CodeKeyConflict {
		t.Fatalf("dead letter = %+v %v %v; want invalid, %s", dl, ok, err, CodeKeyConflict)
	}
	if n := len(p.sim.OrdersFor("reused-2")); n != 0 {
		t.Fatalf("the conflicting request was bought %d times", n)
	}
	if e, _, _ := p.ledger.Get(ctx, "reused"); e.State != StateSucceeded {
		t.Fatalf("the first purchase's record = %+v; want it kept", e)
	}
}

// failScriptHook fails the first n runs of one Lua script, as a Redis blip or failover would.
type failScriptHook struct {
	sha string
	n   atomic.Int32
}

func (h *failScriptHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *failScriptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *failScriptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if len(args) > 1 && (cmd.Name() == "evalsha" || cmd.Name() == "eval") && args[1] == h.sha && h.n.Add(-1) >= 0 {
			err := errors.New("i/o timeout (injected)")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// A purchase whose success cannot be written at once (a Redis blip right after the 200) is written
// again in-process, from the answer, not left for a reconciliation that would have to find the
// order by listing.
func TestMoneySuccessWriteIsRetriedInProcess(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3})
	hook := &failScriptHook{sha: succeedScript.Hash()}
	hook.n.Store(2)
	rdb := redisconn.NewClient(p.tr.opt)
	defer rdb.Close()
	rdb.AddHook(hook)
	cfg := p.handler.cfg
	cfg.Ledger = NewLedger(rdb, p.tr.keys, 0)
	h := NewHandler(cfg)
	o := keyed("blip-1", "blip-1")
	d, err := h.newDelivery(TypePurchase, TaskID(o.Key()), mustJSON(t, o), nil, 0, NewBudget(3).TaskMaxRetry())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.run(context.Background()); err != nil {
		t.Fatalf("run: %v; want the success recorded after the blip", err)
	}
	if hook.n.Load() > 0 {
		t.Fatal("the hook failed nothing: the test proves nothing")
	}
	e, ok, err := p.ledger.Get(context.Background(), o.Key())
	var r Result
	if err == nil && ok {
		err = json.Unmarshal(e.Result, &r)
	}
	if err != nil || e.State != StateSucceeded || r.Reconciled || r.RequestID == "" {
		t.Fatalf("ledger %+v, result %+v, %v; want succeeded from the call's own answer", e, r, err)
	}
	if n := len(p.sim.OrdersFor("blip-1")); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
}

// Two unclaimed orders with the request's names inside the call's window (one the key's call
// placed, one bought by something else): which one is the key's cannot be proven, so the order is
// an ambiguous dead letter that names both, and nothing is bought.
func TestMoneySeveralCandidatesAreNamedNotGuessed(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3, sim: cphsim.Options{Decide: decideBySeq(cphsim.FaultNone, cphsim.FaultFailAfterCommit)}})
	o := keyed("two-candidates", "two-candidates")
	// Bought outside this worker, just before: inside the window's clock margin.
	outside, err := p.api.Purchase(context.Background(), o.ProjectID, o.Request)
	if err != nil {
		t.Fatal(err)
	}
	en := p.submit(o)
	r := p.wait(en.IdempotencyKey)
	orders := p.sim.OrdersFor("two-candidates")
	if r.Status != StatusDeadLettered || r.Error.Class != ClassAmbiguous || len(r.Error.Candidates) != 2 {
		t.Fatalf("result = %s %+v; want ambiguous naming two candidates", r.Status, r.Error)
	}
	named := map[string]bool{r.Error.Candidates[0]: true, r.Error.Candidates[1]: true}
	if len(orders) != 2 || !named[outside.OrderID] || !named[orders[0].OrderID] || !named[orders[1].OrderID] {
		t.Fatalf("candidates %v, orders %+v; want both orders named, and no third bought", r.Error.Candidates, orders)
	}
}

// A call older than the claims index remembers cannot be attributed: the index may have forgotten
// another key's claim on an order in its window. It is an ambiguous dead letter, not a guess.
func TestMoneyACallOlderThanTheClaimsIsAmbiguous(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3})
	o := keyed("ancient", "ancient")
	if err := p.insp.PauseQueue(p.tr.queue); err != nil {
		t.Fatal(err)
	}
	p.submit(o)
	long := time.Now().Add(-LedgerRetention - 24*time.Hour)
	if err := p.ledger.Reopen(context.Background(), Reopening{Key: o.Key(), Unresolved: &Unresolved{Started: long, Ends: long.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.api.Purchase(context.Background(), o.ProjectID, o.Request); err != nil { // an order with the name exists today
		t.Fatal(err)
	}
	if err := p.insp.UnpauseQueue(p.tr.queue); err != nil {
		t.Fatal(err)
	}
	r := p.wait(o.Key())
	if r.Status != StatusDeadLettered || r.Error.Class != ClassAmbiguous || !strings.Contains(r.Error.Message, "older than the ledger remembers") {
		t.Fatalf("result = %s %+v; want ambiguous, too old to prove", r.Status, r.Error)
	}
	if n := len(p.sim.OrdersFor("ancient")); n != 1 {
		t.Fatalf("%d orders; want only the one that existed", n)
	}
}

// slowScriptHook delays the first n runs of one Lua script, as a Redis that stalls or restarts
// does: before the script runs, or (answer) after it ran, as a reply held up on its way back.
type slowScriptHook struct {
	failScriptHook
	delay  time.Duration
	answer bool
}

func (h *slowScriptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if len(args) > 1 && cmd.Name() == "evalsha" && args[1] == h.sha && h.n.Add(-1) >= 0 {
			if h.answer {
				defer time.Sleep(h.delay)
			} else {
				time.Sleep(h.delay)
			}
		}
		return next(ctx, cmd)
	}
}

// A posting mark held up past the call's rate-limit slot (Redis stalled, restarted) must not send:
// every handler whose slot passed meanwhile would send at once when Redis answers, over the limit.
// The call takes its mark back, uncounted, and waits for a slot again. That holds for a mark set
// after waiting for the slot, and for one set with the slot in the step that takes the key.
func TestMoneyStalledMarkDoesNotBurstOverTheRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script *redis.Script
		answer bool
		// slotTaken takes the limiter's next slot first, so the delivery waits for its own and
		// sets the mark on its own.
		slotTaken bool
	}{
		{name: "mark after the wait for a slot", script: markPostingScript, slotTaken: true},
		{name: "mark with the key, answer held up", script: acquirePostScript, answer: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPipeline(t, pipelineOptions{maxRetry: 3})
			hook := &slowScriptHook{failScriptHook: failScriptHook{sha: tc.script.Hash()}, delay: 300 * time.Millisecond, answer: tc.answer}
			hook.n.Store(1)
			rdb := redisconn.NewClient(p.tr.opt)
			defer rdb.Close()
			rdb.AddHook(hook)
			cfg := p.handler.cfg
			cfg.Ledger = NewLedger(rdb, p.tr.keys, 0)
			cfg.RateLimiter = NewRateLimiter(rdb, p.tr.keys, 10) // a slot every 101 ms
			if tc.slotTaken {
				if _, err := cfg.RateLimiter.Wait(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			h := NewHandler(cfg)
			o := keyed("stalled-mark", "stalled-mark")
			d, err := h.newDelivery(TypePurchase, TaskID(o.Key()), mustJSON(t, o), nil, 0, NewBudget(3).TaskMaxRetry())
			if err != nil {
				t.Fatal(err)
			}
			var later *retryLater
			if err := d.run(context.Background()); !errors.As(err, &later) || later.counted {
				t.Fatalf("run with a stalled mark: %v; want an uncounted retry", err)
			}
			if hook.n.Load() > 0 {
				t.Fatal("the stalled script did not run")
			}
			if calls := p.sim.Stats().PurchaseCalls; calls != 0 {
				t.Fatalf("%d purchase calls went out after the stall; want none", calls)
			}
			if e, _, _ := p.ledger.Get(context.Background(), o.Key()); e.Posting || e.Attempts != 0 {
				t.Fatalf("ledger after the stall = %+v; want no mark and no call counted", e)
			}
			d.settled = false
			if err := d.run(context.Background()); err != nil {
				t.Fatalf("the next run: %v", err)
			}
			if n := len(p.sim.OrdersFor("stalled-mark")); n != 1 {
				t.Fatalf("%d orders, want 1", n)
			}
		})
	}
}
