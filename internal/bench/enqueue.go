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

	// One by one, as a loop over asynq's client would do it, after a warm-up of its own.
	one := r.newSpace("2one")
	defer one.cleanup(context.WithoutCancel(ctx))
	client := asynq.NewClientFromRedisClient(r.rdb)
	enqueue := func(o *tasks.Order) error {
		payload, err := json.Marshal(o)
		if err != nil {
			return err
		}
		_, err = client.EnqueueContext(ctx, asynq.NewTask(tasks.TypePurchase, payload),
			asynq.Queue(one.queue), asynq.TaskID(tasks.TaskID(o.Key())), asynq.MaxRetry(tasks.NewBudget(bulkMaxRetry).TaskMaxRetry()), asynq.Retention(24*time.Hour))
		if err != nil {
			return fmt.Errorf("one-by-one enqueue: %w", err)
		}
		return nil
	}
	warm, err := newOrders("bw-"+r.id, min(sample/10, 1000))
	if err != nil {
		return failed(err)
	}
	for _, o := range warm {
		if err := enqueue(o); err != nil {
			return failed(err)
		}
	}
	// The sample is enqueued in two halves, one before EnqueueMany and one after, and the faster
	// half counts: a loop of round trips is at the mercy of the machine's other work, and the
	// faster figure is the harder one to beat.
	oneByOne := func(part []*tasks.Order) (float64, error) {
		start := time.Now()
		for _, o := range part {
			if err := enqueue(o); err != nil {
				return 0, err
			}
		}
		return float64(len(part)) / time.Since(start).Seconds(), nil
	}
	firstHalf, err := oneByOne(orders[:sample/2])
	if err != nil {
		return failed(err)

	}
	// EnqueueMany, into the queue that row 6's worker will empty.
	r.bulk = r.newSpace("2")
	op, err := r.bulk.operator()
	if err != nil {
		return failed(err)
	}
	start := time.Now()
	res, err := op.Producer().EnqueueMany(ctx, orders, conc, nil)
	took := time.Since(start)
	if err != nil {
		return failed(fmt.Errorf("EnqueueMany: %w", err))
	}
	for i, e := range res {
		if e.Status != tasks.EnqueueEnqueued {
			return failed(fmt.Errorf("EnqueueMany: order %d: %s, want %s", i, e.Status, tasks.EnqueueEnqueued))
		}
	}
	info, err := op.Inspector().GetQueueInfo(r.bulk.queue)
	if err != nil {
		return failed(fmt.Errorf("inspect %s: %w", r.bulk.queue, err))
	}
	if info.Pending != n {
		return failed(fmt.Errorf("EnqueueMany reported %d orders enqueued, the queue holds %d", n, info.Pending))
	}

	secondHalf, err := oneByOne(orders[sample/2 : sample])
	if err != nil {
		return failed(err)
	}
	oneRate := max(firstHalf, secondHalf)
	oneScaled := time.Duration(float64(n) / oneRate * float64(time.Second))
	speedup := oneScaled.Seconds() / took.Seconds()
	row.Measured = fmt.Sprintf("%s orders in %.1f s (%.0f/s) = %.1f × one-by-one (%.0f/s, %.1f s for %s)",
		thousands(n), took.Seconds(), float64(n)/took.Seconds(), speedup, oneRate, oneScaled.Seconds(), thousands(n))
	row.Met = took < 10*time.Second && speedup >= 3
	row.Notes = fmt.Sprintf("EnqueueMany at concurrency %d; asynq's Client.Enqueue one by one on %s orders, half before and half after, the faster half (%.0f/s, %.0f/s) scaled to %s",
		conc, thousands(sample), firstHalf, secondHalf, thousands(n))
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
