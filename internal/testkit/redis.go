package testkit

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/redisconn"
)

// Redis is a Redis for one test: the machine's when REDIS_URL is set (CI), an in-process miniredis
// otherwise, so that the tests pass on a machine with nothing but Go. The names a test uses in it
// (queue, results stream) and what it deletes are the test package's own: see DeleteKeys.
type Redis struct {
	// URL names the Redis for a CLI or a worker process: REDIS_URL as set, or the miniredis's
	// redis://127.0.0.1:port/0. Empty for a Redis made by RedisOn.
	URL    string
	Opt    asynq.RedisConnOpt
	Client redis.UniversalClient // pinged; closed when the test ends
	// Mini is the test's own miniredis, nil on REDIS_URL or another Redis.
	Mini *miniredis.Miniredis
}

// NewRedis is the Redis of the test t: REDIS_URL or a miniredis, which goes away with the test.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return RedisAt(t, url)
	}
	m := miniredis.RunT(t)
	r := RedisAt(t, "redis://"+m.Addr()+"/0")
	r.Mini = m
	return r
}

// RedisAt is the Redis at url (as in REDIS_URL), for the test t.
func RedisAt(t testing.TB, url string) *Redis {
	t.Helper()
	opt, err := redisconn.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	r := RedisOn(t, opt)
	r.URL = url
	return r
}

// RedisOn is the Redis that opt names, for the test t.
func RedisOn(t testing.TB, opt asynq.RedisConnOpt) *Redis {
	t.Helper()
	r := &Redis{Opt: opt, Client: redisconn.NewClient(opt)}
	t.Cleanup(func() { _ = r.Client.Close() })
	if err := r.Client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	return r
}

// DeleteKeys deletes the keys of a test that worked in its own queue and results stream on a
// shared Redis, and only those: ours (hash-tagged by the stream, and redis_rate's "rate:"-prefixed
// ones), the stream, and asynq's for the queue and the queues named after it (queue-…, as the
// readiness queue); on every master of a Redis Cluster.
func DeleteKeys(t testing.TB, rdb redis.UniversalClient, queue, stream string) {
	ctx := context.Background()
	scanDel := func(ctx context.Context, node *redis.Client) error {
		for _, pattern := range []string{"{" + stream + "}*", "rate:{" + stream + "}*", stream, "asynq:{" + queue + "}*", "asynq:{" + queue + "-*"} {
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
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		_ = c.ForEachMaster(ctx, scanDel)
	case *redis.Client:
		_ = scanDel(ctx, c)
	}
	queues, _ := rdb.SMembers(ctx, "asynq:queues").Result()
	for _, q := range queues {
		if q == queue || strings.HasPrefix(q, queue+"-") {
			rdb.SRem(ctx, "asynq:queues", q)
		}
	}
}
