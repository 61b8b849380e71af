package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/redisconn"
)

// TestTinyRun runs every row at tiny sizes on the real Redis: a smoke test of the harness — each
// row measured, every order bought exactly once (the rows check it), the table printed, Redis
// cleaned up — and not of the figures, which at these sizes, under the race detector, on a shared
// machine mean nothing. It needs REDIS_URL (as CI sets it) and builds cmd/worker.
func TestTinyRun(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("the benchmark needs a real Redis: set REDIS_URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := BuildWorker(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	rep, err := Run(ctx, Config{RedisURL: url, WorkerBin: bin, Log: &log, Sizes: Sizes{
		ThroughputOrders: 200, ThroughputConcurrency: 8,
		BulkOrders: 400, BulkConcurrency: 8, BulkSample: 100,
		LatencyOrders: 5, LatencyRate: 20,
		CeilingOrders: 100, CeilingConcurrency: 10, CeilingLatency: 20 * time.Millisecond,
		FleetOrders: 20, FleetWorkers: 2, FleetRateLimit: 20,
		MemoryOrders: 400, MemoryConcurrency: 10,
	}})
	t.Logf("progress:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 6 {
		t.Fatalf("%d rows, want 6", len(rep.Rows))
	}
	for i, row := range rep.Rows {
		if row.Number != i+1 || row.Name == "" || row.Measured == "" || row.Target == "" {
			t.Errorf("row %d = %+v, want number %d with a name, a measurement and a target", i, row, i+1)
		}
	}

	var md bytes.Buffer
	rep.Markdown(&md)
	t.Logf("table:\n%s", md.String())
	for _, want := range []string{"| # | Row | Measured | Target | Result |", "| 1 | ", "| 6 | ", "Redis "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}

	// Everything the run made is gone: asynq's queues and our streams and keys.
	opt, err := redisconn.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisconn.NewClient(opt)
	defer rdb.Close()
	for _, pattern := range []string{fmt.Sprintf("*bench-%s-*", rep.RunID), fmt.Sprintf("*bench:%s:*", rep.RunID)} {
		keys, _, err := rdb.Scan(ctx, 0, pattern, 1_000_000).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			t.Errorf("left behind: %d keys like %s, e.g. %s", len(keys), pattern, keys[0])
		}
	}
	if queues, err := rdb.SMembers(ctx, "asynq:queues").Result(); err == nil {
		for _, q := range queues {
			if strings.HasPrefix(q, "bench-"+rep.RunID) {
				t.Errorf("queue %s still registered", q)
			}
		}
	}
}
