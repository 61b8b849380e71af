package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// bulkMaxRetry is the retry budget of benchmark orders, MAX_RETRY's default.
const bulkMaxRetry = 10

// bulkEnqueue is row 2: Producer.EnqueueMany putting BulkOrders orders on a queue, next to asynq's
// own Client.Enqueue called one order after the other on a sample (the same payloads and options,
// without our duplicate check), scaled to BulkOrders. The queue it fills is row 6's work.
func (r *run) bulkEnqueue(ctx context.Context) Row {
	n, sample, conc := r.cfg.Sizes.BulkOrders, min(r.cfg.Sizes.BulkSample, r.cfg.Sizes.BulkOrders), r.cfg.Sizes.BulkConcurrency
	row := Row{Target: "< 10 s, ≥ 3 × one-by-one Enqueue"}
	orders, err := newOrders("b-"+r.id, n)
	if err != nil {
		return failed(err)
	}

	// One by one, as a loop over asynq's client would do it.
	one := r.newSpace("2one")
	defer one.cleanup(context.WithoutCancel(ctx))
	client := asynq.NewClientFromRedisClient(r.rdb)
	start := time.Now()
	for _, o := range orders[:sample] {
		payload, err := json.Marshal(o)
		if err != nil {
			return failed(err)
		}
		key := o.Key()
		_, err = client.EnqueueContext(ctx, asynq.NewTask(tasks.TypePurchase, payload),
			asynq.Queue(one.queue), asynq.TaskID(tasks.TaskID(key)), asynq.MaxRetry(bulkMaxRetry+1), asynq.Retention(24*time.Hour))
		if err != nil {
			return failed(fmt.Errorf("one-by-one enqueue: %w", err))
		}
	}
	oneRate := float64(sample) / time.Since(start).Seconds()
	oneScaled := time.Duration(float64(n) / oneRate * float64(time.Second))

	// EnqueueMany, into the queue that row 6's worker will empty.
	r.bulk = r.newSpace("2")
	p := tasks.NewProducer(tasks.ProducerConfig{
		Client: asynq.NewClientFromRedisClient(r.rdb), Ledger: r.bulk.ledger(), Queue: r.bulk.queue, MaxRetry: bulkMaxRetry,
	})
	start = time.Now()
	res, err := p.EnqueueMany(ctx, orders, conc, nil)
	took := time.Since(start)
	if err != nil {
		return failed(fmt.Errorf("EnqueueMany: %w", err))
	}
	for i, e := range res {
		if e.Status != tasks.EnqueueEnqueued {
			return failed(fmt.Errorf("EnqueueMany: order %d: %s, want %s", i, e.Status, tasks.EnqueueEnqueued))
		}
	}
	info, err := asynq.NewInspectorFromRedisClient(r.rdb).GetQueueInfo(r.bulk.queue)
	if err != nil {
		return failed(fmt.Errorf("inspect %s: %w", r.bulk.queue, err))
	}
	if info.Pending != n {
		return failed(fmt.Errorf("EnqueueMany reported %d orders enqueued, the queue holds %d", n, info.Pending))
	}

	speedup := oneScaled.Seconds() / took.Seconds()
	row.Measured = fmt.Sprintf("%s orders in %.1f s (%.0f/s) = %.1f × one-by-one (%.0f/s, %.1f s for %s)",
		thousands(n), took.Seconds(), float64(n)/took.Seconds(), speedup, oneRate, oneScaled.Seconds(), thousands(n))
	row.Met = took < 10*time.Second && speedup >= 3
	row.Notes = fmt.Sprintf("EnqueueMany concurrency %d; one-by-one measured on %s orders and scaled", conc, thousands(sample))
	return row
}

// thousands writes n with thousands separators: 100,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
