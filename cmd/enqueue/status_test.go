package main

import (
	"context"
	"testing"

	"cphpurchase/internal/tasks"
)

func TestStatus(t *testing.T) {
	tr := newTestRedis(t)
	wantExit(t, tr.enqueue(t, "submit", "-f", "testdata/order.json"), 0)
	wantExit(t, tr.enqueue(t, "submit", "-f", "testdata/order.json", "--key", "bought"), 0)
	if _, _, _, err := tr.ledger.Succeed(context.Background(), tasks.Success{Hold: tasks.Hold{Key: "bought"}, OrderID: "order-bought", Result: resultJSON(t, "bought", tasks.StatusSucceeded)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, arg  string
		wantKey    string
		wantState  string
		wantLedger string // the ledger's state, "" for none
	}{
		{"by key", "test/order-1", "test/order-1", "pending", ""},
		{"by task id", tasks.TaskID("test/order-1"), "test/order-1", "pending", ""},
		{"with a result", "bought", "bought", "pending", string(tasks.StateSucceeded)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tr.enqueue(t, "status", c.arg)
			wantExit(t, r, 0)
			got := oneJSON(t, r.stdout)
			if got["task_id"] != tasks.TaskID(c.wantKey) || got["idempotency_key"] != c.wantKey || got["state"] != c.wantState || got["queue"] != tr.queue {
				t.Errorf("status = %v, want %s, key %s, state %s", got, tasks.TaskID(c.wantKey), c.wantKey, c.wantState)
			}
			ledger, _ := got["ledger"].(map[string]any)
			result, _ := got["result"].(map[string]any)
			switch {
			case c.wantLedger == "" && (ledger != nil || result != nil):
				t.Errorf("ledger = %v, result = %v; want none", ledger, result)
			case c.wantLedger != "" && (ledger["state"] != c.wantLedger || result["order_id"] != "order-"+c.wantKey):
				t.Errorf("ledger = %v, result = %v; want state %s and the order", ledger, result, c.wantLedger)
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		r := tr.enqueue(t, "status", "nobody/knows")
		wantExit(t, r, 1)
		if r.stdout != "" || r.stderr != "enqueue: status: no order with task id or key \"nobody/knows\"\n" {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
	})
}
