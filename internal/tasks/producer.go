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
	// EnqueueConflict: the key was first submitted with a different request; nothing was enqueued.
	EnqueueConflict = "conflict"
)

// ConflictError means an idempotency key was submitted with a request that differs from the one
// first submitted under it. One key names one purchase, as with Stripe's idempotency keys and
// AWS's ClientToken: reusing it for another purchase is an error, never a silent duplicate.
type ConflictError struct{ Key string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("idempotency key %q: this request differs from the one first submitted under it; one key names one purchase, so submit it under a new key", e.Key)
}

// Is makes errors.Is(err, ErrKeyConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrKeyConflict }

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
	// Inspector, when set, lets the producer tell a conflict from a duplicate for a key whose
	// task is queued but not yet taken by a worker (the ledger does not know it yet).
	Inspector *asynq.Inspector
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
		asynq.MaxRetry(NewBudget(p.cfg.MaxRetry).TaskMaxRetry()),
		asynq.Retention(p.cfg.Retention),
	}
}

// Enqueue validates o and puts it on the queue, or reports it as a duplicate when its key was seen
// before with the same request (in the ledger, or as a task that still exists). An invalid order
// is a strictjson.FieldErrors; a key seen before with another request is a *ConflictError.
func (p *Producer) Enqueue(ctx context.Context, o *Order) (EnqueueResult, error) {
	if err := o.Validate(); err != nil {
		return EnqueueResult{}, err
	}
	verdicts, err := p.verdicts(ctx, runFingerprints{}, []*Order{o})
	if err != nil {
		return p.result(o.Key()), err
	}
	res := p.result(verdicts[0].key)
	res.Status = verdicts[0].status
	if res.Status == EnqueueEnqueued {
		if res, err = p.put(ctx, o, res); err != nil {
			return res, err
		}
	}
	if res.Status == EnqueueConflict {
		return res, &ConflictError{Key: res.IdempotencyKey}
	}
	return res, nil
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
		if p.queuedConflict(o, res.TaskID) {
			res.Status = EnqueueConflict
		}
	case err != nil:
		return res, fmt.Errorf("enqueue %s: %w", res.TaskID, err)
	}
	return res, nil
}

// queuedConflict reports whether the task that holds taskID carries a different purchase than o.
// A task that cannot be read (gone meanwhile, or no inspector) is taken as a duplicate: the worker
// that takes the key checks the fingerprint again and dead-letters a conflict.
func (p *Producer) queuedConflict(o *Order, taskID string) bool {
	if p.cfg.Inspector == nil {
		return false
	}
	info, err := p.cfg.Inspector.GetTaskInfo(p.cfg.Queue, taskID)
	if err != nil {
		return false
	}
	queued, err := DecodeOrder(info.Payload)
	if err != nil {
		return false
	}
	if queued.ProjectID == "" {
		queued.ProjectID = o.ProjectID
	}
	return queued.Request != nil && queued.Fingerprint() != o.Fingerprint()
}

// enqueueBatch is how many orders EnqueueMany looks up in the ledger with one round trip.
const enqueueBatch = 256

// EnqueueMany enqueues orders with up to concurrency enqueues in flight, calling progress (if not
// nil) after each. Each order is checked as Enqueue checks it; only the ledger look-ups are
// batched, enqueueBatch keys to a Redis round trip, which leaves asynq's enqueue as the one round
// trip per order. A conflict is not an error here: its result says EnqueueConflict (Conflicts
// finds them before a run). Results come back in the order of orders; the first error stops the
// run.
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
	run := runFingerprints{}
	for lo := 0; lo < len(orders) && ctx.Err() == nil; lo += enqueueBatch {
		hi := min(lo+enqueueBatch, len(orders))
		for i, o := range orders[lo:hi] {
			if err := o.Validate(); err != nil {
				cancel(fmt.Errorf("order %d: %w", lo+i+1, err))
				return
			}
		}
		verdicts, err := p.verdicts(ctx, run, orders[lo:hi])
		if err != nil {
			cancel(fmt.Errorf("order %d: %w", lo+1, err))
			return
		}
		for j, v := range verdicts {
			res := p.result(v.key)
			res.Status = v.status
			if res.Status != EnqueueEnqueued {
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

// Conflicts reports, for each order, whether its key was first submitted with a different request:
// in the ledger, or on an earlier order of the same batch. What it cannot see (a key queued but not
// yet taken by a worker) EnqueueMany and the worker still catch. It is what lets a batch be
// refused whole before anything of it is enqueued.
func (p *Producer) Conflicts(ctx context.Context, orders []*Order) ([]bool, error) {
	out := make([]bool, len(orders))
	run := runFingerprints{}
	for lo := 0; lo < len(orders); lo += enqueueBatch {
		hi := min(lo+enqueueBatch, len(orders))
		verdicts, err := p.verdicts(ctx, run, orders[lo:hi])
		if err != nil {
			return nil, err
		}
		for j, v := range verdicts {
			out[lo+j] = v.status == EnqueueConflict
		}
	}
	return out, nil
}

// keyVerdict is an order's idempotency key and what the ledger and the orders before it say of it.
type keyVerdict struct{ key, status string }

// verdicts looks a batch of orders up in the ledger with one round trip and judges each against
// the ledger and the orders before it in run.
func (p *Producer) verdicts(ctx context.Context, run runFingerprints, orders []*Order) ([]keyVerdict, error) {
	keys, fingerprints := make([]string, len(orders)), make([]string, len(orders))
	for i, o := range orders {
		keys[i], fingerprints[i] = o.keyAndFingerprint()
	}
	seen, fps, err := p.cfg.Ledger.Fingerprints(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]keyVerdict, len(orders))
	for i := range orders {
		out[i] = keyVerdict{key: keys[i], status: run.verdict(keys[i], fingerprints[i], seen[i], fps[i])}
	}
	return out, nil
}

// runFingerprints is the fingerprint each key was first given with in one run of orders.
type runFingerprints map[string]string

// verdict is what is known of an order with key and fingerprint fp: EnqueueConflict when the
// ledger (seen, with ledgerFP) or an earlier order of the run had the key with another purchase,
// EnqueueDuplicate when the ledger knows the key, EnqueueEnqueued (not known yet) otherwise.
func (r runFingerprints) verdict(key, fp string, seen bool, ledgerFP string) string {
	first, again := r[key]
	if !again {
		r[key] = fp
	}
	switch {
	case seen && ledgerFP != "" && ledgerFP != fp, again && first != fp:
		return EnqueueConflict
	case seen:
		return EnqueueDuplicate
	}
	return EnqueueEnqueued
}
