package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// QueueSummary is the state of the purchase queue as an operator reads it (`enqueue queue stats`):
// its tasks by asynq state, how long the oldest pending one has waited, whether it is paused and
// why, and the durable dead letters waiting for an operator.
type QueueSummary struct {
	Queue  string `json:"queue"`
	Paused bool   `json:"paused"`
	// HeldForCredentials is the reason a worker paused the queue because the CPH API refused the
	// credentials (CredentialWatcher); empty when it did not, or when the queue runs again.
	HeldForCredentials string `json:"held_for_credentials,omitempty"`
	Pending            int    `json:"pending"`
	Active             int    `json:"active"`
	Scheduled          int    `json:"scheduled"`
	Retry              int    `json:"retry"`
	Archived           int    `json:"archived"`
	Completed          int    `json:"completed"`
	DeadLetters        int64  `json:"dead_letters"`
	// Latency is how long the oldest pending task has waited, in seconds.
	Latency float64 `json:"latency_seconds"`
}

// Summary reads the queue's state. A queue that nothing was ever enqueued to is empty.
func (o *Operator) Summary(ctx context.Context) (QueueSummary, error) {
	s := QueueSummary{Queue: o.cfg.Queue}
	info, err := o.QueueInfo()
	if err != nil {
		return s, fmt.Errorf("queue %s: %w", o.cfg.Queue, err)
	}
	if info != nil {
		s.Pending, s.Active, s.Scheduled, s.Retry, s.Archived, s.Completed =
			info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed
		s.Latency = info.Latency.Round(time.Millisecond).Seconds()
	}
	if s.Paused, err = o.Paused(ctx); err != nil {
		return s, err
	}
	if s.Paused {
		if s.HeldForCredentials, err = o.CredentialHold(ctx); err != nil {
			return s, err
		}
	}
	if s.DeadLetters, err = o.dls.Count(ctx); err != nil {
		return s, fmt.Errorf("count dead letters: %w", err)
	}
	return s, nil
}

// HoldForCredentials pauses the queue because the CPH API refused the credentials, recording
// reason beside the pause, so that a worker whose credentials are accepted again lifts it
// (LiftCredentialHold) while an operator's own pause stays. A queue an operator paused already is
// left as it is: held is then false, and lifting it stays the operator's decision. Holding a queue
// held already updates the reason.
func (o *Operator) HoldForCredentials(ctx context.Context, reason string) (held bool, err error) {
	key := o.keys.CredentialHold(o.cfg.Queue)
	ours, err := o.rdb.Exists(ctx, key).Result()
	if err != nil {
		return false, fmt.Errorf("hold queue %s: %w", o.cfg.Queue, err)
	}
	if ours == 0 {
		paused, err := o.Paused(ctx)
		if err != nil {
			return false, err
		}
		if paused {
			return false, nil
		}
	}
	// The mark goes first: a pause without it would be an operator's, never lifted by a worker.
	if err := o.rdb.Set(ctx, key, reason, 0).Err(); err != nil {
		return false, fmt.Errorf("hold queue %s: %w", o.cfg.Queue, err)
	}
	if err := o.Pause(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// LiftCredentialHold unpauses the queue if HoldForCredentials paused it, and reports whether it
// did. An operator's pause is left alone.
func (o *Operator) LiftCredentialHold(ctx context.Context) (lifted bool, err error) {
	key := o.keys.CredentialHold(o.cfg.Queue)
	n, err := o.rdb.Exists(ctx, key).Result()
	if err != nil || n == 0 {
		return false, err
	}
	if err := o.Unpause(ctx); err != nil {
		return false, err
	}
	if err := o.rdb.Del(ctx, key).Err(); err != nil {
		return false, fmt.Errorf("lift the hold of queue %s: %w", o.cfg.Queue, err)
	}
	return true, nil
}

// CredentialHold is the reason the queue is held for credentials, or "" when it is not.
func (o *Operator) CredentialHold(ctx context.Context) (string, error) {
	reason, err := o.rdb.Get(ctx, o.keys.CredentialHold(o.cfg.Queue)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("queue %s hold: %w", o.cfg.Queue, err)
	}
	return reason, nil
}
