package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// newOrder returns a valid order for one server named name, paid automatically (so that an
// ambiguous call can be reconciled), with idempotency key key.
func newOrder(key, name string) *tasks.Order {
	return &tasks.Order{IdempotencyKey: key, ProjectID: testProject, Request: cph.ExampleRequest(name), Metadata: map[string]string{"name": name}}
}

// enqueue enqueues o and fails the test unless it was enqueued.
func enqueue(t testing.TB, p *tasks.Producer, o *tasks.Order) tasks.EnqueueResult {
	t.Helper()
	r, err := p.Enqueue(context.Background(), o)
	if err != nil || r.Status != tasks.EnqueueEnqueued {
		t.Fatalf("enqueue %s: %+v, %v", o.IdempotencyKey, r, err)
	}
	return r
}

// streamByKey reads the whole results stream, grouped by idempotency key.
func streamByKey(t testing.TB, tr *testRedis) map[string][]tasks.Result {
	t.Helper()
	out := map[string][]tasks.Result{}
	err := tasks.ReadResults(context.Background(), tr.rdb, tr.stream, "", false, func(e tasks.StreamEntry) error {
		var r tasks.Result
		if err := json.Unmarshal(e.Result, &r); err != nil {
			return fmt.Errorf("entry %s: %w", e.ID, err)
		}
		if r.IdempotencyKey != e.IdempotencyKey || r.Status != e.Status {
			return fmt.Errorf("entry %s: fields %s/%s disagree with its result %s/%s", e.ID, e.IdempotencyKey, e.Status, r.IdempotencyKey, r.Status)
		}
		out[e.IdempotencyKey] = append(out[e.IdempotencyKey], r)
		return nil
	})
	if err != nil {
		t.Fatalf("results stream: %v", err)
	}
	return out
}

// ledgerState returns the ledger's state of key ("" when it has none).
func ledgerState(t testing.TB, l *tasks.Ledger, key string) string {
	t.Helper()
	e, ok, err := l.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("ledger: %v", err)
	}
	if !ok {
		return ""
	}
	return string(e.State)
}

// waitTerminal polls the ledger until every key is terminal (succeeded or failed), or d passes;
// it returns the keys that are not.
func waitTerminal(t testing.TB, l *tasks.Ledger, keys []string, d time.Duration) []string {
	t.Helper()
	var open []string
	testkit.Poll(d, func() bool {
		open = open[:0]
		for _, k := range keys {
			if st := ledgerState(t, l, k); st != "succeeded" && st != "failed" {
				open = append(open, k)
			}
		}
		return len(open) == 0
	})
	return open
}

// checkBoughtOnce checks the promise for orders that must all succeed (name by key): the ledger
// and the results stream hold exactly one succeeded result per key, the simulator exactly one
// order per name, and the result names that order.
func checkBoughtOnce(t testing.TB, tr *testRedis, s *sim, names map[string]string) map[string]tasks.Result {
	t.Helper()
	ledger := tasks.NewLedger(tr.rdb, tr.keys, 0)
	stream := streamByKey(t, tr)
	out := map[string]tasks.Result{}
	for key, name := range names {
		if st := ledgerState(t, ledger, key); st != "succeeded" {
			t.Errorf("%s: ledger state %q, want succeeded", key, st)
		}
		rs := stream[key]
		if len(rs) != 1 {
			t.Errorf("%s: %d results in the stream, want exactly 1: %+v", key, len(rs), rs)
			continue
		}
		r := rs[0]
		orders := s.ordersFor(name)
		if len(orders) != 1 {
			t.Errorf("%s: the simulator holds %d orders for %s, want exactly 1", key, len(orders), name)
			continue
		}
		if r.Status != tasks.StatusSucceeded || r.OrderID != orders[0].OrderID {
			t.Errorf("%s: result %s order %q, the simulator's order is %q", key, r.Status, r.OrderID, orders[0].OrderID)
		}
		out[key] = r
	}
	for key := range stream {
		if _, ok := names[key]; !ok {
			t.Errorf("the stream has a result for %s, which no test order has", key)
		}
	}
	return out
}
