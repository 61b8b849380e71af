package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
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
	if url := os.Getenv("REDIS_URL"); url != "" {
		return newTestRedisAt(t, url, true)
	}
	m := miniredis.RunT(t)
	advanceMiniredis(t, m)
	tr := newTestRedisAt(t, "redis://"+m.Addr()+"/0", false)
	tr.mini = m
	return tr
}

// newTestRedisAt is the test's Redis at url. On a shared one the test's keys are deleted when it
// ends; a Redis of the test's own goes away with it.
func newTestRedisAt(t testing.TB, url string, shared bool) *testRedis {
	t.Helper()
	tr := &testRedis{url: url}
	opt, err := redisconn.ParseURL(tr.url)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	tr.rdb = redisconn.NewClient(opt)
	if err := tr.rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	id := randomID()
	tr.queue = "e2e-" + id
	tr.stream = "e2e:" + id + ":results"
	tr.keys = tasks.NewKeys(tr.stream)
	t.Cleanup(func() {
		if shared {
			deleteKeys(t, tr.rdb, tr.queue, tr.stream)
		}
		_ = tr.rdb.Close()
	})
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

// deleteKeys deletes a test's keys on a shared Redis: ours (hash-tagged by the stream) and asynq's
// for its queue.
func deleteKeys(t testing.TB, rdb redis.UniversalClient, queue, stream string) {
	ctx := context.Background()
	for _, pattern := range []string{"{" + stream + "}*", stream, "asynq:{" + queue + "}*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("cleanup %s: %v", pattern, err)
		}
	}
	rdb.SRem(ctx, "asynq:queues", queue)
}

// producer returns a producer and an inspector on the test's queue, closed with the test.
func (tr *testRedis) producer(t testing.TB, maxRetry int) (*tasks.Producer, *asynq.Inspector) {
	client := asynq.NewClientFromRedisClient(tr.rdb)
	insp := asynq.NewInspectorFromRedisClient(tr.rdb)
	t.Cleanup(func() { _ = client.Close() })
	p := tasks.NewProducer(tasks.ProducerConfig{
		Client: client, Ledger: tasks.NewLedger(tr.rdb, tr.keys, 0), Queue: tr.queue, MaxRetry: maxRetry,
	})
	return p, insp
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
