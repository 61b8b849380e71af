package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// Enqueue statuses, as `enqueue submit` prints them.
const (
	EnqueueEnqueued  = "enqueued"
	EnqueueDuplicate = "duplicate"
)

// EnqueueResult is what enqueueing one order did.
type EnqueueResult struct {
	TaskID         string `json:"task_id"`
	IdempotencyKey string `json:"idempotency_key"`
	Queue          string `json:"queue"`
	Status         string `json:"status"`
}

// ProducerConfig wires a Producer.
type ProducerConfig struct {
	Client *asynq.Client
	Ledger *Ledger
	// Queue is the asynq queue (PURCHASE_QUEUE).
	Queue string
	// MaxRetry is the order's retry budget (MAX_RETRY); it travels with the task.
	MaxRetry int
	// Retention keeps a finished task, and its result, in asynq for this long (24h when zero).
	Retention time.Duration
}

// Producer puts purchase orders on the queue.
type Producer struct{ cfg ProducerConfig }

// NewProducer returns a producer.
func NewProducer(cfg ProducerConfig) *Producer {
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	return &Producer{cfg: cfg}
}

// options are the asynq options of an order's task. The task id comes from the idempotency key, so
// asynq itself refuses a second task for a key while the first exists. asynq gets one retry more
// than the budget: the handler dead-letters an order itself when the budget is spent, and the extra
// slot lets it do so even after its last attempt crashed.
func (p *Producer) options(taskID string) []asynq.Option {
	return []asynq.Option{
		asynq.Queue(p.cfg.Queue),
		asynq.TaskID(taskID),
		asynq.MaxRetry(p.cfg.MaxRetry + 1),
		asynq.Retention(p.cfg.Retention),
	}
}

// Enqueue validates o and puts it on the queue, or reports it as a duplicate when its key was seen
// before (in the ledger, or as a task that still exists). An invalid order is a cph.FieldErrors.
func (p *Producer) Enqueue(ctx context.Context, o *Order) (EnqueueResult, error) {
	if err := o.Validate(); err != nil {
		return EnqueueResult{}, err
	}
	res := p.result(o.Key())
	if _, seen, err := p.cfg.Ledger.Get(ctx, res.IdempotencyKey); err != nil {
		return res, err
	} else if seen {
		res.Status = EnqueueDuplicate
		return res, nil
	}
	return p.put(ctx, o, res)
}

// result is what enqueueing the order with idempotency key key reports when it is enqueued.
func (p *Producer) result(key string) EnqueueResult {
	return EnqueueResult{TaskID: TaskID(key), IdempotencyKey: key, Queue: p.cfg.Queue, Status: EnqueueEnqueued}
}

// put puts a valid order, whose key the ledger does not know, on the queue as res's task. asynq
// refuses a second task with the same id while the first exists: that is a duplicate too.
func (p *Producer) put(ctx context.Context, o *Order, res EnqueueResult) (EnqueueResult, error) {
	payload, err := json.Marshal(o)
	if err != nil {
		return res, fmt.Errorf("encode order: %w", err)
	}
	if len(payload) > MaxOrderBytes {
		return res, fmt.Errorf("order is %d bytes, more than the limit of %d", len(payload), MaxOrderBytes)
	}
	_, err = p.cfg.Client.EnqueueContext(ctx, asynq.NewTask(TypePurchase, payload), p.options(res.TaskID)...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		res.Status = EnqueueDuplicate
	case err != nil:
		return res, fmt.Errorf("enqueue %s: %w", res.TaskID, err)
	}
	return res, nil
}

// enqueueBatch is how many orders EnqueueMany looks up in the ledger with one round trip.
const enqueueBatch = 256

// EnqueueMany enqueues orders with up to concurrency enqueues in flight, calling progress (if not
// nil) after each. Each order is checked as Enqueue checks it; only the ledger look-ups are
// batched, enqueueBatch keys to a Redis round trip, which leaves asynq's enqueue as the one round
// trip per order. Results come back in the order of orders; the first error stops the run.
func (p *Producer) EnqueueMany(ctx context.Context, orders []*Order, concurrency int, progress func()) ([]EnqueueResult, error) {
	concurrency = max(concurrency, 1)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]EnqueueResult, len(orders))
	done := func() {
		if progress != nil {
			progress()
		}
	}
	next := make(chan pending, enqueueBatch)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				r, err := p.put(ctx, orders[j.i], j.res)
				if err != nil {
					cancel(fmt.Errorf("order %d: %w", j.i+1, err))
					continue
				}
				results[j.i] = r
				done()
			}
		}()
	}
	// The feeder validates and looks up one batch while the enqueuers work through the last.
	p.feed(ctx, cancel, orders, results, next, done)
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return results, err
	}
	return results, nil
}

// pending is an order of EnqueueMany that the ledger does not know: the index of the order and the
// result that put starts from.
type pending struct {
	i   int
	res EnqueueResult
}

// feed validates orders a batch at a time, looks the batch's keys up in the ledger with one round
// trip, records the duplicates in results and sends every other order to next.
func (p *Producer) feed(ctx context.Context, cancel context.CancelCauseFunc, orders []*Order, results []EnqueueResult, next chan<- pending, done func()) {
	keys := make([]string, 0, enqueueBatch)
	for lo := 0; lo < len(orders) && ctx.Err() == nil; lo += enqueueBatch {
		hi := min(lo+enqueueBatch, len(orders))
		keys = keys[:0]
		for i, o := range orders[lo:hi] {
			if err := o.Validate(); err != nil {
				cancel(fmt.Errorf("order %d: %w", lo+i+1, err))
				return
			}
			keys = append(keys, o.Key())
		}
		seen, err := p.cfg.Ledger.Seen(ctx, keys)
		if err != nil {
			cancel(fmt.Errorf("order %d: %w", lo+1, err))
			return
		}
		for j, key := range keys {
			res := p.result(key)
			if seen[j] {
				res.Status = EnqueueDuplicate
				results[lo+j] = res
				done()
				continue
			}
			select {
			case next <- pending{i: lo + j, res: res}:
			case <-ctx.Done():
				return
			}
		}
	}
}
