package tasks

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/testkit"
)

// testRedis is a Redis for one test (testkit.NewRedis: the real one when REDIS_URL is set (CI), an
// in-process miniredis otherwise). On a shared real Redis each test works in its own queue and
// results stream and deletes only what it made.
type testRedis struct {
	opt    asynq.RedisConnOpt
	rdb    redis.UniversalClient
	queue  string
	stream string
	keys   Keys
	mini   *miniredis.Miniredis // nil on real Redis
}

func newTestRedis(t testing.TB) *testRedis { return newTestRedisOn(t, nil) }

// newTestRedisOn is newTestRedis on the Redis that opt names; nil means REDIS_URL or miniredis.
func newTestRedisOn(t testing.TB, opt asynq.RedisConnOpt) *testRedis {
	t.Helper()
	var r *testkit.Redis
	if opt != nil {
		r = testkit.RedisOn(t, opt)
	} else {
		r = testkit.NewRedis(t)
	}
	id := testkit.RandomID()
	tr := &testRedis{opt: r.Opt, rdb: r.Client, mini: r.Mini, queue: "test-" + id, stream: "test:" + id + ":results"}
	tr.keys = NewKeys(tr.stream)
	t.Cleanup(func() { testkit.DeleteKeys(t, tr.rdb, tr.queue, tr.stream) })
	return tr
}
