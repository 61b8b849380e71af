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
	key := o.Key()
	res := EnqueueResult{TaskID: TaskID(key), IdempotencyKey: key, Queue: p.cfg.Queue, Status: EnqueueEnqueued}
	if _, seen, err := p.cfg.Ledger.Get(ctx, key); err != nil {
		return res, err
	} else if seen {
		res.Status = EnqueueDuplicate
		return res, nil
	}
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

// EnqueueMany enqueues orders with up to concurrency enqueues in flight, calling progress (if not
// nil) after each. Results come back in the order of orders; the first error stops the run.
func (p *Producer) EnqueueMany(ctx context.Context, orders []*Order, concurrency int, progress func()) ([]EnqueueResult, error) {
	concurrency = max(concurrency, 1)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]EnqueueResult, len(orders))
	next := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := p.Enqueue(ctx, orders[i])
				if err != nil {
					cancel(fmt.Errorf("order %d: %w", i+1, err))
					continue
				}
				results[i] = r
				if progress != nil {
					progress()
				}
			}
		}()
	}
feed:
	for i := range orders {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return results, err
	}
	return results, nil
}
