package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

func TestMain(m *testing.M) {
	quietRedis()
	os.Exit(m.Run())
}

// testRedis is a Redis for one test (testkit.NewRedis): the real one when REDIS_URL is set
// (CI), an in-process miniredis otherwise. On a shared real Redis each test works in its own queue
// and results stream, passed to the CLI as flags, and deletes only what it made.
type testRedis struct {
	url    string
	rdb    redis.UniversalClient
	insp   *asynq.Inspector
	queue  string
	stream string
	ledger *tasks.Ledger
	dls    *tasks.DeadLetters
}

func newTestRedis(t testing.TB) *testRedis {
	t.Helper()
	r := testkit.NewRedis(t)
	id := testkit.RandomID()
	tr := &testRedis{url: r.URL, rdb: r.Client, queue: "test-" + id, stream: "test:" + id + ":results"}
	op, err := tasks.NewOperator(tr.rdb, tasks.OperatorConfig{Queue: tr.queue, ResultsStream: tr.stream, MaxRetry: defaultMaxRetry})
	if err != nil {
		t.Fatal(err)
	}
	tr.ledger, tr.dls, tr.insp = op.Ledger(), op.DeadLetters(), op.Inspector()
	t.Cleanup(func() { testkit.DeleteKeys(t, tr.rdb, tr.queue, tr.stream) })
	return tr
}

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

// enqueue runs the CLI against tr (nil: no Redis flags) with args, as main would.
func (tr *testRedis) enqueue(t *testing.T, args ...string) result {
	t.Helper()
	return tr.enqueueCtx(context.Background(), t, "", args...)
}

// enqueueCtx runs the CLI with ctx and stdin.
func (tr *testRedis) enqueueCtx(ctx context.Context, t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, tr.args(args), strings.NewReader(stdin), &stdout, &stderr)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("enqueue %s\n-> exit %d\nstdout: %sstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// args prefixes args with the flags that point the CLI at this test's Redis, queue and stream.
func (tr *testRedis) args(args []string) []string {
	if tr == nil {
		return args
	}
	return append([]string{"--redis-url", tr.url, "--queue", tr.queue, "--results-stream", tr.stream}, args...)
}

// jsonLines decodes stdout, one JSON object a line.
func jsonLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line is not a JSON object: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// oneJSON decodes stdout as exactly one JSON object.
func oneJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	ls := jsonLines(t, stdout)
	if len(ls) != 1 {
		t.Fatalf("stdout has %d JSON lines, want 1: %q", len(ls), stdout)
	}
	return ls[0]
}

// stderrLines returns stderr's lines, checking what every error line must be: prefixed, no
// stack trace, no usage dump.
func stderrLines(t *testing.T, stderr string) []string {
	t.Helper()
	if stderr == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "enqueue: ") || strings.Contains(l, "goroutine ") || strings.HasPrefix(l, "Usage:") {
			t.Errorf("stderr line %q: want \"enqueue: …\", no stack trace, no usage", l)
		}
	}
	return lines
}

// wantExit checks the exit code.
func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, code, r.stderr)
	}
}
