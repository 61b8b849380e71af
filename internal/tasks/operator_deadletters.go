package tasks

import (
	"context"
	"fmt"
	"iter"
)

// FindDeadLetter returns the dead letter named by idOrKey: its task id, or the idempotency key of
// its order. There being none is an error that matches ErrNotFound.
func (o *Operator) FindDeadLetter(ctx context.Context, idOrKey string) (DeadLetter, error) {
	for _, id := range []string{idOrKey, TaskID(idOrKey)} {
		d, ok, err := o.dls.Get(ctx, id)
		if err != nil || ok {
			return d, err
		}
	}
	return DeadLetter{}, notFound(fmt.Sprintf("no dead letter with task id or key %q", idOrKey))
}

// DeadLetterQuery selects the dead letters ListDeadLetters lists.
type DeadLetterQuery struct {
	// Class lists only the dead letters of this class; "" lists every class.
	Class ErrorClass
	// Offset skips this many of the oldest dead letters, of every class, before listing: a page
	// starts there.
	Offset int64
	// Limit stops the list after this many; 0 lists them all.
	Limit int
}

// deadLetterPage is how many dead letters ListDeadLetters reads from Redis at a time.
const deadLetterPage = 500

// ListDeadLetters lists the dead letters q selects, oldest first, reading them a page at a time.
// It reads as far as the dead letters there were when it started. Dropping dead letters while it
// runs shifts the pages still to be read, so that some are skipped: to replay or discard what it
// lists, collect the task ids first. An error ends the list.
func (o *Operator) ListDeadLetters(ctx context.Context, q DeadLetterQuery) iter.Seq2[DeadLetter, error] {
	return func(yield func(DeadLetter, error) bool) {
		n, err := o.dls.Count(ctx)
		if err != nil {
			yield(DeadLetter{}, err)
			return
		}
		page := int64(deadLetterPage)
		if q.Class == "" && q.Limit > 0 {
			page = min(page, int64(q.Limit))
		}
		listed := 0
		for off := max(q.Offset, 0); off < n; off += page {
			list, err := o.dls.List(ctx, off, page)
			if err != nil {
				yield(DeadLetter{}, err)
				return
			}
			for _, d := range list {
				if q.Class != "" && d.Class != q.Class {
					continue
				}
				if !yield(d, nil) {
					return
				}
				if listed++; q.Limit > 0 && listed >= q.Limit {
					return
				}
			}
		}
	}
}

// CountDeadLetters returns how many dead letters there are, of every class.
func (o *Operator) CountDeadLetters(ctx context.Context) (int64, error) { return o.dls.Count(ctx) }

// Replay enqueues the dead-lettered order named by idOrKey (task id or idempotency key) afresh,
// with the operator's retry budget, and drops its dead letter: see Producer.replay for what the
// ledger still guards, and ReplayOptions for --rebuy. There being no such dead letter is an error
// that matches ErrNotFound.
func (o *Operator) Replay(ctx context.Context, idOrKey string, opts ReplayOptions) (EnqueueResult, error) {
	d, err := o.FindDeadLetter(ctx, idOrKey)
	if err != nil {
		return EnqueueResult{}, err
	}
	return o.producer.replay(ctx, o.dls, o.insp, d.TaskID, opts)
}

// Discard drops the dead letter named by idOrKey (task id or idempotency key) for good, and its
// archived asynq task (a task in any other state is a live order, a replay in flight, and is left
// alone). The order is not bought, and its key stays in the ledger: submitting it again is a
// duplicate. It returns the dead letter it dropped. There being none, or its going meanwhile
// (replayed or discarded by someone else), is an error that matches ErrNotFound.
func (o *Operator) Discard(ctx context.Context, idOrKey string) (DeadLetter, error) {
	d, err := o.FindDeadLetter(ctx, idOrKey)
	if err != nil {
		return d, err
	}
	return d, o.discard(ctx, d)
}

// discard drops d, found a moment ago.
func (o *Operator) discard(ctx context.Context, d DeadLetter) error {
	ok, err := o.dls.Discard(ctx, o.insp, d, o.cfg.Queue)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(fmt.Sprintf("dead letter %s was dropped meanwhile", d.TaskID))
	}
	return nil
}
