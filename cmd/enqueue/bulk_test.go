package main

import (
	"context"
	"strings"
	"testing"
)

// TestBulk runs bulk files one after the other on one queue: what one case enqueued is a duplicate
// for the next.
func TestBulk(t *testing.T) {
	tr := newTestRedis(t)
	cases := []struct {
		name        string
		stdin       string
		args        []string
		code        int
		want        bulkSummary
		wantStderr  []string
		wantPending int // tasks on the queue after the case
	}{
		{"all valid", "", []string{"bulk", "-f", "testdata/orders.jsonl"}, 0,
			bulkSummary{Total: 3, Enqueued: 3}, nil, 3},
		{"the same file again: all duplicates", "", []string{"bulk", "-f", "testdata/orders.jsonl"}, 0,
			bulkSummary{Total: 3, Duplicates: 3}, nil, 3},
		{"the same from stdin", mustRead(t, "testdata/orders.jsonl"), []string{"bulk", "-f", "-"}, 0,
			bulkSummary{Total: 3, Duplicates: 3}, nil, 3},
		{"a key twice in one file", "", []string{"bulk", "-f", "testdata/orders-dup.jsonl"}, 0,
			bulkSummary{Total: 3, Enqueued: 2, Duplicates: 1}, nil, 5},
		{"some invalid: nothing enqueued", "", []string{"bulk", "-f", "testdata/orders-invalid.jsonl"}, 2,
			bulkSummary{Total: 4, Invalid: 2}, []string{
				"enqueue: bulk: testdata/orders-invalid.jsonl: line 2: request.count: must be between 1 and 10, got 11",
				"enqueue: bulk: testdata/orders-invalid.jsonl: line 4: request.colour: unknown field",
				"enqueue: bulk: testdata/orders-invalid.jsonl: 2 of 4 orders invalid: nothing enqueued (fix them, or pass --skip-invalid to enqueue the other 2)",
			}, 5},
		{"--skip-invalid enqueues the others", "", []string{"bulk", "-f", "testdata/orders-invalid.jsonl", "--skip-invalid"}, 0,
			bulkSummary{Total: 4, Enqueued: 2, Invalid: 2}, []string{
				"enqueue: bulk: testdata/orders-invalid.jsonl: line 2: request.count: must be between 1 and 10, got 11",
				"enqueue: bulk: testdata/orders-invalid.jsonl: line 4: request.colour: unknown field",
			}, 7},
		{"an empty file: nothing to enqueue", "\n\n", []string{"bulk", "-f", "-"}, 2, bulkSummary{}, []string{
			"enqueue: bulk: stdin has no orders (it is empty, or blank lines only): nothing to enqueue",
		}, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tr.enqueueCtx(context.Background(), t, c.stdin, c.args...)
			wantExit(t, r, c.code)
			got := oneJSON(t, r.stdout)
			want := map[string]any{"total": float64(c.want.Total), "enqueued": float64(c.want.Enqueued),
				"duplicates": float64(c.want.Duplicates), "invalid": float64(c.want.Invalid)}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (stdout %s)", k, got[k], v, r.stdout)
				}
			}
			if lines := stderrLines(t, r.stderr); strings.Join(lines, "\n") != strings.Join(c.wantStderr, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(c.wantStderr, "\n"))
			}
			if n := pendingTasks(t, tr); n != c.wantPending {
				t.Errorf("%d tasks on the queue, want %d", n, c.wantPending)
			}
		})
	}
}

// TestBulkDuplicatesInFlight: many lines with one key, enqueued concurrently, give one task and
// the rest duplicates; asynq's task id conflict decides the race that the ledger cannot.
func TestBulkDuplicatesInFlight(t *testing.T) {
	tr := newTestRedis(t)
	line := strings.TrimSpace(strings.SplitN(mustRead(t, "testdata/orders.jsonl"), "\n", 2)[0])
	stdin := strings.Repeat(line+"\n", 50)
	r := tr.enqueueCtx(context.Background(), t, stdin, "bulk", "-f", "-", "--concurrency", "50")
	wantExit(t, r, 0)
	got := oneJSON(t, r.stdout)
	if got["enqueued"] != float64(1) || got["duplicates"] != float64(49) {
		t.Errorf("summary = %v, want 1 enqueued and 49 duplicates", got)
	}
	if n := pendingTasks(t, tr); n != 1 {
		t.Errorf("%d tasks on the queue, want 1", n)
	}
}

// TestValidate needs no Redis: REDIS_URL is unset.
func TestValidate(t *testing.T) {
	cases := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		want       validateSummary
		wantStderr []string
	}{
		{"a valid order", "", []string{"validate", "-f", "testdata/order.json"}, 0, validateSummary{1, 1, 0}, nil},
		{"an invalid order", "", []string{"validate", "-f", "testdata/order-invalid.json"}, 2, validateSummary{1, 0, 1}, []string{
			"enqueue: validate: testdata/order-invalid.json: request.count: must be between 1 and 10, got 11",
			"enqueue: validate: testdata/order-invalid.json: 1 of 1 orders invalid",
		}},
		{"a jsonl file", "", []string{"validate", "-f", "testdata/orders.jsonl"}, 0, validateSummary{3, 3, 0}, nil},
		{"a jsonl file with invalid lines", "", []string{"validate", "-f", "testdata/orders-invalid.jsonl"}, 2, validateSummary{4, 2, 2}, []string{
			"enqueue: validate: testdata/orders-invalid.jsonl: line 2: request.count: must be between 1 and 10, got 11",
			"enqueue: validate: testdata/orders-invalid.jsonl: line 4: request.colour: unknown field",
			"enqueue: validate: testdata/orders-invalid.jsonl: 2 of 4 orders invalid",
		}},
		{"lines of orders on stdin", mustRead(t, "testdata/orders-invalid.jsonl"), []string{"validate", "-f", "-"}, 2, validateSummary{4, 2, 2}, []string{
			"enqueue: validate: stdin: line 2: request.count: must be between 1 and 10, got 11",
			"enqueue: validate: stdin: line 4: request.colour: unknown field",
			"enqueue: validate: stdin: 2 of 4 orders invalid",
		}},
		{"one order on stdin", mustRead(t, "testdata/order.json"), []string{"validate", "-f", "-"}, 0, validateSummary{1, 1, 0}, nil},
		{"--project-id completes an order", "", []string{"validate", "-f", "testdata/order-noproject.json", "--project-id", "p"}, 0, validateSummary{1, 1, 0}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", "")
			t.Setenv("CPH_PROJECT_ID", "")
			r := (*testRedis)(nil).enqueueCtx(context.Background(), t, c.stdin, c.args...)
			wantExit(t, r, c.code)
			got := oneJSON(t, r.stdout)
			want := map[string]any{"total": float64(c.want.Total), "valid": float64(c.want.Valid), "invalid": float64(c.want.Invalid)}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (stdout %s)", k, got[k], v, r.stdout)
				}
			}
			if lines := stderrLines(t, r.stderr); strings.Join(lines, "\n") != strings.Join(c.wantStderr, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(c.wantStderr, "\n"))
			}
		})
	}
}
