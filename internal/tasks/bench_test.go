package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// The hot pieces of the pipeline, one order at a time. `make bench` runs these next to cphbench,
// whose rows measure the pipeline as a whole. On miniredis (REDIS_URL unset) the Redis figures
// measure miniredis, not Redis.

// BenchmarkDecodeOrderValidate is what a worker spends on a payload before any Redis or HTTP call,
// and what a producer spends validating an order.
func BenchmarkDecodeOrderValidate(b *testing.B) {
	payload, err := json.Marshal(order("bench-decode"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		o, err := DecodeOrder(payload)
		if err != nil {
			b.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLedger is the ledger's Redis round trips for one order: taking the key, and recording
// the success with its results-stream entry; "order" is the whole happy path, posting mark included.
func BenchmarkLedger(b *testing.B) {
	tr := newTestRedis(b)
	l := NewLedger(tr.rdb, tr.keys, 0)
	ctx := context.Background()
	result := []byte(`{"status":"succeeded","order_id":"CS2611251800ABCDE"}`)
	b.Run("Acquire", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if c, err := l.Acquire(ctx, AcquireArgs{Hold: testHold(fmt.Sprint("acquire-", i), "owner"), TaskID: "task", Lease: time.Minute}); err != nil || c.State != ClaimAcquired {
				b.Fatalf("acquire: %+v, %v", c, err)
			}
		}
	})
	b.Run("Succeed", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, first, _, err := l.Succeed(ctx, Success{Hold: testHold(fmt.Sprint("succeed-", i), "owner"), OrderID: fmt.Sprint("succeed-", i), Result: result}); err != nil || !first {
				b.Fatalf("succeed: %v, %v", first, err)
			}
		}
	})
	b.Run("order", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			h := testHold(fmt.Sprint("order-", i), "owner")
			if c, err := l.Acquire(ctx, AcquireArgs{Hold: h, TaskID: "task", Lease: time.Minute}); err != nil || c.State != ClaimAcquired {
				b.Fatalf("acquire: %+v, %v", c, err)
			}
			if _, err := l.MarkPosting(ctx, h, testPosting); err != nil {
				b.Fatal(err)
			}
			if _, _, _, err := l.Succeed(ctx, Success{Hold: h, OrderID: h.Key, Result: result}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandler is the handler per order through asynq: the orders wait on a paused queue,
// then four handlers buy them from the simulator over HTTP. It includes asynq's own work per task;
// cphbench's row 1 sets the two side by side.
func BenchmarkHandler(b *testing.B) {
	p := startPipeline(b, pipelineOptions{rateLimit: 1_000_000})
	if err := p.insp.PauseQueue(p.tr.queue); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	orders := make([]*Order, b.N)
	for i := range orders {
		orders[i] = order(fmt.Sprintf("bench-handler-%d", i))
	}
	if _, err := p.producer.EnqueueMany(ctx, orders, 8, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.insp.UnpauseQueue(p.tr.queue); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Duration(b.N)*10*time.Millisecond + time.Minute)
	for p.sim.Stats().Orders < b.N {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d orders bought in time", p.sim.Stats().Orders, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
}
