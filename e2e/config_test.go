package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"cphpurchase/internal/testkit"
)

// redisSecret is a Redis password that must never appear in anything the worker prints.
const redisSecret = "s3cret"

// TestWorkerConfigErrors starts the worker binary with broken configurations: it must refuse to
// start with exit code 2 and one line that names the variable to fix, without a stack trace and
// without a password.
func TestWorkerConfigErrors(t *testing.T) {
	t.Parallel()
	valid := map[string]string{
		"REDIS_URL":    "redis://127.0.0.1:1/0",
		"CPH_ENDPOINT": "http://127.0.0.1:1",
		"CPH_TOKEN":    testToken,
		"HTTP_ADDR":    "",
	}
	cases := []struct {
		name  string
		set   map[string]string
		unset []string
		want  string // the variable the message must name
	}{
		{name: "no REDIS_URL", unset: []string{"REDIS_URL"}, want: "REDIS_URL"},
		{name: "malformed CPH_RATE_LIMIT", set: map[string]string{"CPH_RATE_LIMIT": "abc"}, want: "CPH_RATE_LIMIT"},
		{name: "no credentials", unset: []string{"CPH_TOKEN"}, want: "CPH_TOKEN"},
		{name: "no endpoint, Redis password", set: map[string]string{"REDIS_URL": "redis://u:" + redisSecret + "@127.0.0.1:1/0"},
			unset: []string{"CPH_ENDPOINT"}, want: "CPH_ENDPOINT"},
		{name: "bad database, Redis password", set: map[string]string{"REDIS_URL": "redis://u:" + redisSecret + "@127.0.0.1:1/zero"}, want: "REDIS_URL"},
		{name: "bad scheme, Redis password", set: map[string]string{"REDIS_URL": "http://u:" + redisSecret + "@127.0.0.1:1/0"}, want: "REDIS_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range valid {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			for _, k := range tc.unset {
				delete(env, k)
			}
			w := newProcs(t).start("worker", bin("worker"), nil, env)
			code, ok := w.wait(30 * time.Second)
			if !ok {
				t.Fatal("the worker started instead of refusing its configuration")
			}
			stderr := w.readStderr()
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "worker: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit code %d, stderr:\n%s\nwant exit code 2 and one line naming %s", code, stderr, tc.want)
			}
			checkNoLeak(t, stderr+w.readStdout())
		})
	}
}

// TestWorkerNeverPrintsTheRedisPassword runs a worker whose Redis, password and all, cannot be
// reached: it keeps trying and logs why, at debug level, and then stops on SIGTERM. Nothing it
// printed may hold the password.
func TestWorkerNeverPrintsTheRedisPassword(t *testing.T) {
	t.Parallel()
	w := newProcs(t).start("worker", bin("worker"), nil, map[string]string{
		"REDIS_URL":    "redis://u:" + redisSecret + "@127.0.0.1:1/0",
		"CPH_ENDPOINT": "http://127.0.0.1:1",
		"CPH_TOKEN":    testToken,
		"HTTP_ADDR":    "127.0.0.1:0",
		"LOG_LEVEL":    "debug",
	})
	// Wait for the worker to have said why Redis is unreachable, and for asynq to have tried.
	if !testkit.Poll(60*time.Second, func() bool {
		_, warned := w.logLine("Redis is not reachable yet; the worker keeps trying and is not ready until it is")
		return w.exited() || warned && strings.Count(w.readStderr(), "127.0.0.1:1") >= 3
	}) || w.exited() {
		w.dump()
		t.Fatal("the worker did not start and report the unreachable Redis")
	}
	w.signal(syscall.SIGTERM)
	if code, ok := w.wait(30 * time.Second); !ok || code != 0 {
		t.Errorf("after SIGTERM: exit code %d, exited %v; want 0", code, ok)
	}
	checkNoLeak(t, w.readStderr()+w.readStdout())
}

// checkNoLeak fails the test when out holds the Redis password or a Go stack trace.
func checkNoLeak(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, redisSecret) {
		t.Errorf("the output holds the Redis password:\n%s", out)
	}
	for _, trace := range []string{"goroutine ", "panic:", " +0x"} {
		if strings.Contains(out, trace) {
			t.Errorf("the output holds a stack trace (%q):\n%s", trace, out)
		}
	}
}
