package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// ReplayOptions change what a replay allows.
type ReplayOptions struct {
	// Rebuy is the operator's word that the order's last purchase call, whose outcome was unknown,
	// placed no order (checked in BSS): the replay may buy without finding it first. Without it a
	// replayed ambiguous order is reconciled, and dead-lettered again when its order is not found.
	Rebuy bool
}

// replay enqueues the dead-lettered order of task taskID afresh, with the producer's full retry
// budget, and drops its dead letter; Operator.Replay finds the dead letter by task id or
// idempotency key and calls it. asynq's own RunTask would keep the spent retry count, so the
// archived task is deleted and a new one takes its id. The ledger still guards the key: a replayed
// order that was bought after all is not bought again, and one whose last call had no answer is
// reconciled first, from the dead letter's record of that call when the ledger has forgotten the
// key.
func (p *Producer) replay(ctx context.Context, dls *DeadLetters, insp *asynq.Inspector, taskID string, opts ReplayOptions) (EnqueueResult, error) {
	dl, ok, err := dls.Get(ctx, taskID)
	if err != nil {
		return EnqueueResult{}, err
	}
	if !ok {
		return EnqueueResult{}, fmt.Errorf("dead letter %s: %w", taskID, ErrNotFound)
	}
	if len(dl.Payload) == 0 {
		return EnqueueResult{}, fmt.Errorf("dead letter %s has no payload to replay (it was not JSON or too large); delete it instead", taskID)
	}
	queue := dl.Queue
	if queue == "" {
		queue = p.cfg.Queue
	}
	if err := insp.DeleteTask(queue, taskID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		return EnqueueResult{}, fmt.Errorf("replay %s: remove the archived task: %w", taskID, err)
	}
	reopen := Reopening{Key: dl.IdempotencyKey, Unresolved: dl.Unresolved, Rebuy: opts.Rebuy}
	if dl.Class == ClassInvalid {
		reopen = Reopening{Key: invalidLedgerKey(taskID)}
	}
	if err := p.cfg.Ledger.Reopen(ctx, reopen); err != nil {
		return EnqueueResult{}, fmt.Errorf("replay %s: %w", taskID, err)
	}
	taskOpts := append(p.options(taskID), asynq.Queue(queue))
	res := EnqueueResult{TaskID: taskID, IdempotencyKey: dl.IdempotencyKey, Queue: queue, Status: EnqueueEnqueued}
	if _, err := p.cfg.Client.EnqueueContext(ctx, asynq.NewTask(TypePurchase, dl.Payload), taskOpts...); err != nil {
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			return res, fmt.Errorf("replay %s: %w", taskID, err)
		}
		res.Status = EnqueueDuplicate // replayed already, and still in flight
	}
	if _, err := dls.Delete(ctx, taskID); err != nil {
		return res, fmt.Errorf("replay %s: enqueued, but the dead letter could not be dropped: %w", taskID, err)
	}
	return res, nil
}
