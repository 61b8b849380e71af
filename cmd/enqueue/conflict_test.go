package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// orderLine is testdata/order.json under key, buying a server named name, as one JSON line.
func orderLine(t *testing.T, key, name string) string {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, "testdata/order.json")), &o); err != nil {
		t.Fatal(err)
	}
	o["idempotency_key"] = key
	o["request"].(map[string]any)["server_name"] = name
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tempFile writes content to a new file named name and returns its path.
func tempFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, content)
	return p
}

// One idempotency key names one purchase: the same key with another request is a conflict,
// reported with exit 2, never enqueued as a duplicate.
func TestSubmitConflict(t *testing.T) {
	tr := newTestRedis(t)
	first := tempFile(t, "first.json", orderLine(t, "conflict/1", "conflict-a"))
	other := tempFile(t, "other.json", orderLine(t, "conflict/1", "conflict-b"))
	wantExit(t, tr.enqueue(t, "submit", "-f", first), 0)
	r := tr.enqueue(t, "submit", "-f", first)
	wantExit(t, r, 0)
	if got := oneJSON(t, r.stdout)["status"]; got != "duplicate" {
		t.Fatalf("the same order again: status %v, want duplicate", got)
	}
	r = tr.enqueue(t, "submit", "-f", other)
	wantExit(t, r, 2)
	if got := oneJSON(t, r.stdout)["status"]; got != "conflict" {
		t.Fatalf("another request under the key: status %v, want conflict", got)
	}
	if !strings.Contains(r.stderr, `idempotency key "conflict/1": this request differs from the one first submitted under it`) {
		t.Fatalf("stderr = %q; want the key named and the conflict explained", r.stderr)
	}
	if n := pendingTasks(t, tr); n != 1 {
		t.Fatalf("%d tasks queued, want 1", n)
	}
}

func TestBulkConflicts(t *testing.T) {
	tr := newTestRedis(t)
	wantExit(t, tr.enqueue(t, "submit", "-f", tempFile(t, "q.json", orderLine(t, "conflict/queued", "queued-a"))), 0)
	file := tempFile(t, "batch.jsonl", strings.Join([]string{
		orderLine(t, "conflict/x", "x-a"),
		orderLine(t, "conflict/x", "x-b"),           // the key again, another purchase: a conflict
		orderLine(t, "conflict/queued", "queued-b"), // queued with another purchase: found as it is enqueued
		orderLine(t, "conflict/y", "y-a"),
	}, "\n")+"\n")

	r := tr.enqueue(t, "bulk", "-f", file)
	wantExit(t, r, 2)
	got := oneJSON(t, r.stdout)
	if got["conflicts"] != float64(1) || got["enqueued"] != float64(0) {
		t.Fatalf("summary = %v; want 1 conflict found before the run, nothing enqueued", got)
	}
	if !strings.Contains(r.stderr, "line 2: idempotency_key: idempotency key \"conflict/x\"") || !strings.Contains(r.stderr, "nothing enqueued") {
		t.Fatalf("stderr = %q; want line 2 named", r.stderr)
	}
	if n := pendingTasks(t, tr); n != 1 {
		t.Fatalf("%d tasks queued, want only the first submit's", n)
	}

	r = tr.enqueue(t, "bulk", "-f", file, "--skip-invalid")
	wantExit(t, r, 0)
	got = oneJSON(t, r.stdout)
	if got["conflicts"] != float64(2) || got["enqueued"] != float64(2) || got["total"] != float64(4) {
		t.Fatalf("summary = %v; want 2 enqueued and 2 conflicts", got)
	}
	if n := pendingTasks(t, tr); n != 3 {
		t.Fatalf("%d tasks queued, want 3", n)
	}
}

func TestDLQReplayRebuyFlag(t *testing.T) {
	tr := newTestRedis(t)
	r := tr.enqueue(t, "dlq", "replay", "--help")
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "--rebuy") || !strings.Contains(r.stdout, "enqueue dlq replay --rebuy") {
		t.Fatalf("help does not show --rebuy with an example:\n%s", r.stdout)
	}
}
