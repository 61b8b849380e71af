package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/strictjson"
)

func newTestProducer(t *testing.T, tr *testRedis) *Producer {
	t.Helper()
	client := asynq.NewClientFromRedisClient(tr.rdb)
	t.Cleanup(func() { _ = client.Close() })
	return NewProducer(ProducerConfig{Client: client, Ledger: NewLedger(tr.rdb, tr.keys, 0), Queue: tr.queue, MaxRetry: 3})
}

// TestEnqueueManyReportsAsEnqueueDoes runs the same orders against the same state one by one and
// in bulk, across several ledger batches: keys the ledger knows, a key whose task is still queued,
// and keys repeated within the run are duplicates either way, and everything else is enqueued once.
func TestEnqueueManyReportsAsEnqueueDoes(t *testing.T) {
	n := 2*enqueueBatch + 37
	orders := make([]*Order, n)
	for i := range orders {
		orders[i] = order(fmt.Sprintf("many-%d", i))
	}
	repeats := map[int]int{n: 5, n + 1: enqueueBatch + 1} // index of the repeat → index of the first
	repeated := map[int]bool{5: true, enqueueBatch + 1: true}
	orders = append(orders, order("many-5"), order(fmt.Sprintf("many-%d", enqueueBatch+1)))
	inLedger := []int{3, enqueueBatch + 10}
	queued := 7

	run := func(bulk bool) []EnqueueResult {
		tr := newTestRedis(t)
		p := newTestProducer(t, tr)
		ctx := context.Background()
		for _, i := range inLedger {
			if _, _, _, err := p.cfg.Ledger.Succeed(ctx, Success{Hold: Hold{Key: orders[i].Key()}, OrderID: orders[i].Key(), Result: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		if r, err := p.Enqueue(ctx, orders[queued]); err != nil || r.Status != EnqueueEnqueued {
			t.Fatalf("enqueue before the run: %+v, %v", r, err)
		}
		var results []EnqueueResult
		var progress atomic.Int64
		if bulk {
			var err error
			results, err = p.EnqueueMany(ctx, orders, 8, func() { progress.Add(1) })
			if err != nil {
				t.Fatal(err)
			}
		} else {
			for _, o := range orders {
				r, err := p.Enqueue(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				results = append(results, r)
				progress.Add(1)
			}
		}
		info, err := asynq.NewInspectorFromRedisClient(tr.rdb).GetQueueInfo(tr.queue)
		if err != nil {
			t.Fatal(err)
		}
		enqueued := 0
		for _, r := range results {
			if r.Status == EnqueueEnqueued {
				enqueued++
			}
		}
		if info.Pending != enqueued+1 {
			t.Errorf("bulk %v: queue holds %d tasks, want %d enqueued now and 1 before", bulk, info.Pending, enqueued)
		}
		if progress.Load() != int64(len(orders)) {
			t.Errorf("bulk %v: progress called %d times, want %d", bulk, progress.Load(), len(orders))
		}
		return results
	}
	one, many := run(false), run(true)

	wantDup := map[int]bool{queued: true}
	for _, i := range inLedger {
		wantDup[i] = true
	}
	for i := range orders {
		if many[i].TaskID != one[i].TaskID || many[i].IdempotencyKey != one[i].IdempotencyKey || many[i].Queue == "" {
			t.Errorf("order %d: bulk %+v, one by one %+v", i, many[i], one[i])
		}
		if first, ok := repeats[i]; ok {
			// Within one run either copy may go first; exactly one of them is enqueued.
			if (many[i].Status == EnqueueEnqueued) == (many[first].Status == EnqueueEnqueued) {
				t.Errorf("orders %d and %d share a key: bulk %s and %s, want one enqueued and one duplicate", first, i, many[first].Status, many[i].Status)
			}
			continue
		}
		if repeated[i] {
			continue // checked with its repeat
		}
		want := EnqueueEnqueued
		if wantDup[i] {
			want = EnqueueDuplicate
		}
		if many[i].Status != want || one[i].Status != want {
			t.Errorf("order %d: bulk %s, one by one %s, want %s", i, many[i].Status, one[i].Status, want)
		}
	}
}

func TestEnqueueManyStopsAtAnInvalidOrder(t *testing.T) {
	tr := newTestRedis(t)
	p := newTestProducer(t, tr)
	orders := make([]*Order, enqueueBatch+50)
	for i := range orders {
		orders[i] = order(fmt.Sprintf("invalid-run-%d", i))
	}
	bad := enqueueBatch + 20
	eleven := 11
	orders[bad].Request.Count = &eleven
	results, err := p.EnqueueMany(context.Background(), orders, 4, nil)
	var fields strictjson.FieldErrors
	if !errors.As(err, &fields) || !strings.Contains(err.Error(), fmt.Sprintf("order %d:", bad+1)) {
		t.Fatalf("err = %v, want the field errors of order %d", err, bad+1)
	}
	for i, r := range results[enqueueBatch:] {
		if r.Status != "" {
			t.Errorf("order %d of the invalid order's batch: %+v, want nothing enqueued", enqueueBatch+i, r)
		}
	}
}
