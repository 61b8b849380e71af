package producer

import (
	"context"
	"errors"
	"fmt"

	"cphpurchase/internal/tasks"
)

// The statuses of a Submission.
const (
	StatusEnqueued  = tasks.EnqueueEnqueued  // put on the queue
	StatusDuplicate = tasks.EnqueueDuplicate // submitted before with the same request: nothing new enqueued
	StatusConflict  = tasks.EnqueueConflict  // submitted before with another request: nothing enqueued
)

// Submission is what enqueueing one order did, as `enqueue submit` prints it.
// In a BatchResult, the Submission of an order that was not enqueued is empty.
type Submission struct {
	TaskID         string `json:"task_id,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Queue          string `json:"queue,omitempty"`
	// Status is StatusEnqueued, StatusDuplicate or StatusConflict.
	Status string `json:"status,omitempty"`
}

// Enqueue validates o and puts it on the queue. The Submission names its task and key also when
// the error is a *DuplicateError (submitted before with the same request; submitting again is
// safe) or a *ConflictError (the key was first submitted with another request). An invalid order
// is an *InvalidError listing every problem; nothing is enqueued then. Any other error is Redis's:
// the order may or may not be on the queue, and enqueueing it again is safe.
func (c *Client) Enqueue(ctx context.Context, o Order) (Submission, error) {
	t, err := c.task(o, "")
	if err != nil {
		return Submission{}, err
	}
	if err := validate(t, ""); err != nil {
		return Submission{}, err
	}
	res, err := c.op.Producer().Enqueue(ctx, t)
	sub := Submission(res)
	switch {
	case errors.Is(err, tasks.ErrKeyConflict):
		return sub, &ConflictError{Keys: []string{sub.IdempotencyKey}}
	case err != nil:
		return Submission{}, fmt.Errorf("producer: enqueue %s: %w", sub.TaskID, err)
	case sub.Status == StatusDuplicate:
		return sub, &DuplicateError{Key: sub.IdempotencyKey, TaskID: sub.TaskID}
	}
	return sub, nil
}

// BatchResult is what enqueueing a batch did, counted as `enqueue bulk` counts it.
type BatchResult struct {
	Total      int `json:"total"`
	Enqueued   int `json:"enqueued"`
	Duplicates int `json:"duplicates"`
	Conflicts  int `json:"conflicts"`
	Invalid    int `json:"invalid"`
	// Orders has one Submission for each order, in the order given. One whose Status is empty was
	// not enqueued: the batch was refused, or stopped before it.
	Orders []Submission `json:"orders"`
}

// EnqueueMany validates every order, then checks every key, and only then enqueues, so that a
// batch is taken whole or not at all:
//   - any invalid order: an *InvalidError listing every problem of every order, each path starting
//     with the order's index (orders[3].request.count), and nothing enqueued;
//   - any key first submitted with another request, in the ledger or earlier in the batch: a
//     *ConflictError naming them, and nothing enqueued;
//   - otherwise each order is enqueued, or counted a duplicate (an earlier submission, or an
//     earlier order of the batch with the same key and request).
//
// A conflict with an order queued but not yet taken by a worker is found only as the batch is
// enqueued: that order is counted in Conflicts, not enqueued, the others are, and the error is a
// *ConflictError. Any other error is Redis's, and the result says what was done before it: running
// the batch again is safe, what was enqueued is then a duplicate.
func (c *Client) EnqueueMany(ctx context.Context, orders []Order) (BatchResult, error) {
	return c.enqueueMany(ctx, "", orders)
}

// MaxBatchNameBytes is the longest batch name EnqueueBatch takes.
const MaxBatchNameBytes = tasks.MaxBatchNameBytes

// EnqueueBatch is EnqueueMany for a named batch, as `enqueue bulk --batch NAME`: once every order
// is valid and no key is a conflict, the keys are recorded as the batch's members before any is
// enqueued, so that `enqueue batch status|wait NAME` follows each of them to its purchase and
// readiness. Submitting the same batch again is safe, and the batch still counts each key once.
// A name that is empty, longer than MaxBatchNameBytes or not UTF-8 is an *InvalidError at "batch".
func (c *Client) EnqueueBatch(ctx context.Context, name string, orders []Order) (BatchResult, error) {
	if err := tasks.CheckBatchName(name); err != nil {
		return BatchResult{Total: len(orders), Orders: make([]Submission, len(orders))},
			&InvalidError{Fields: []FieldError{{Path: "batch", Message: err.Error()}}}
	}
	return c.enqueueMany(ctx, name, orders)
}

// enqueueMany is EnqueueMany, recording the keys under batch unless it is empty.
func (c *Client) enqueueMany(ctx context.Context, batch string, orders []Order) (BatchResult, error) {
	res := BatchResult{Total: len(orders), Orders: make([]Submission, len(orders))}
	ts := make([]*tasks.Order, len(orders))
	bad := &InvalidError{}
	for i, o := range orders {
		prefix := fmt.Sprintf("orders[%d].", i)
		t, err := c.task(o, prefix)
		if err == nil {
			err = validate(t, prefix)
		}
		var ie *InvalidError
		if errors.As(err, &ie) {
			res.Invalid++
			bad.Fields = append(bad.Fields, ie.Fields...)
		}
		ts[i] = t
	}
	if res.Invalid > 0 {
		return res, bad
	}
	p := c.op.Producer()
	conflicts, err := p.Conflicts(ctx, ts)
	if err != nil {
		return res, fmt.Errorf("producer: check the batch's keys: %w; nothing was enqueued", err)
	}
	var keys []string
	for i, conflict := range conflicts {
		if conflict {
			key := ts[i].Key()
			keys = append(keys, key)
			res.Orders[i] = Submission{TaskID: tasks.TaskID(key), IdempotencyKey: key, Queue: c.Queue(), Status: StatusConflict}
		}
	}
	if res.Conflicts = len(keys); res.Conflicts > 0 {
		return res, &ConflictError{Keys: keys}
	}
	if batch != "" {
		members := make([]string, len(ts))
		for i, t := range ts {
			members[i] = t.Key()
		}
		if err := c.op.AddToBatch(ctx, batch, members); err != nil {
			return res, fmt.Errorf("producer: record the batch's keys: %w; nothing was enqueued", err)
		}
	}
	results, runErr := p.EnqueueMany(ctx, ts, batchConcurrency, nil)
	for i, r := range results {
		res.Orders[i] = Submission(r)
		switch r.Status {
		case StatusEnqueued:
			res.Enqueued++
		case StatusDuplicate:
			res.Duplicates++
		case StatusConflict:
			res.Conflicts++
			keys = append(keys, r.IdempotencyKey)
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("producer: stopped after %d of %d orders: %w; enqueueing the batch again is safe, what was enqueued is then a duplicate",
			res.Enqueued+res.Duplicates+res.Conflicts, res.Total, runErr)
	}
	if len(keys) > 0 {
		return res, &ConflictError{Keys: keys}
	}
	return res, nil
}
