package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cphpurchase/internal/buildinfo"
	"cphpurchase/internal/tasks"
)

// onTerminal runs the CLI against tr as if stdin and stdout were a terminal, stdin holding input.
func (tr *testRedis) onTerminal(t *testing.T, input string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(input), stdout: &stdout, stderr: &stderr, getenv: os.Getenv,
		terminal: func(any) bool { return true }}
	code := a.execute(context.Background(), tr.args(args))
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("enqueue %s (on a terminal)\n-> exit %d\nstdout: %sstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// -o: JSON lines when stdout is no terminal (scripts keep what they had), a table on a terminal,
// either when asked; anything else is a usage error.
func TestOutputFormats(t *testing.T) {
	tr := newTestRedis(t)
	id := deadLetter(t, tr, "out-dl", tasks.ClassRejected)
	succeed(t, tr, "out-ok")
	cases := []struct {
		name     string
		terminal bool
		args     []string
		table    []string // words of the table's header and rows; nil: JSON lines
	}{
		{"dlq list piped", false, []string{"dlq", "list"}, nil},
		{"dlq list on a terminal", true, []string{"dlq", "list"}, []string{"TASK ID", "IDEMPOTENCY KEY", "CLASS", id, "out-dl", "rejected", "failed as rejected"}},
		{"dlq list -o table piped", false, []string{"dlq", "list", "-o", "table"}, []string{"TASK ID", id}},
		{"dlq list -o json on a terminal", true, []string{"dlq", "list", "-o", "json"}, nil},
		{"results on a terminal", true, []string{"results"}, []string{"ID", "STATUS", "out-ok", "succeeded", "out-dl", "dead_lettered"}},
		{"results piped", false, []string{"results"}, nil},
		{"status on a terminal", true, []string{"status", "out-dl"}, []string{"FIELD", "VALUE", "task_id", id, "dead_letter", "rejected"}},
		{"status -o json on a terminal", true, []string{"status", "out-dl", "-o", "json"}, nil},
		{"queue stats on a terminal", true, []string{"queue", "stats"}, []string{"FIELD", "paused", "no", "dead_letters"}},
		{"queue stats piped", false, []string{"queue", "stats"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r result
			if c.terminal {
				r = tr.onTerminal(t, "", c.args...)
			} else {
				r = tr.enqueue(t, c.args...)
			}
			wantExit(t, r, 0)
			if c.table == nil {
				if len(jsonLines(t, r.stdout)) == 0 {
					t.Fatal("no JSON lines")
				}
				return
			}
			if strings.HasPrefix(r.stdout, "{") {
				t.Fatalf("JSON, want a table:\n%s", r.stdout)
			}
			for _, w := range c.table {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("the table lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
	r := tr.enqueue(t, "dlq", "list", "-o", "yaml")
	wantExit(t, r, 2)
	if !strings.Contains(r.stderr, `-o must be json or table, got "yaml"`) {
		t.Errorf("stderr = %q", r.stderr)
	}
}

// queue stats, pause and resume act on asynq's pause through the operator, and say what they did.
func TestQueueCommands(t *testing.T) {
	tr := newTestRedis(t)
	deadLetter(t, tr, "q-dl", tasks.ClassInvalid)
	wantExit(t, tr.enqueue(t, "submit", "-f", "testdata/order.json", "--key", "q-pending"), 0)

	stats := func() map[string]any {
		t.Helper()
		r := tr.enqueue(t, "queue", "stats")
		wantExit(t, r, 0)
		return oneJSON(t, r.stdout)
	}
	s := stats()
	if s["queue"] != tr.queue || s["paused"] != false || s["pending"] != 1.0 || s["dead_letters"] != 1.0 {
		t.Fatalf("stats = %v", s)
	}
	for _, step := range []struct {
		cmd    string
		paused bool
	}{{"pause", true}, {"pause", true}, {"resume", false}, {"resume", false}} {
		r := tr.enqueue(t, "queue", step.cmd)
		wantExit(t, r, 0)
		if got := oneJSON(t, r.stdout); got["paused"] != step.paused || got["queue"] != tr.queue {
			t.Fatalf("queue %s printed %v, want paused %v", step.cmd, got, step.paused)
		}
		if s := stats(); s["paused"] != step.paused {
			t.Fatalf("after queue %s, stats say paused %v", step.cmd, s["paused"])
		}
	}
	wantExit(t, tr.enqueue(t, "queue", "purge"), 2)
}

// dlq delete --all asks on a terminal, saying how many; without a terminal it needs --yes.
func TestDLQDeleteAllConfirms(t *testing.T) {
	tr := newTestRedis(t)
	deadLetter(t, tr, "del-1", tasks.ClassInvalid)
	deadLetter(t, tr, "del-2", tasks.ClassInvalid)
	deadLetter(t, tr, "del-3", tasks.ClassRejected)
	left := func() int {
		t.Helper()
		return len(jsonLines(t, tr.enqueue(t, "dlq", "list").stdout))
	}

	r := tr.enqueue(t, "dlq", "delete", "--all")
	wantExit(t, r, 2)
	if !strings.Contains(r.stderr, "pass --yes to confirm") || left() != 3 {
		t.Fatalf("without a terminal and --yes: stderr %q, %d left; want a pointer to --yes and nothing deleted", r.stderr, left())
	}

	r = tr.onTerminal(t, "n\n", "dlq", "delete", "--all", "--class", "invalid")
	wantExit(t, r, 1)
	if !strings.Contains(r.stderr, "Delete 2 dead letters of class invalid?") || !strings.Contains(r.stderr, "not confirmed") || left() != 3 {
		t.Fatalf("answered no: stderr %q, %d left; want the question and nothing deleted", r.stderr, left())
	}

	r = tr.onTerminal(t, "y\n", "dlq", "delete", "--all", "--class", "invalid")
	wantExit(t, r, 0)
	if len(jsonLines(t, r.stdout)) != 2 || left() != 1 {
		t.Fatalf("answered yes: %s, %d left; want 2 deleted", r.stdout, left())
	}

	r = tr.enqueue(t, "dlq", "delete", "--all", "--yes")
	wantExit(t, r, 0)
	if len(jsonLines(t, r.stdout)) != 1 || left() != 0 {
		t.Fatalf("--yes: %s, %d left; want the last one deleted", r.stdout, left())
	}
	// Ids need no confirmation: they name what goes.
	wantExit(t, tr.enqueue(t, "dlq", "delete", "no-such-key"), 1)
}

// An empty file is nothing to enqueue or validate: exit 2, saying so, not 0 with "total": 0.
func TestEmptyFileIsNothingToEnqueue(t *testing.T) {
	tr := newTestRedis(t)
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(empty, []byte("\n  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"bulk", "validate"} {
		r := tr.enqueue(t, cmd, "-f", empty)
		wantExit(t, r, 2)
		if !strings.Contains(r.stderr, "has no orders (it is empty, or blank lines only): nothing to") {
			t.Errorf("%s: stderr %q", cmd, r.stderr)
		}
		if sum := oneJSON(t, r.stdout); sum["total"] != 0.0 {
			t.Errorf("%s: summary %v", cmd, sum)
		}
	}
	r := tr.enqueueCtx(context.Background(), t, "", "bulk", "-f", "-")
	wantExit(t, r, 2)
}

// A database the Redis does not have is bad input (2), like a malformed URL, not an outage (1).
func TestRedisDatabaseOutOfRangeIsBadInput(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if !strings.HasPrefix(url, "redis://") {
		t.Skip("needs a real single Redis (REDIS_URL): miniredis has any number of databases")
	}
	host := strings.TrimPrefix(url, "redis://")
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	r := (*testRedis)(nil).enqueue(t, "--redis-url", "redis://"+host+"/99", "queue", "stats")
	wantExit(t, r, 2)
	if !strings.Contains(r.stderr, "REDIS_URL names a database this Redis does not have") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

// validate reports type errors, unknown fields and missing fields of one order together.
func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	f := filepath.Join(t.TempDir(), "order.json")
	doc := `{"project_id": "p", "request": {"server_name": "web", "count": "2", "colour": "red"}}`
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	r := (*testRedis)(nil).enqueue(t, "validate", "-f", f)
	wantExit(t, r, 2)
	for _, w := range []string{
		f + ": request.count: must be an integer, got string",
		f + ": request.colour: unknown field",
		f + ": request.image_id: is required",
		f + ": request.extend_param: is required",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q", w)
		}
	}
	if strings.Contains(r.stderr, "request.count: is required") {
		t.Error("count is reported missing besides its type")
	}
}

// version and --version print the build, and need no Redis nor valid settings.
func TestVersion(t *testing.T) {
	t.Setenv("MAX_RETRY", "not-a-number")
	want := "enqueue version " + buildinfo.Read().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := (*testRedis)(nil).enqueue(t, args...)
		wantExit(t, r, 0)
		if r.stdout != want {
			t.Errorf("%v printed %q, want %q", args, r.stdout, want)
		}
	}
}
