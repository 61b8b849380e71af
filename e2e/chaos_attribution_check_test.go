package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
)

// TestChaosAttributionChecksCatchWhatTheyClaim feeds the chaos run's attribution checks a
// simulator and a results stream in which each check has one thing to find, so that a chaos run
// whose checks pass means something. It needs no worker: the orders are bought directly, the
// results and claims written by hand.
func TestChaosAttributionChecksCatchWhatTheyClaim(t *testing.T) {
	tr := newTestRedis(t)
	s := startSimInTest(t, cphsim.Options{}, nil)
	api, err := cph.NewClient(s.url, cph.StaticToken(testToken), cph.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &chaosRun{t: t, tr: tr, sim: s}
	add := func(key, name, keypair string) *chaosOrder {
		o := newOrder(key, name)
		o.Request.KeypairName = keypair
		co := &chaosOrder{key: key, name: name, order: o}
		c.orders = append(c.orders, co)
		return co
	}
	buy := func(co *chaosOrder) *cph.PurchaseResponse {
		resp, err := api.Purchase(context.Background(), co.order.ProjectID, co.order.Request)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ctx := context.Background()
	publish := func(key string, r tasks.Result) {
		r.IdempotencyKey = key
		body, _ := json.Marshal(r)
		if err := tr.rdb.XAdd(ctx, &redis.XAddArgs{Stream: tr.stream, Values: []any{"idempotency_key", key, "status", r.Status, "result", string(body)}}).Err(); err != nil {
			t.Fatal(err)
		}
		if r.Status == tasks.StatusSucceeded {
			tr.rdb.Set(ctx, tr.keys.OrderClaim(r.OrderID), key, 0)
		}
	}
	succeeded := func(key string, resp *cph.PurchaseResponse, reconciled bool) {
		r := tasks.Result{Status: tasks.StatusSucceeded, OrderID: resp.OrderID, ServerIDs: resp.ServerIDs, Reconciled: reconciled}
		if !reconciled {
			r.RequestID = resp.RequestID
		}
		publish(key, r)
	}
	ambiguous := func(key string, candidates ...string) {
		publish(key, tasks.Result{Status: tasks.StatusDeadLettered, Error: &tasks.ResultError{Class: tasks.ClassAmbiguous, Message: "m", Candidates: candidates}})
	}

	// Fine: a key and its order; an identical pair, each with an order; an ambiguous dead letter
	// naming both orders of its key; one without candidates and the one order of its request.
	a := add("a", "n-a", "")
	succeeded("a", buy(a), false)
	i1, i2 := add("i1", "n-i", ""), add("i2", "n-i", "")
	succeeded("i1", buy(i2), true) // swapped: identical requests, which no check can tell apart
	succeeded("i2", buy(i1), true)
	g := add("g", "n-g", "")
	ambiguous("g", buy(g).OrderID, buy(g).OrderID)
	h := add("h", "n-h", "")
	buy(h)
	ambiguous("h")

	// Wrong: an order reported by two keys; a key reporting another request's order (same name,
	// its own keypair); an order nobody reports; a key with two orders; a claim that disagrees.
	b := add("b", "n-b", "")
	bought := buy(b)
	succeeded("b", bought, false)
	succeeded("b2", bought, false) // (b2 is no key of the run: check 1 reports that)
	tr.rdb.Set(ctx, tr.keys.OrderClaim(bought.OrderID), "b", 0)
	_, d2 := add("d1", "n-d", "kp-1"), add("d2", "n-d", "kp-2")
	succeeded("d1", buy(d2), true)
	e := add("e", "n-e", "")
	buy(e)
	publish("e", tasks.Result{Status: tasks.StatusDeadLettered, Error: &tasks.ResultError{Class: tasks.ClassExhausted, Message: "m"}})
	f := add("f", "n-f", "")
	succeeded("f", buy(f), true)
	buy(f)
	k := add("k", "n-k", "")
	resp := buy(k)
	succeeded("k", resp, false)
	tr.rdb.Set(ctx, tr.keys.OrderClaim(resp.OrderID), "someone-else", 0)

	at := c.attribute(streamByKey(t, tr), c.placedOrders())
	expect := func(what string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: got %d findings, want %d: %q", what, len(got), len(want), got)
			return
		}
		for i, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: finding %q does not say %q", what, got[i], w)
			}
		}
	}
	expect("orders reported by two keys", at.twoKeys, "[b b2]")
	if all := strings.Join(at.claims, "\n"); len(at.claims) != 2 || !strings.Contains(all, "reported by b2, claimed in the ledger by \"b\"") ||
		!strings.Contains(all, "reported by k, claimed in the ledger by \"someone-else\"") {
		t.Errorf("claims: want b2's (b holds the claim) and k's: %q", at.claims)
	}
	expect("orders not theirs", at.notTheirs, "d1 reports order")
	if all := strings.Join(at.unreported, "\n"); len(at.unreported) != 2 || !strings.Contains(all, "n-e ×1") || !strings.Contains(all, "n-f ×1") {
		t.Errorf("unreported: want the order of e and the second of f: %q", at.unreported)
	}
	expect("double buys", at.doubleBuys, "request of [f]")
	if at.byCandidate != 2 || at.byBareDL != 1 || at.byRequest != 2 {
		t.Errorf("candidates %d, bare dead letters %d, proven up to the request %d; want 2, 1, 2", at.byCandidate, at.byBareDL, at.byRequest)
	}
}
