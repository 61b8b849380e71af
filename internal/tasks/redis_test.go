package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/redisconn"
)

// testRedis is a Redis for one test: the real one when REDIS_URL is set (CI), an in-process
// miniredis otherwise, so that `make test` passes on a machine with nothing but Go. On a shared
// real Redis each test works in its own queue and results stream and deletes only what it made.
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
	tr := &testRedis{opt: opt}
	switch url := os.Getenv("REDIS_URL"); {
	case opt != nil:
	case url != "":
		opt, err := redisconn.ParseURL(url)
		if err != nil {
			t.Fatalf("REDIS_URL: %v", err)
		}
		tr.opt = opt
	default:
		tr.mini = miniredis.RunT(t)
		tr.opt = asynq.RedisClientOpt{Addr: tr.mini.Addr()}
	}
	tr.rdb = redisconn.NewClient(tr.opt)
	if err := tr.rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	id := randomID()
	tr.queue = "test-" + id
	tr.stream = "test:" + id + ":results"
	tr.keys = NewKeys(tr.stream)
	t.Cleanup(func() {
		tr.cleanup(t)
		_ = tr.rdb.Close()
	})
	return tr
}

// cleanup deletes this test's keys: its own and asynq's for its queue, on every master of a
// Redis Cluster.
func (tr *testRedis) cleanup(t testing.TB) {
	ctx := context.Background()
	scanDel := func(ctx context.Context, node *redis.Client) error {
		// redis_rate prefixes its keys with "rate:".
		for _, pattern := range []string{"{" + tr.stream + "}*", "rate:{" + tr.stream + "}*", tr.stream, "asynq:{" + tr.queue + "}*"} {
			iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
			for iter.Next(ctx) {
				node.Del(ctx, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Logf("cleanup %s: %v", pattern, err)
			}
		}
		return nil
	}
	switch c := tr.rdb.(type) {
	case *redis.ClusterClient:
		_ = c.ForEachMaster(ctx, scanDel)
	case *redis.Client:
		_ = scanDel(ctx, c)
	}
	tr.rdb.SRem(ctx, "asynq:queues", tr.queue)
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
