package e2e

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// testRedis is the Redis of one test and the names the test's processes use in it: the machine's
// Redis when REDIS_URL is set (CI), a miniredis in the test process otherwise, which the worker
// processes reach over TCP on loopback. On a shared Redis each test has its own queue and results
// stream and deletes only the keys of those.
type testRedis struct {
	url    string // what the processes get as REDIS_URL
	rdb    redis.UniversalClient
	queue  string
	stream string
	keys   tasks.Keys
	mini   *miniredis.Miniredis // nil on a real Redis
}

func newTestRedis(t testing.TB) *testRedis {
	t.Helper()
	r := testkit.NewRedis(t)
	if r.Mini != nil {
		advanceMiniredis(t, r.Mini)
	}
	return newTestRedisOf(t, r, r.Mini == nil)
}

// newTestRedisAt is the test's Redis at url, its own (not shared with other tests).
func newTestRedisAt(t testing.TB, url string) *testRedis {
	t.Helper()
	return newTestRedisOf(t, testkit.RedisAt(t, url), false)
}

// newTestRedisOf names the test's queue and stream in r. On a shared Redis the test's keys are
// deleted when it ends; a Redis of the test's own goes away with it.
func newTestRedisOf(t testing.TB, r *testkit.Redis, shared bool) *testRedis {
	id := testkit.RandomID()
	tr := &testRedis{url: r.URL, rdb: r.Client, mini: r.Mini, queue: "e2e-" + id, stream: "e2e:" + id + ":results"}
	tr.keys = tasks.NewKeys(tr.stream)
	if shared {
		t.Cleanup(func() { testkit.DeleteKeys(t, tr.rdb, tr.queue, tr.stream) })
	}
	return tr
}

// advanceMiniredis moves miniredis's key-expiry clock with real time until the test ends:
// miniredis expires keys only when told that time has passed, and asynq's server records and our
// rate limiter's key carry TTLs.
func advanceMiniredis(t testing.TB, m *miniredis.Miniredis) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// operator is the operator facade on the test's Redis, queue and stream, with maxRetry as the
// budget of what it enqueues and replays. It shares the test's Redis client, so nobody closes it.
func (tr *testRedis) operator(t testing.TB, maxRetry int) *tasks.Operator {
	op, err := tasks.NewOperator(tr.rdb, tasks.OperatorConfig{Queue: tr.queue, ResultsStream: tr.stream, MaxRetry: maxRetry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Client().Close() })
	return op
}
