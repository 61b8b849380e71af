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
	now := time.Now()
	l.now = func() time.Time { return now }

	c, err := l.Acquire(ctx, "k", "a", "t1", time.Minute)
	if err != nil || c.State != ClaimAcquired {
		t.Fatalf("first acquire: %+v, %v", c, err)
	}
	c, err = l.Acquire(ctx, "k", "b", "t1", time.Minute)
	if err != nil || c.State != ClaimBusy {
		t.Fatalf("second owner while the lease runs: %+v, %v; want busy", c, err)
	}
	if !c.LeaseUntil.Equal(now.Add(time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("busy lease_until = %v, want %v", c.LeaseUntil, now.Add(time.Minute))
	}
	c, err = l.Acquire(ctx, "k", "a", "t1", time.Minute)
	if err != nil || c.State != ClaimAcquired {
		t.Fatalf("same owner again: %+v, %v; want acquired", c, err)
	}
	now = now.Add(2 * time.Minute) // a's lease has run out: a crashed or hangs
	c, err = l.Acquire(ctx, "k", "b", "t1", time.Minute)
	if err != nil || c.State != ClaimAcquired {
		t.Fatalf("after the lease: %+v, %v; want acquired", c, err)
	}
	// a comes back: every write of its is fenced off.
	if _, err := l.MarkPosting(ctx, "k", "a", time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("MarkPosting by the old owner: %v, want ErrLeaseLost", err)
	}
	if err := l.ClearPosting(ctx, "k", "a", false); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("ClearPosting by the old owner: %v, want ErrLeaseLost", err)
	}
	if _, _, err := l.Fail(ctx, "k", "a", []byte(`{}`), DeadLetter{TaskID: "t1", FailedAt: now}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Fail by the old owner: %v, want ErrLeaseLost", err)
	}
}

func TestLedgerPostingMarkSurvivesUntilCleared(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)

	mustAcquire(t, l, "k", "a")
	n, err := l.MarkPosting(ctx, "k", "a", time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("MarkPosting = %d, %v; want 1", n, err)
	}
	// a dies mid-call; b takes over once the lease ends and must see the mark.
	if err := l.Release(ctx, "k", "a", "cph: ambiguous: HTTP 502"); err != nil {
		t.Fatal(err)
	}
	c := mustAcquire(t, l, "k", "b")
	if !c.Posting || c.PostStarted.IsZero() || c.Attempts != 1 || c.LastError != "cph: ambiguous: HTTP 502" {
		t.Fatalf("claim after a call with no outcome = %+v; want posting, 1 attempt, the last error", c)
	}
	if err := l.ClearPosting(ctx, "k", "b", false); err != nil {
		t.Fatal(err)
	}
	if c := mustAcquire(t, l, "k", "b"); c.Posting || c.Attempts != 1 {
		t.Fatalf("after ClearPosting: %+v; want no mark, attempts kept", c)
	}
	// A throttled call is refunded.
	if _, err := l.MarkPosting(ctx, "k", "b", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := l.ClearPosting(ctx, "k", "b", true); err != nil {
		t.Fatal(err)
	}
	if c := mustAcquire(t, l, "k", "b"); c.Attempts != 1 {
		t.Fatalf("after a refunded call attempts = %d, want 1", c.Attempts)
	}
}

func TestLedgerSucceedPublishesOnce(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	mustAcquire(t, l, "k", "a")

	stored, first, err := l.Succeed(ctx, "k", []byte(`{"order_id":"o1"}`))
	if err != nil || !first || string(stored) != `{"order_id":"o1"}` {
		t.Fatalf("first Succeed = %s, %v, %v", stored, first, err)
	}
	stored, first, err = l.Succeed(ctx, "k", []byte(`{"order_id":"o2"}`))
	if err != nil || first || string(stored) != `{"order_id":"o1"}` {
		t.Fatalf("second Succeed = %s, %v, %v; want the first result back, not first", stored, first, err)
	}
	if c := mustAcquireState(t, l, "k", "z"); c.State != ClaimSucceeded || string(c.Result) != `{"order_id":"o1"}` {
		t.Fatalf("acquire after success = %+v", c)
	}
	// A failure after success changes nothing.
	stored, first, err = l.Fail(ctx, "k", "", []byte(`{"x":1}`), DeadLetter{TaskID: "t", FailedAt: time.Now()})
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
	if _, first, err := l.Fail(ctx, "k", "a", []byte(`{"status":"dead_lettered"}`), dl); err != nil || !first {
		t.Fatalf("Fail = %v, %v", first, err)
	}
	if _, first, err := l.Fail(ctx, "k", "a", []byte(`{"status":"dead_lettered"}`), dl); err != nil || first {
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
	if err := l.Reopen(ctx, "k"); err != nil {
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
	c, err := l.Acquire(context.Background(), key, owner, "task", time.Minute)
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
