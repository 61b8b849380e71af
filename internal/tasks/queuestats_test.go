package tasks

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"cphpurchase/internal/redisconn"
)

// queueStatsFixture is a QueueStats on the test's queue with a clock the test moves.
type queueStatsFixture struct {
	tr     *testRedis
	stats  *QueueStats
	reg    *prometheus.Registry
	client *asynq.Client
	clock  time.Time
}

func newQueueStatsFixture(t *testing.T) *queueStatsFixture {
	t.Helper()
	tr := newTestRedis(t)
	f := &queueStatsFixture{tr: tr, reg: prometheus.NewRegistry(), clock: time.Unix(1_800_000_000, 0)}
	f.client = asynq.NewClientFromRedisClient(tr.rdb)
	t.Cleanup(func() { _ = f.client.Close() })
	f.stats = NewQueueStats(QueueStatsConfig{
		Inspector: asynq.NewInspectorFromRedisClient(tr.rdb), DeadLetters: NewDeadLetters(tr.rdb, tr.keys),
		Queue: tr.queue, Every: 10 * time.Second, Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	f.stats.now = func() time.Time { return f.clock }
	f.reg.MustRegister(f.stats)
	return f
}

func (f *queueStatsFixture) enqueue(t *testing.T, n int) {
	t.Helper()
	for range n {
		if _, err := f.client.Enqueue(asynq.NewTask(TypePurchase, []byte(`{}`)), asynq.Queue(f.tr.queue)); err != nil {
			t.Fatal(err)
		}
	}
}

// values scrapes the registry and returns the samples of the queue metrics.
func (f *queueStatsFixture) values(t *testing.T) map[string]float64 {
	t.Helper()
	return sampleValues(t, f.reg)
}

func (f *queueStatsFixture) key(name string, state string) string {
	if state == "" {
		return fmt.Sprintf(`%s{queue="%s"}`, name, f.tr.queue)
	}
	return fmt.Sprintf(`%s{queue="%s",state="%s"}`, name, f.tr.queue, state)
}

func TestQueueStatsReadsOurQueueAndCachesBetweenReadings(t *testing.T) {
	f := newQueueStatsFixture(t)
	pending := f.key("cph_purchase_queue_tasks", "pending")

	// A queue that nothing was enqueued to yet is empty, not an error.
	v := f.values(t)
	if v[f.key("cph_purchase_queue_stats_up", "")] != 1 || v[pending] != 0 || v[f.key("cph_purchase_dead_letters", "")] != 0 {
		t.Fatalf("empty queue: %v", v)
	}
	if _, ok := v[pending]; !ok {
		t.Fatalf("empty queue exposes no pending count: %v", v)
	}

	f.clock = f.clock.Add(10 * time.Second)
	f.enqueue(t, 3)
	if got := f.values(t)[pending]; got != 3 {
		t.Fatalf("pending = %v, want 3", got)
	}

	// Within the interval every scrape is served from the reading: Redis is not asked again.
	f.enqueue(t, 2)
	dl := deadLetterOne(t, f.tr, "stats-1")
	for range 3 {
		f.clock = f.clock.Add(3 * time.Second)
		v := f.values(t)
		if v[pending] != 3 || v[f.key("cph_purchase_dead_letters", "")] != 0 {
			t.Fatalf("within the interval: pending %v, dead letters %v; want the cached 3 and 0",
				v[pending], v[f.key("cph_purchase_dead_letters", "")])
		}
	}

	f.clock = f.clock.Add(time.Second) // 10s after the last reading
	v = f.values(t)
	if v[pending] != 5 || v[f.key("cph_purchase_dead_letters", "")] != 1 {
		t.Fatalf("after the interval: pending %v, dead letters %v; want 5 and 1 (%s)",
			v[pending], v[f.key("cph_purchase_dead_letters", "")], dl)
	}
	for _, state := range []string{"active", "scheduled", "retry", "archived", "completed"} {
		if got, ok := v[f.key("cph_purchase_queue_tasks", state)]; !ok || got != 0 {
			t.Errorf("%s = %v (present %v), want 0", state, got, ok)
		}
	}
	if got := v[f.key("cph_purchase_queue_latency_seconds", "")]; got < 0 {
		t.Errorf("latency = %v", got)
	}
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// deadLetterOne records a dead letter for key the way the handler does, and returns its task id.
func deadLetterOne(t *testing.T, tr *testRedis, key string) string {
	t.Helper()
	ctx := context.Background()
	ledger := NewLedger(tr.rdb, tr.keys, 0)
	if _, err := ledger.Acquire(ctx, AcquireArgs{Hold: Hold{Key: key, Owner: "owner-1"}, TaskID: TaskID(key), Lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	dl := DeadLetter{TaskID: TaskID(key), IdempotencyKey: key, Queue: tr.queue, Class: ClassRejected,
		Error: &ResultError{Class: ClassRejected, Message: "test"}, FailedAt: time.Now()}
	if _, _, err := ledger.Fail(ctx, Failure{LedgerKey: key, Owner: "owner-1", Result: []byte(`{"status":"dead_lettered"}`), DeadLetter: dl}); err != nil {
		t.Fatal(err)
	}
	return dl.TaskID
}

// A reading that fails shows as queue_stats_up 0 with no stale numbers, and is cached like any
// other, so that scrapes do not pile onto a Redis that is down.
func TestQueueStatsRedisDown(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redisconn.NewClient(asynq.RedisClientOpt{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	s := NewQueueStats(QueueStatsConfig{
		Inspector: asynq.NewInspectorFromRedisClient(rdb), DeadLetters: NewDeadLetters(rdb, NewKeys("test:down")),
		Queue: "test-down", Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	clock := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return clock }
	const all = 10 // up, 6 states, latency, paused, dead letters
	down := "# HELP cph_purchase_queue_stats_up 1 when the last reading of the queue and dead letters from Redis succeeded; the other queue metrics are absent when it did not.\n" +
		"# TYPE cph_purchase_queue_stats_up gauge\n" +
		`cph_purchase_queue_stats_up{queue="test-down"} 0` + "\n"

	if n := testutil.CollectAndCount(s); n != all {
		t.Fatalf("Redis up: %d samples, want %d", n, all)
	}
	mr.Close()
	clock = clock.Add(DefaultQueueStatsEvery)
	if err := testutil.CollectAndCompare(s, strings.NewReader(down)); err != nil {
		t.Fatalf("Redis down: %v", err)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(DefaultQueueStatsEvery - time.Millisecond)
	if err := testutil.CollectAndCompare(s, strings.NewReader(down)); err != nil {
		t.Fatalf("Redis back, within the interval of the failed reading: %v", err)
	}
	clock = clock.Add(time.Millisecond)
	if n := testutil.CollectAndCount(s); n != all {
		t.Fatalf("Redis back, after the interval: %d samples, want %d", n, all)
	}
}
