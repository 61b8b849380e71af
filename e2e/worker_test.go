package e2e

import (
	"maps"
	"testing"
	"time"

	"cphpurchase/internal/testkit"
)

// testProject is the CPH project of every order in these tests.
const testProject = "0b1c000000000000000000000000e2e1"

// testToken is the static X-Auth-Token the workers send; the open simulators accept any.
const testToken = "e2e-static-token"

// workerEnv is the environment of a worker on tr and the simulator at simURL, with the short
// delays that keep a test fast; extra overrides or adds variables.
func workerEnv(tr *testRedis, simURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		"REDIS_URL":          tr.url,
		"CPH_ENDPOINT":       simURL,
		"CPH_TOKEN":          testToken,
		"CPH_PROJECT_ID":     testProject,
		"PURCHASE_QUEUE":     tr.queue,
		"RESULTS_STREAM":     tr.stream,
		"HTTP_ADDR":          "127.0.0.1:0",
		"RETRY_BASE_DELAY":   "100ms",
		"RETRY_MAX_DELAY":    "1s",
		"RECONCILE_GRACE":    "1s",
		"CPH_TIMEOUT":        "3s",
		"SHUTDOWN_TIMEOUT":   "5s",
		"WORKER_CONCURRENCY": "10",
		"CPH_RATE_LIMIT":     "50",
		"LOG_LEVEL":          "info",
	}
	maps.Copy(env, extra)
	return env
}

// startWorker starts a worker process with env and waits until it has started processing.
func startWorker(t testing.TB, ps *procs, name string, env map[string]string) *proc {
	t.Helper()
	w := ps.start(name, bin("worker"), nil, env)
	waitStarted(t, w)
	return w
}

// waitStarted waits for the worker's "worker started" log line; a worker that exits instead fails
// the test.
func waitStarted(t testing.TB, w *proc) {
	t.Helper()
	ok := testkit.Poll(60*time.Second, func() bool {
		_, started := w.logLine("worker started")
		return started || w.exited()
	})
	if !ok || w.exited() {
		w.dump()
		t.Fatalf("%s did not start", w.name)
	}
}
