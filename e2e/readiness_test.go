package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// TestReadinessSurvivesSIGKILL kills a worker while it follows a batch of bought orders, their
// servers still creating, and starts another: every order still ends ready, with exactly one
// readiness event, because the tracking lives in Redis as scheduled tasks, not in the process.
func TestReadinessSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64 // the simulator's clock, moved past the servers' create time by the test
	s := startSimInTest(t, cphsim.Options{
		CreateTime: time.Hour,
		Now:        func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	}, nil)
	tr := newTestRedis(t)
	t.Cleanup(func() { testkit.DeleteKeys(t, tr.rdb, tasks.TrackingQueue(tr.queue), tr.stream) })
	ps := newProcs(t)
	op := tr.operator(t, 3)
	env := workerEnv(tr, s.url, map[string]string{"READINESS_FIRST_CHECK": "200ms", "READINESS_MAX_INTERVAL": "500ms"})

	first := startWorker(t, ps, "worker-1", env)
	keys := []string{"e2e/ready/1", "e2e/ready/2", "e2e/ready/3", "e2e/ready/4"}
	if err := op.AddToBatch(context.Background(), "e2e-ready", keys); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		enqueue(t, op.Producer(), newOrder(k, "e2e-ready-"+string(rune('a'+i))))
	}
	store := op.Readiness()
	looked := func(state tasks.LifecycleState, looks int) bool {
		for _, k := range keys {
			r, _, err := store.Get(context.Background(), k)
			if err != nil || r.State != state || r.Checks < looks {
				return false
			}
		}
		return true
	}
	testkit.Eventually(t, "every order creating, looked at", func() bool { return looked(tasks.LifecycleCreating, 1) })
	first.kill()
	if _, ok := first.wait(10 * time.Second); !ok {
		t.Fatal("worker-1 survived SIGKILL")
	}
	skew.Store(int64(time.Hour))

	startWorker(t, ps, "worker-2", env)
	if !testkit.Poll(redeliveryWait, func() bool { return looked(tasks.LifecycleReady, 2) }) {
		t.Fatalf("the orders did not become ready within %s of the restart", redeliveryWait)
	}
	events, err := store.Events(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, e := range events {
		per[e.IdempotencyKey]++
	}
	for _, k := range keys {
		if per[k] != 1 {
			t.Errorf("%s: %d readiness events, want 1", k, per[k])
		}
	}
	rep, err := op.Batch(context.Background(), "e2e-ready")
	if err != nil || rep.Counts.Ready != len(keys) || rep.Counts.Total != len(keys) {
		t.Errorf("batch = %+v, %v; want all %d ready", rep.Counts, err, len(keys))
	}
}
