package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

func TestMain(m *testing.M) {
	quietRedis()
	os.Exit(m.Run())
}

// testRedis is a Redis for one test, as in internal/tasks: the real one when REDIS_URL is set
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
	tr := &testRedis{url: os.Getenv("REDIS_URL")}
	if tr.url == "" {
		tr.url = "redis://" + miniredis.RunT(t).Addr()
	}
	opt, err := redisconn.ParseURL(tr.url)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	tr.rdb = redisconn.NewClient(opt)
	if err := tr.rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	id := randomID()
	tr.queue = "test-" + id
	tr.stream = "test:" + id + ":results"
	op, err := tasks.NewOperator(tr.rdb, tasks.OperatorConfig{Queue: tr.queue, ResultsStream: tr.stream, MaxRetry: defaultMaxRetry})
	if err != nil {
		t.Fatal(err)
	}
	tr.ledger, tr.dls, tr.insp = op.Ledger(), op.DeadLetters(), op.Inspector()
	t.Cleanup(func() {
		tr.cleanup(t)
		_ = tr.rdb.Close()
	})
	return tr
}

// cleanup deletes this test's keys: its own and asynq's for its queue.
func (tr *testRedis) cleanup(t testing.TB) {
	ctx := context.Background()
	for _, pattern := range []string{"{" + tr.stream + "}*", tr.stream, "asynq:{" + tr.queue + "}*"} {
		iter := tr.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			tr.rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("cleanup %s: %v", pattern, err)
		}
	}
	tr.rdb.SRem(ctx, "asynq:queues", tr.queue)
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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

// eventually polls cond until it holds, failing after a generous deadline: CI is a slow, shared
// machine, and no test may depend on how fast it is.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer that a running command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
