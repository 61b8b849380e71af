package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

const orderProject = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e" // testdata/order.json's project_id

func TestSubmit(t *testing.T) {
	tr := newTestRedis(t)
	order := mustRead(t, "testdata/order.json")
	cases := []struct {
		name        string
		env         map[string]string
		stdin       string
		args        []string
		wantKey     string
		wantStatus  string
		wantProject string
	}{
		{"an order from a file", nil, "", []string{"submit", "-f", "testdata/order.json"},
			"test/order-1", tasks.EnqueueEnqueued, orderProject},
		{"the same order again", nil, "", []string{"submit", "-f", "testdata/order.json"},
			"test/order-1", tasks.EnqueueDuplicate, orderProject},
		{"the same order from stdin", nil, order, []string{"submit", "-f", "-"},
			"test/order-1", tasks.EnqueueDuplicate, orderProject},
		{"from stdin under --key", nil, order, []string{"submit", "-f", "-", "--key", "batch-7/row-3"},
			"batch-7/row-3", tasks.EnqueueEnqueued, orderProject},
		{"--project-id fills a missing project", nil, "", []string{"submit", "-f", "testdata/order-noproject.json", "--project-id", "p-flag"},
			"test/order-noproject", tasks.EnqueueEnqueued, "p-flag"},
		{"CPH_PROJECT_ID fills a missing project", map[string]string{"CPH_PROJECT_ID": "p-env"}, "", []string{"submit", "-f", "testdata/order-noproject.json", "--key", "np-env"},
			"np-env", tasks.EnqueueEnqueued, "p-env"},
		{"--project-id wins over CPH_PROJECT_ID", map[string]string{"CPH_PROJECT_ID": "p-env"}, "", []string{"submit", "-f", "testdata/order-noproject.json", "--key", "np-flag", "--project-id", "p-flag"},
			"np-flag", tasks.EnqueueEnqueued, "p-flag"},
		{"an order's own project wins over --project-id", nil, "", []string{"submit", "-f", "testdata/order.json", "--key", "own-project", "--project-id", "p-flag"},
			"own-project", tasks.EnqueueEnqueued, orderProject},
		{"--max-retry travels with the task", nil, "", []string{"--max-retry", "3", "submit", "-f", "testdata/order.json", "--key", "retry-3"},
			"retry-3", tasks.EnqueueEnqueued, orderProject},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CPH_PROJECT_ID", "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r := tr.enqueueCtx(context.Background(), t, c.stdin, c.args...)
			wantExit(t, r, 0)
			got := oneJSON(t, r.stdout)
			want := map[string]any{"task_id": tasks.TaskID(c.wantKey), "idempotency_key": c.wantKey, "queue": tr.queue, "status": c.wantStatus}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if len(got) != len(want) {
				t.Errorf("stdout = %v, want exactly the fields %v", got, want)
			}
			if r.stderr != "" {
				t.Errorf("stderr = %q, want nothing", r.stderr)
			}
			info, o := enqueuedTask(t, tr, c.wantKey)
			if o.ProjectID != c.wantProject {
				t.Errorf("enqueued project_id = %q, want %q", o.ProjectID, c.wantProject)
			}
			if c.wantKey == "retry-3" && info.MaxRetry != 3+1 {
				t.Errorf("asynq MaxRetry = %d, want the budget 3 plus the handler's slot", info.MaxRetry)
			}
		})
	}
}

func TestSubmitInvalid(t *testing.T) {
	tr := newTestRedis(t)
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"count 11", "", []string{"submit", "-f", "testdata/order-invalid.json"}, []string{
			"enqueue: submit: testdata/order-invalid.json: request.count: must be between 1 and 10, got 11",
		}},
		{"no project anywhere", "", []string{"submit", "-f", "testdata/order-noproject.json"}, []string{
			"enqueue: submit: testdata/order-noproject.json: project_id: is required (set it in the order, with --project-id or with CPH_PROJECT_ID)",
		}},
		{"a key too long", "", []string{"submit", "-f", "testdata/order.json", "--key", strings.Repeat("k", 129)}, []string{
			"enqueue: submit: testdata/order.json: idempotency_key: must be at most 128 bytes, got 129",
		}},
		{"every problem, one a line", `{"project_id":"p","request":{"count":11}}`, []string{"submit", "-f", "-"}, nil},
		{"not JSON", "nope", []string{"submit", "-f", "-"}, []string{
			"enqueue: submit: stdin: (root): malformed JSON at byte 2: invalid character 'o' in literal null (expecting 'u')",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CPH_PROJECT_ID", "")
			r := tr.enqueueCtx(context.Background(), t, c.stdin, c.args...)
			wantExit(t, r, 2)
			lines := stderrLines(t, r.stderr)
			if c.want == nil {
				if len(lines) < 3 || !strings.HasPrefix(lines[0], "enqueue: submit: stdin: ") {
					t.Errorf("want one line for each problem, got %q", lines)
				}
			} else if strings.Join(lines, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(c.want, "\n"))
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	if n := pendingTasks(t, tr); n != 0 {
		t.Errorf("%d tasks enqueued, want none", n)
	}
}

// TestSubmitWait: --wait prints the terminal result, which the test writes to the ledger as a
// worker would.
func TestSubmitWait(t *testing.T) {
	tr := newTestRedis(t)
	cases := []struct {
		name       string
		key        string
		complete   func(ctx context.Context, key string) error // nil: nobody completes the order
		wait       string
		code       int
		wantStatus string
		wantStderr string
	}{
		{"succeeded", "wait-ok", func(ctx context.Context, key string) error {
			_, _, _, err := tr.ledger.Succeed(ctx, tasks.Success{Hold: tasks.Hold{Key: key}, OrderID: "order-" + key, Result: resultJSON(t, key, tasks.StatusSucceeded)})
			return err
		}, "--wait", 0, tasks.StatusSucceeded, ""},
		{"a duplicate of a bought order returns its result at once", "wait-ok", nil, "--wait", 0, tasks.StatusSucceeded, ""},
		{"dead-lettered", "wait-dead", func(ctx context.Context, key string) error {
			_, _, err := tr.ledger.Fail(ctx, tasks.Failure{LedgerKey: key, Result: resultJSON(t, key, tasks.StatusDeadLettered), DeadLetter: tasks.DeadLetter{
				TaskID: tasks.TaskID(key), IdempotencyKey: key, Queue: tr.queue, Class: tasks.ClassRejected, FailedAt: time.Now(),
			}})
			return err
		}, "--wait=5m", 1, tasks.StatusDeadLettered,
			"enqueue: submit: the order was dead-lettered (rejected): arrears: see 'enqueue dlq show " + tasks.TaskID("wait-dead") + "'"},
		{"no result in time", "wait-timeout", nil, "--wait=1s", 1, "",
			"enqueue: submit: no result for " + tasks.TaskID("wait-timeout") + " after 1s; the order stays queued"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				if c.complete == nil {
					done <- nil
					return
				}
				// Complete the order once it is on the queue, as a worker would.
				ctx := context.Background()
				deadline := time.Now().Add(30 * time.Second)
				for {
					if _, err := tr.insp.GetTaskInfo(tr.queue, tasks.TaskID(c.key)); err == nil {
						done <- c.complete(ctx, c.key)
						return
					}
					if time.Now().After(deadline) {
						done <- errors.New("the order never reached the queue")
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			r := tr.enqueue(t, "submit", "-f", "testdata/order.json", "--key", c.key, c.wait)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			wantExit(t, r, c.code)
			lines := stderrLines(t, r.stderr)
			if c.wantStatus == "" {
				if r.stdout != "" {
					t.Errorf("stdout = %q, want nothing", r.stdout)
				}
			} else if got := oneJSON(t, r.stdout); got["status"] != c.wantStatus || got["idempotency_key"] != c.key {
				t.Errorf("result = %v, want status %s for %s", got, c.wantStatus, c.key)
			}
			if c.wantStderr != "" && !strings.HasPrefix(lines[len(lines)-1], c.wantStderr) {
				t.Errorf("last stderr line = %q, want it to start with %q", lines[len(lines)-1], c.wantStderr)
			}
		})
	}
}

// resultJSON is a terminal result as the handler writes it.
func resultJSON(t *testing.T, key, status string) []byte {
	t.Helper()
	r := tasks.Result{TaskID: tasks.TaskID(key), IdempotencyKey: key, ProjectID: orderProject, Status: status,
		Attempts: 1, Metadata: map[string]string{}, FinishedAt: time.Now().UTC()}
	if status == tasks.StatusSucceeded {
		r.OrderID, r.ServerIDs = "order-"+key, []string{"server-1"}
	} else {
		r.Error = &tasks.ResultError{Class: tasks.ClassRejected, Code: "CPS.0006", HTTPStatus: 400, Message: "arrears"}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// enqueuedTask returns the task of key on the queue, and its order.
func enqueuedTask(t *testing.T, tr *testRedis, key string) (*asynq.TaskInfo, *tasks.Order) {
	t.Helper()
	info, err := tr.insp.GetTaskInfo(tr.queue, tasks.TaskID(key))
	if err != nil {
		t.Fatalf("task of %s: %v", key, err)
	}
	o, err := tasks.DecodeOrder(info.Payload)
	if err != nil {
		t.Fatalf("task of %s: payload: %v", key, err)
	}
	return info, o
}

// pendingTasks counts the tasks waiting on the test's queue.
func pendingTasks(t *testing.T, tr *testRedis) int {
	t.Helper()
	list, err := tr.insp.ListPendingTasks(tr.queue, asynq.PageSize(10000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
