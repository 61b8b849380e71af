package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestLedgerAcquireIsExclusiveUntilTheLeaseEnds(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	a, b := testHold("k", "a"), testHold("k", "b")

	c, err := l.Acquire(ctx, AcquireArgs{Hold: a, TaskID: "t1", Lease: 300 * time.Millisecond})
	if err != nil || c.State != ClaimAcquired {
		t.Fatalf("first acquire: %+v, %v", c, err)
	}
	c, err = l.Acquire(ctx, AcquireArgs{Hold: b, TaskID: "t1", Lease: time.Minute})
	if err != nil || c.State != ClaimBusy {
		t.Fatalf("second owner while the lease runs: %+v, %v; want busy", c, err)
	}
	// The lease is on Redis's clock, and the claim says what that clock read.
	if left := c.LeaseUntil.Sub(c.Now); left <= 0 || left > 300*time.Millisecond {
		t.Errorf("busy lease_until - now = %v, want in (0, 300ms]", left)
	}
	c, err = l.Acquire(ctx, AcquireArgs{Hold: a, TaskID: "t1", Lease: 300 * time.Millisecond})
	if err != nil || c.State != ClaimAcquired {
		t.Fatalf("same owner again: %+v, %v; want acquired", c, err)
	}
	time.Sleep(400 * time.Millisecond) // a's lease runs out: a crashed or hangs
	c, err = l.Acquire(ctx, AcquireArgs{Hold: b, TaskID: "t1", Lease: time.Minute})
	if err != nil || c.State != ClaimAcquired {
		t.Fatalf("after the lease: %+v, %v; want acquired", c, err)
	}
	// a comes back: every write of its is fenced off.
	if _, err := l.MarkPosting(ctx, a, testPosting); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("MarkPosting by the old owner: %v, want ErrLeaseLost", err)
	}
	if err := l.ClearPosting(ctx, a, ClearArgs{}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("ClearPosting by the old owner: %v, want ErrLeaseLost", err)
	}
	if _, _, err := l.Fail(ctx, Failure{LedgerKey: "k", Owner: "a", Result: []byte(`{}`), DeadLetter: DeadLetter{TaskID: "t1", FailedAt: time.Now()}}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Fail by the old owner: %v, want ErrLeaseLost", err)
	}
}

// testPosting is a posting mark's timing for ledger tests.
var testPosting = PostingArgs{CallTimeout: time.Minute, Lease: time.Minute, NameHold: time.Minute}

// testHold is a hold on key by owner, with a server name of the key's own.
func testHold(key, owner string) Hold {
	return Hold{Key: key, Owner: owner, ProjectID: testProject, ServerNames: []string{"name-" + key}}
}

func TestLedgerPostingMarkSurvivesUntilCleared(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	a, b := testHold("k", "a"), testHold("k", "b")

	mustAcquire(t, l, "k", "a")
	n, err := l.MarkPosting(ctx, a, testPosting)
	if err != nil || n != 1 {
		t.Fatalf("MarkPosting = %d, %v; want 1", n, err)
	}
	// An unknown outcome is never forgotten: the record has no expiry while the mark stands.
	if ttl := tr.rdb.PTTL(ctx, tr.keys.Ledger("k")).Val(); ttl != -1 {
		t.Fatalf("PTTL with a posting mark = %v, want none (-1)", ttl)
	}
	// a dies mid-call; b takes over once the lease ends and must see the mark.
	if err := l.Release(ctx, a, "cph: ambiguous: HTTP 502"); err != nil {
		t.Fatal(err)
	}
	c := mustAcquire(t, l, "k", "b")
	if c.Unresolved == nil || c.Unresolved.Started.IsZero() || c.Unresolved.Ends.Sub(c.Unresolved.Started) != time.Minute ||
		c.Attempts != 1 || c.LastError != "cph: ambiguous: HTTP 502" {
		t.Fatalf("claim after a call with no outcome = %+v; want the call's window, 1 attempt, the last error", c)
	}
	if ttl := tr.rdb.PTTL(ctx, tr.keys.Ledger("k")).Val(); ttl != -1 {
		t.Fatalf("PTTL after a new acquire with the mark = %v, want none (-1)", ttl)
	}
	// Not found is proof only after the call's deadline plus the grace, on Redis's clock.
	var early *GraceError
	if err := l.ClearPosting(ctx, b, ClearArgs{Grace: time.Hour}); !errors.As(err, &early) || early.Left < time.Hour {
		t.Fatalf("ClearPosting inside the grace = %v; want a GraceError of more than an hour", err)
	}
	if err := l.ClearPosting(ctx, b, ClearArgs{}); err != nil {
		t.Fatal(err)
	}
	c = mustAcquire(t, l, "k", "b")
	if c.Unresolved != nil || c.Attempts != 1 {
		t.Fatalf("after ClearPosting: %+v; want no mark, attempts kept", c)
	}
	if ttl := tr.rdb.PTTL(ctx, tr.keys.Ledger("k")).Val(); ttl <= 0 {
		t.Fatalf("PTTL after the outcome is known = %v, want the retention", ttl)
	}
	// A throttled call is refunded.
	if _, err := l.MarkPosting(ctx, b, testPosting); err != nil {
		t.Fatal(err)
	}
	if err := l.ClearPosting(ctx, b, ClearArgs{Refund: true}); err != nil {
		t.Fatal(err)
	}
	if c := mustAcquire(t, l, "k", "b"); c.Attempts != 1 {
		t.Fatalf("after a refunded call attempts = %d, want 1", c.Attempts)
	}
}

func TestLedgerNameLockKeepsOneUnresolvedCallPerName(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	// Two keys buying "web" of two servers, and a third whose one server has the name of one of
	// theirs ("web" ×2 makes web-0001 and web-0002; "web-0001" ×1 makes web-0001 too).
	web2 := serverNames(order2("web", 2).Request)
	a := Hold{Key: "a", Owner: "oa", ProjectID: testProject, ServerNames: web2}
	b := Hold{Key: "b", Owner: "ob", ProjectID: testProject, ServerNames: web2}
	c := Hold{Key: "c", Owner: "oc", ProjectID: testProject, ServerNames: []string{"web-0001"}}
	other := Hold{Key: "d", Owner: "od", ProjectID: "another-project", ServerNames: web2}
	// Numbered names of one server each share nothing, and run side by side.
	n1 := Hold{Key: "n1", Owner: "o1", ProjectID: testProject, ServerNames: []string{"batch-0001"}}
	n2 := Hold{Key: "n2", Owner: "o2", ProjectID: testProject, ServerNames: []string{"batch-0002"}}
	for _, h := range []Hold{a, b, c, other, n1, n2} {
		if cl, err := l.Acquire(ctx, AcquireArgs{Hold: h, Lease: time.Minute}); err != nil || cl.State != ClaimAcquired {
			t.Fatalf("acquire %s: %+v, %v", h.Key, cl, err)
		}
	}
	for _, h := range []Hold{n1, n2} {
		if _, err := l.MarkPosting(ctx, h, testPosting); err != nil {
			t.Fatalf("MarkPosting %s: %v; want numbered names not to wait for each other", h.Key, err)
		}
	}
	if _, err := l.MarkPosting(ctx, a, testPosting); err != nil {
		t.Fatal(err)
	}
	for _, h := range []Hold{b, c} {
		var busy *NameBusyError
		if _, err := l.MarkPosting(ctx, h, testPosting); !errors.As(err, &busy) || busy.Wait <= 0 || busy.Wait > time.Minute {
			t.Fatalf("MarkPosting %s while a's call is unresolved = %v; want NameBusyError with the lock's time left", h.Key, err)
		}
	}
	if _, err := l.MarkPosting(ctx, other, testPosting); err != nil {
		t.Fatalf("MarkPosting in another project: %v", err)
	}
	// a's own next call keeps the lock.
	if _, err := l.MarkPosting(ctx, a, testPosting); err != nil {
		t.Fatalf("a again: %v", err)
	}
	// a's outcome is known: the name is free.
	if err := l.ClearPosting(ctx, a, ClearArgs{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.MarkPosting(ctx, b, testPosting); err != nil {
		t.Fatalf("b after a's outcome is known: %v", err)
	}
	// b succeeds: the success frees the name too.
	if _, _, _, err := l.Succeed(ctx, Success{Hold: b, OrderID: "ob-1", Result: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.MarkPosting(ctx, c, testPosting); err != nil {
		t.Fatalf("c after b succeeded: %v", err)
	}
	// A proven absence lingers on the name: the window's far edge must pass before another
	// key's window begins; c itself may call again at once.
	if err := l.ClearPosting(ctx, c, ClearArgs{NameLinger: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var busy *NameBusyError
	if _, err := l.MarkPosting(ctx, a, testPosting); !errors.As(err, &busy) {
		t.Fatalf("a while c's name lingers = %v; want NameBusyError", err)
	}
	if _, err := l.MarkPosting(ctx, c, testPosting); err != nil {
		t.Fatalf("c again while its name lingers: %v", err)
	}
}

// order2 is order(name) of count servers.
func order2(name string, count int) *Order {
	o := order(name)
	o.Request.Count = &count
	return o
}

func TestLedgerOrderClaims(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	a, b := testHold("a", "oa"), testHold("b", "ob")
	if _, first, _, err := l.Succeed(ctx, Success{Hold: a, OrderID: "CS-1", Result: []byte(`{"k":"a"}`)}); err != nil || !first {
		t.Fatalf("a: %v %v", first, err)
	}
	holders, err := l.Claimed(ctx, []string{"CS-1", "CS-2"})
	if err != nil || holders[0] != "a" || holders[1] != "" {
		t.Fatalf("Claimed = %q, %v", holders, err)
	}
	// Reconciliation may not take an order another key holds, and writes nothing when it tries.
	var claimed *OrderClaimedError
	if _, _, _, err := l.Succeed(ctx, Success{Hold: b, OrderID: "CS-1", Result: []byte(`{"k":"b"}`), Reconciled: true}); !errors.As(err, &claimed) || claimed.Holder != "a" {
		t.Fatalf("b reconciling a's order = %v; want OrderClaimedError naming a", err)
	}
	if _, ok, _ := l.Get(ctx, "b"); ok {
		t.Fatal("a refused claim wrote b's ledger")
	}
	if n := len(streamEntries(t, tr)); n != 1 {
		t.Fatalf("stream has %d entries, want 1", n)
	}
	// A purchase call's own answer is proof: it takes the claim over and says from whom.
	if _, _, from, err := l.Succeed(ctx, Success{Hold: b, OrderID: "CS-1", Result: []byte(`{"k":"b"}`)}); err != nil || from != "a" {
		t.Fatalf("b answered with a's order = %q, %v; want taken from a", from, err)
	}
	if ttl := tr.rdb.PTTL(ctx, tr.keys.OrderClaim("CS-1")).Val(); ttl <= 0 {
		t.Fatalf("claim PTTL = %v, want the retention", ttl)
	}
}

func TestLedgerConflictOnAnotherPurchase(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	h := testHold("k", "a")
	if c, err := l.Acquire(ctx, AcquireArgs{Hold: h, Fingerprint: "fp-1", Lease: time.Minute}); err != nil || c.State != ClaimAcquired {
		t.Fatalf("first: %+v %v", c, err)
	}
	if c, err := l.Acquire(ctx, AcquireArgs{Hold: h, Fingerprint: "fp-2", Lease: time.Minute}); err != nil || c.State != ClaimConflict {
		t.Fatalf("another purchase under the key: %+v %v; want conflict", c, err)
	}
	if c, err := l.Acquire(ctx, AcquireArgs{Hold: h, Fingerprint: "fp-1", Lease: time.Minute}); err != nil || c.State != ClaimAcquired {
		t.Fatalf("the same purchase again: %+v %v", c, err)
	}
	seen, fps, err := l.Fingerprints(ctx, []string{"k", "unknown"})
	if err != nil || !seen[0] || fps[0] != "fp-1" || seen[1] || fps[1] != "" {
		t.Fatalf("Fingerprints = %v %q %v", seen, fps, err)
	}
}

func TestLedgerReplayRestoresAnUnknownOutcome(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	dls := NewDeadLetters(tr.rdb, tr.keys)
	h := testHold("k", "a")
	mustAcquire(t, l, "k", "a")
	if _, err := l.MarkPosting(ctx, h, testPosting); err != nil {
		t.Fatal(err)
	}
	dl := DeadLetter{TaskID: "t1", IdempotencyKey: "k", Class: ClassAmbiguous, FailedAt: time.Now()}
	if _, _, err := l.Fail(ctx, Failure{LedgerKey: "k", Owner: "a", Result: []byte(`{}`), DeadLetter: dl}); err != nil {
		t.Fatal(err)
	}
	if ttl := tr.rdb.PTTL(ctx, tr.keys.Ledger("k")).Val(); ttl != -1 {
		t.Fatalf("an ambiguous failure's PTTL = %v, want none (-1)", ttl)
	}
	got, ok, err := dls.Get(ctx, "t1")
	if err != nil || !ok || got.Unresolved == nil || got.Unresolved.Started.IsZero() || got.PurchaseCalls != 1 {
		t.Fatalf("dead letter = %+v %v %v; want the unresolved call and 1 purchase call", got, ok, err)
	}
	// The ledger forgets the key (an operator flushed it, or a record from before this rule
	// expired): the replay restores the mark from the dead letter instead of buying blind.
	tr.rdb.Del(ctx, tr.keys.Ledger("k"))
	if err := l.Reopen(ctx, Reopening{Key: "k", Unresolved: got.Unresolved}); err != nil {
		t.Fatal(err)
	}
	c := mustAcquire(t, l, "k", "b")
	if c.Unresolved == nil || !c.Unresolved.Started.Equal(got.Unresolved.Started) || !c.Unresolved.NoRebuy {
		t.Fatalf("after the replay: %+v; want the dead letter's call, never re-bought", c.Unresolved)
	}
	// The operator's --rebuy clears it.
	if _, _, err := l.Fail(ctx, Failure{LedgerKey: "k", Owner: "b", Result: []byte(`{}`), DeadLetter: dl}); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(ctx, Reopening{Key: "k", Unresolved: got.Unresolved, Rebuy: true}); err != nil {
		t.Fatal(err)
	}
	if c := mustAcquire(t, l, "k", "c"); c.Unresolved != nil {
		t.Fatalf("after a replay with rebuy: %+v; want no mark", c.Unresolved)
	}
}

func TestLedgerSucceedPublishesOnce(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	mustAcquire(t, l, "k", "a")

	stored, first, _, err := l.Succeed(ctx, Success{Hold: testHold("k", "a"), OrderID: "o1", Result: []byte(`{"order_id":"o1"}`)})
	if err != nil || !first || string(stored) != `{"order_id":"o1"}` {
		t.Fatalf("first Succeed = %s, %v, %v", stored, first, err)
	}
	stored, first, _, err = l.Succeed(ctx, Success{Hold: testHold("k", "a"), OrderID: "o2", Result: []byte(`{"order_id":"o2"}`)})
	if err != nil || first || string(stored) != `{"order_id":"o1"}` {
		t.Fatalf("second Succeed = %s, %v, %v; want the first result back, not first", stored, first, err)
	}
	if c := mustAcquireState(t, l, "k", "z"); c.State != ClaimSucceeded || string(c.Result) != `{"order_id":"o1"}` {
		t.Fatalf("acquire after success = %+v", c)
	}
	// A failure after success changes nothing.
	stored, first, err = l.Fail(ctx, Failure{LedgerKey: "k", Result: []byte(`{"x":1}`), DeadLetter: DeadLetter{TaskID: "t", FailedAt: time.Now()}})
	if err != nil || first || string(stored) != `{"order_id":"o1"}` {
		t.Fatalf("Fail after success = %s, %v, %v", stored, first, err)
	}
	entries := streamEntries(t, tr)
	if len(entries) != 1 || entries[0].Status != StatusSucceeded || entries[0].IdempotencyKey != "k" {
		t.Fatalf("stream = %+v; want one succeeded entry", entries)
	}
}

func TestLedgerFailWritesDeadLetterAndReopens(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	dls := NewDeadLetters(tr.rdb, tr.keys)
	mustAcquire(t, l, "k", "a")
	failedAt := time.Now().UTC().Truncate(time.Millisecond)
	dl := DeadLetter{
		TaskID: "t1", IdempotencyKey: "k", Queue: "q", Class: ClassRejected,
		Error:    &ResultError{Class: ClassRejected, Code: "CPS.0006", HTTPStatus: 400, Message: "arrears"},
		Attempts: 2, MaxRetry: 10, FailedAt: failedAt, Payload: json.RawMessage(`{"request":{}}`),
	}
	if _, first, err := l.Fail(ctx, Failure{LedgerKey: "k", Owner: "a", Result: []byte(`{"status":"dead_lettered"}`), DeadLetter: dl}); err != nil || !first {
		t.Fatalf("Fail = %v, %v", first, err)
	}
	if _, first, err := l.Fail(ctx, Failure{LedgerKey: "k", Owner: "a", Result: []byte(`{"status":"dead_lettered"}`), DeadLetter: dl}); err != nil || first {
		t.Fatalf("second Fail = %v, %v; want not first", first, err)
	}
	got, ok, err := dls.Get(ctx, "t1")
	if err != nil || !ok {
		t.Fatalf("dead letter: %v %v", ok, err)
	}
	if got.Class != ClassRejected || got.Error.Code != "CPS.0006" || got.Attempts != 2 || got.MaxRetry != 10 ||
		!got.FailedAt.Equal(failedAt) || string(got.Payload) != `{"request":{}}` || got.Queue != "q" {
		t.Fatalf("dead letter = %+v", got)
	}
	list, err := dls.List(ctx, 0, 100)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if n := len(streamEntries(t, tr)); n != 1 {
		t.Fatalf("stream has %d entries, want 1", n)
	}
	if err := l.Reopen(ctx, Reopening{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if c := mustAcquire(t, l, "k", "b"); c.State != ClaimAcquired {
		t.Fatalf("after Reopen: %+v", c)
	}
	if ok, err := dls.Delete(ctx, "t1"); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if n, _ := dls.Count(ctx); n != 0 {
		t.Fatalf("Count after delete = %d", n)
	}
}

func mustAcquire(t *testing.T, l *Ledger, key, owner string) Claim {
	t.Helper()
	c := mustAcquireState(t, l, key, owner)
	if c.State != ClaimAcquired {
		t.Fatalf("acquire %s by %s: %+v", key, owner, c)
	}
	return c
}

func mustAcquireState(t *testing.T, l *Ledger, key, owner string) Claim {
	t.Helper()
	c, err := l.Acquire(context.Background(), AcquireArgs{Hold: testHold(key, owner), TaskID: "task", Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func streamEntries(t testing.TB, tr *testRedis) []StreamEntry {
	t.Helper()
	var out []StreamEntry
	err := ReadResults(context.Background(), tr.rdb, tr.stream, "", false, func(e StreamEntry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// oneFailedCall records on key "k" a purchase call that provably placed nothing.
func oneFailedCall(t *testing.T, l *Ledger, _ *RateLimiter) {
	h := testHold("k", "z")
	mustAcquire(t, l, "k", "z")
	if _, err := l.MarkPosting(context.Background(), h, testPosting); err != nil {
		t.Fatal(err)
	}
	if err := l.ClearPosting(context.Background(), h, ClearArgs{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(context.Background(), h, "boom"); err != nil {
		t.Fatal(err)
	}
}

// Acquire with PostArgs sets the mark in the same step only where nothing has to come first; in
// every other case it only takes the key and leaves the mark, the names and the slot alone.
func TestLedgerAcquireSetsTheMarkOnlyWhenNothingComesFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before prepares the key "k" (owner "a" acquires with PostArgs after it).
		before    func(t *testing.T, l *Ledger, lim *RateLimiter)
		replicas  int
		maxCalls  int
		posted    int
		namesBusy bool
	}{
		{name: "fresh key", posted: 1},
		{name: "earlier calls, within the budget", maxCalls: 1, posted: 2, before: oneFailedCall},
		{name: "calls spent", maxCalls: 0, before: oneFailedCall},
		{name: "unknown outcome to reconcile", before: func(t *testing.T, l *Ledger, _ *RateLimiter) {
			h := testHold("k", "z")
			mustAcquire(t, l, "k", "z")
			if _, err := l.MarkPosting(context.Background(), h, testPosting); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(context.Background(), h, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a name held by another key", namesBusy: true, before: func(t *testing.T, l *Ledger, _ *RateLimiter) {
			other := testHold("other", "z")
			other.ServerNames = testHold("k", "").ServerNames
			mustAcquire(t, l, "other", "z")
			if _, err := l.MarkPosting(context.Background(), other, testPosting); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the next slot is later", before: func(t *testing.T, _ *Ledger, lim *RateLimiter) {
			if _, err := lim.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a ledger that waits for replicas", replicas: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestRedis(t)
			ctx := context.Background()
			l := NewLedger(tr.rdb, tr.keys, 0)
			lim := NewRateLimiter(tr.rdb, tr.keys, 1) // a slot a second: a taken one is far off
			if tc.before != nil {
				tc.before(t, l, lim)
			}
			before, _, _ := l.Get(ctx, "k")
			slotBefore, _ := tr.rdb.Get(ctx, tr.keys.RateLimit()).Result()
			lockBefore, _ := tr.rdb.Get(ctx, tr.keys.NameLock(testProject, "name-k")).Result()
			if tc.replicas > 0 {
				l = l.WithMinReplicas(tc.replicas)
			}
			c, err := l.Acquire(ctx, AcquireArgs{Hold: testHold("k", "a"), TaskID: "t", Lease: time.Minute,
				Post: &PostArgs{PostingArgs: testPosting, MaxCalls: tc.maxCalls, Limiter: lim}})
			if err != nil || c.State != ClaimAcquired {
				t.Fatalf("acquire: %+v, %v", c, err)
			}
			if c.Posted != tc.posted || (c.NamesBusy != nil) != tc.namesBusy {
				t.Fatalf("posted %d, names busy %v; want %d, %v", c.Posted, c.NamesBusy, tc.posted, tc.namesBusy)
			}
			after, _, _ := l.Get(ctx, "k")
			slotAfter, _ := tr.rdb.Get(ctx, tr.keys.RateLimit()).Result()
			lock, _ := tr.rdb.Get(ctx, tr.keys.NameLock(testProject, "name-k")).Result()
			if tc.posted > 0 {
				if !after.Posting || after.Attempts != tc.posted || lock != "k" || slotAfter == slotBefore {
					t.Fatalf("after a mark: %+v, name lock %q, slot %q → %q; want the mark, the lock and a slot", after, lock, slotBefore, slotAfter)
				}
				return
			}
			if after.Posting != before.Posting || after.Attempts != before.Attempts || slotAfter != slotBefore || lock != lockBefore {
				t.Fatalf("without a mark: %+v → %+v, name lock %q → %q, slot %q → %q; want nothing changed but the owner", before, after, lockBefore, lock, slotBefore, slotAfter)
			}
		})
	}
}
