package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// TestResults reads stream entries written through the ledger, as the worker writes them.
func TestResults(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	succeed(t, tr, "r-1")
	fail(t, tr, "r-2")
	all := jsonLines(t, tr.enqueue(t, "results").stdout)
	if len(all) != 2 {
		t.Fatalf("%d results, want 2", len(all))
	}
	first := all[0]["id"].(string)
	cases := []struct {
		name string
		args []string
		want []string // key:status of each line
	}{
		{"everything", []string{"results"}, []string{"r-1:succeeded", "r-2:dead_lettered"}},
		{"--from 0", []string{"results", "--from", "0"}, []string{"r-1:succeeded", "r-2:dead_lettered"}},
		{"after the first", []string{"results", "--from", first}, []string{"r-2:dead_lettered"}},
		{"after the last", []string{"results", "--from", "$"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tr.enqueue(t, c.args...)
			wantExit(t, r, 0)
			var got []string
			for _, e := range jsonLines(t, r.stdout) {
				got = append(got, e["idempotency_key"].(string)+":"+e["status"].(string))
				res, _ := e["result"].(map[string]any)
				if res["idempotency_key"] != e["idempotency_key"] || res["status"] != e["status"] || e["id"] == "" {
					t.Errorf("entry %v: want an id and the result of its key and status", e)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("results %v, want %v", got, c.want)
			}
			if r.stderr != "" {
				t.Errorf("stderr = %q", r.stderr)
			}
		})
	}

	t.Run("--follow until interrupted", func(t *testing.T) {
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var stdout, stderr testkit.SyncBuffer
		exited := make(chan int, 1)
		go func() {
			exited <- run(fctx, tr.args([]string{"results", "--follow", "--from", first}), strings.NewReader(""), &stdout, &stderr)
		}()
		lines := func() int { return len(jsonLines(t, stdout.String())) }
		testkit.Eventually(t, "the existing result after --from to be printed", func() bool { return lines() == 1 })
		succeed(t, tr, "r-3")
		testkit.Eventually(t, "a new result to be printed", func() bool { return lines() == 2 })
		cancel()
		select {
		case code := <-exited:
			if code != 0 || stderr.String() != "" {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("results --follow did not end when interrupted")
		}
		if got := jsonLines(t, stdout.String()); got[1]["idempotency_key"] != "r-3" {
			t.Errorf("followed %v, want r-3 last", got)
		}
	})
}

// succeed records key's success as a worker does: ledger and results stream together.
func succeed(t *testing.T, tr *testRedis, key string) {
	t.Helper()
	if _, _, _, err := tr.ledger.Succeed(context.Background(), tasks.Success{Hold: tasks.Hold{Key: key}, OrderID: "order-" + key, Result: resultJSON(t, key, tasks.StatusSucceeded)}); err != nil {
		t.Fatal(err)
	}
}

// fail dead-letters key as a worker does: ledger, dead letter and results stream together.
func fail(t *testing.T, tr *testRedis, key string) {
	t.Helper()
	dl := tasks.DeadLetter{TaskID: tasks.TaskID(key), IdempotencyKey: key, Queue: tr.queue, Class: tasks.ClassRejected, FailedAt: time.Now()}
	if _, _, err := tr.ledger.Fail(context.Background(), tasks.Failure{LedgerKey: key, Result: resultJSON(t, key, tasks.StatusDeadLettered), DeadLetter: dl}); err != nil {
		t.Fatal(err)
	}
}
