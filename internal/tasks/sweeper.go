package tasks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// Sweeper gives a terminal result to orders that asynq archived without our handler's say. asynq
// archives a task by itself when its worker died on the task's last allowed attempt (the
// recoverer finds the lease expired and the retries spent) or when the handler panicked there; no
// dead letter, no result follows, and the order would be silently lost. The sweeper finds such
// tasks in the archive — archived, with no dead-letter record of ours and no terminal ledger
// state — and dead-letters them: ambiguous when a purchase call of theirs has no known outcome,
// exhausted otherwise. It is shaped like asynq's own background loops: start, then shutdown.
type Sweeper struct {
	h        *Handler
	insp     *asynq.Inspector
	dls      *DeadLetters
	interval time.Duration
	done     chan struct{}
	wg       sync.WaitGroup
}

// NewSweeper returns a sweeper for the handler's queue, running every interval (1m when zero).
func NewSweeper(h *Handler, insp *asynq.Inspector, dls *DeadLetters, interval time.Duration) *Sweeper {
	if interval <= 0 {
		interval = time.Minute
	}
	return &Sweeper{h: h, insp: insp, dls: dls, interval: interval, done: make(chan struct{})}
}

// Start runs a sweep at once and then every interval, until Shutdown.
func (s *Sweeper) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), s.interval)
				n, err := s.Sweep(ctx)
				cancel()
				if err != nil {
					s.h.cfg.Logger.Warn().Err(err).Msg("sweeping the archive failed; trying again later")
				} else if n > 0 {
					s.h.cfg.Logger.Warn().Int("orders", n).Msg("dead-lettered orders that asynq archived without a result")
				}
				t.Reset(s.interval)
			}
		}
	}()
}

// Shutdown stops the loop and waits for a sweep in progress.
func (s *Sweeper) Shutdown() {
	close(s.done)
	s.wg.Wait()
}

// sweepPage is how many archived tasks one inspector call lists.
const sweepPage = 500

// Sweep makes one pass over the queue's archive and returns how many orders it dead-lettered.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	swept := 0
	for page := 1; ; page++ {
		infos, err := s.insp.ListArchivedTasks(s.h.cfg.Queue, asynq.PageSize(sweepPage), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return swept, nil
		}
		if err != nil {
			return swept, fmt.Errorf("sweep: list archived tasks: %w", err)
		}
		// Most archived tasks were dead-lettered by the handler: one round trip tells which.
		ids := make([]string, len(infos))
		for i, info := range infos {
			ids[i] = info.ID
		}
		recorded, err := s.dls.Exist(ctx, ids)
		if err != nil {
			return swept, fmt.Errorf("sweep: %w", err)
		}
		for i, info := range infos {
			if recorded[i] {
				continue
			}
			done, err := s.sweepTask(ctx, info)
			if err != nil {
				return swept, err
			}
			if done {
				swept++
			}
		}
		if len(infos) < sweepPage || ctx.Err() != nil {
			return swept, ctx.Err()
		}
	}
}

// sweepTask dead-letters one archived task without a dead-letter record, if nothing of ours
// ended its order. A replay may have replaced the task since it was listed: a key reopened for a
// replay is left alone, and so is a task that is no longer archived once the key is taken.
func (s *Sweeper) sweepTask(ctx context.Context, info *asynq.TaskInfo) (bool, error) {
	d, err := s.h.newDelivery(info.Type, info.ID, info.Payload, nil, info.Retried, info.MaxRetry)
	d.log = d.log.With().Str("component", "sweeper").Logger()
	if err != nil {
		return true, ignoreSkip(d.deadLetterInvalid(ctx, err))
	}
	claim, err := s.h.cfg.Ledger.Acquire(ctx, AcquireArgs{Hold: d.hold, TaskID: info.ID, Lease: s.h.lease(), SkipReopened: true})
	if err != nil {
		return false, err
	}
	if claim.State != ClaimAcquired {
		// Terminal already (another copy ended it), a copy is running and will end it, or a
		// replay reopened the key for a new task.
		return false, nil
	}
	if now, err := s.insp.GetTaskInfo(s.h.cfg.Queue, info.ID); err != nil || now.State != asynq.TaskStateArchived {
		if rerr := s.h.cfg.Ledger.Release(detached(ctx), d.hold, ""); rerr != nil {
			d.log.Warn().Err(rerr).Msg("could not release the key; it frees itself when the lease ends")
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, fmt.Errorf("sweep: re-check task %s: %w", info.ID, err)
		}
		return false, nil // replayed (or deleted) since it was listed
	}
	class, why := ClassExhausted, "retries exhausted"
	if claim.Unresolved != nil {
		class, why = ClassAmbiguous, "a purchase call may have placed the order and its outcome is unknown; check the BSS orders, then replay (it reconciles first) or delete"
	}
	cause := fmt.Errorf("asynq archived the task after its last attempt ended without a result (last error: %s): %s", info.LastErr, why)
	return true, ignoreSkip(d.deadLetter(ctx, class, cause))
}

// ignoreSkip turns deadLetter's asynq.SkipRetry, which only asynq needs, into success.
func ignoreSkip(err error) error {
	if errors.Is(err, asynq.SkipRetry) {
		return nil
	}
	var r *retryLater
	if errors.As(err, &r) {
		return r.err
	}
	return err
}
