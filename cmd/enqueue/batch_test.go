package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// worker plays the worker for the CLI's waits: it buys a key (the ledger's success) and ends its
// lifecycle (the readiness store's finish), as the handler and the tracking would.
type worker struct {
	t  *testing.T
	tr *testRedis
	rs *tasks.ReadinessStore
}

func newWorker(t *testing.T, tr *testRedis) *worker {
	return &worker{t: t, tr: tr, rs: tasks.NewReadinessStore(tr.rdb, tasks.NewKeys(tr.stream))}
}

func (w *worker) buy(key string) {
	w.t.Helper()
	if _, _, _, err := w.tr.ledger.Succeed(context.Background(), tasks.Success{Hold: tasks.Hold{Key: key}, OrderID: "order-" + key, Result: resultJSON(w.t, key, tasks.StatusSucceeded)}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *worker) deadLetter(key string) {
	w.t.Helper()
	if _, _, err := w.tr.ledger.Fail(context.Background(), tasks.Failure{LedgerKey: key, Result: resultJSON(w.t, key, tasks.StatusDeadLettered), DeadLetter: tasks.DeadLetter{
		TaskID: tasks.TaskID(key), IdempotencyKey: key, Queue: w.tr.queue, Class: tasks.ClassRejected, FailedAt: time.Now(),
	}}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *worker) end(key string, state tasks.LifecycleState, reason string) {
	w.t.Helper()
	if _, _, err := w.rs.Finish(context.Background(), tasks.Readiness{IdempotencyKey: key, OrderID: "order-" + key, State: state, Reason: reason}); err != nil {
		w.t.Fatal(err)
	}
}

// onQueue calls fn once key's task is on the queue, in the background; the returned channel says
// how it went.
func (w *worker) onQueue(key string, fn func()) <-chan error {
	done := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := w.tr.insp.GetTaskInfo(w.tr.queue, tasks.TaskID(key)); err == nil {
				fn()
				done <- nil
				return
			}
			if time.Now().After(deadline) {
				done <- errors.New("the order never reached the queue")
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return done
}

// TestSubmitWaitReady: --wait=ready prints the readiness event and exits 0 only when the order is
// ready; failed, timed out or dead-lettered exit 1.
func TestSubmitWaitReady(t *testing.T) {
	tr := newTestRedis(t)
	w := newWorker(t, tr)
	cases := []struct {
		key, want string
		complete  func(key string)
		code      int
		stderr    string
	}{
		{"ready-ok", "ready", func(k string) { w.buy(k); w.end(k, tasks.LifecycleReady, "") }, 0, ""},
		{"ready-failed", "failed", func(k string) { w.buy(k); w.end(k, tasks.LifecycleFailed, "server s1 is abnormal (status 2)") }, 1,
			"enqueue: submit: the order was bought but is failed: server s1 is abnormal (status 2)"},
		{"ready-timeout", "timed_out", func(k string) { w.buy(k); w.end(k, tasks.LifecycleTimedOut, "not ready 1h30m0s after the purchase") }, 1,
			"enqueue: submit: the order was bought but is timed_out"},
		{"ready-dead", "dead_lettered", w.deadLetter, 1, "enqueue: submit: the order was dead-lettered (rejected)"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			done := w.onQueue(c.key, func() { c.complete(c.key) })
			r := tr.enqueue(t, "submit", "-f", "testdata/order.json", "--key", c.key, "--wait=ready")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			wantExit(t, r, c.code)
			got := oneJSON(t, r.stdout)
			if got["state"] != c.want && got["status"] != c.want || got["idempotency_key"] != c.key {
				t.Errorf("printed %v, want %s of %s", got, c.want, c.key)
			}
			if lines := stderrLines(t, r.stderr); c.stderr != "" && !strings.HasPrefix(lines[len(lines)-1], c.stderr) {
				t.Errorf("last stderr line %q, want it to start with %q", lines[len(lines)-1], c.stderr)
			}
		})
	}
	r := tr.enqueue(t, "submit", "-f", "testdata/order.json", "--key", "ready-bad", "--wait=soon")
	wantExit(t, r, 2)
}

// TestBatchStatusAndWait: bulk --batch records the keys once however often the file is enqueued;
// batch status counts them by state; batch wait exits 0 when every key reached the goal and 1,
// listing them, when some ended otherwise.
func TestBatchStatusAndWait(t *testing.T) {
	tr := newTestRedis(t)
	w := newWorker(t, tr)
	keys := []string{"test/bulk-1", "test/bulk-2", "test/bulk-3", "test/bulk-4"}
	file := ordersFile(t, keys)
	for range 2 {
		wantExit(t, tr.enqueue(t, "bulk", "-f", file, "--batch", "b1"), 0)
	}
	status := func() map[string]any {
		t.Helper()
		r := tr.enqueue(t, "batch", "status", "b1")
		wantExit(t, r, 0)
		return oneJSON(t, r.stdout)
	}
	if st := status(); st["total"] != 4.0 || st["queued"] != 4.0 {
		t.Fatalf("status = %v, want 4 queued", st)
	}
	for _, k := range keys {
		w.buy(k)
	}
	w.end(keys[0], tasks.LifecycleReady, "")
	w.end(keys[1], tasks.LifecycleReady, "")
	w.end(keys[2], tasks.LifecycleFailed, "phone p1 of server s1 failed (status -8)")
	if st := status(); st["bought"] != 1.0 || st["ready"] != 2.0 || st["failed"] != 1.0 {
		t.Fatalf("status = %v, want 1 bought, 2 ready, 1 failed", st)
	}

	if r := tr.enqueue(t, "batch", "wait", "b1", "--until", "bought"); r.code != 0 || !strings.Contains(r.stdout, `"done":true`) {
		t.Errorf("wait --until bought: exit %d, %s; want 0, done", r.code, r.stdout)
	}
	// The last order ends while the wait follows the batch, once it has printed where it stands.
	var stdout, stderr testkit.SyncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(context.Background(), tr.args([]string{"batch", "wait", "b1"}), strings.NewReader(""), &stdout, &stderr)
	}()
	testkit.Eventually(t, "batch wait to print the counts on the way", func() bool { return strings.Contains(stdout.String(), `"done":false`) })
	w.end(keys[3], tasks.LifecycleReady, "")
	r := result{code: <-code, stdout: stdout.String(), stderr: stderr.String()}
	wantExit(t, r, 1)
	lines := jsonLines(t, r.stdout)
	last := lines[len(lines)-1]
	if last["done"] != true || last["reached"] != 3.0 || len(last["otherwise"].([]any)) != 1 {
		t.Errorf("last line = %v, want done, 3 reached, 1 otherwise", last)
	}
	if len(lines) < 2 || lines[0]["done"] != false {
		t.Errorf("lines = %v, want the counts on the way before the last", lines)
	}
	if !strings.Contains(r.stderr, "test/bulk-3: failed: phone p1 of server s1 failed (status -8)") {
		t.Errorf("stderr = %q, want the failed key and its reason", r.stderr)
	}

	wantExit(t, tr.enqueue(t, "batch", "wait", "no-such-batch"), 1)
	wantExit(t, tr.enqueue(t, "batch", "status", "no-such-batch"), 1)
	wantExit(t, tr.enqueue(t, "batch", "wait", "b1", "--until", "paid"), 2)
	wantExit(t, tr.enqueue(t, "bulk", "-f", file, "--batch", ""), 2)
}

// ordersFile writes testdata/order.json once for each key, one a line, and returns its path.
func ordersFile(t *testing.T, keys []string) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/order.json")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, k := range keys {
		var o map[string]any
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		o["idempotency_key"] = k
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	path := filepath.Join(t.TempDir(), "orders.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
