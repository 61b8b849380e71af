package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"github.com/hibiken/asynq"
)

// Status is everything known about one order, as `enqueue status` prints it.
type Status struct {
	TaskID         string `json:"task_id"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Queue          string `json:"queue"`
	// State is asynq's state of the task (pending, active, scheduled, retry, archived, completed),
	// or "gone" when asynq no longer holds it (its retention ran out).
	State      string          `json:"state"`
	Retried    int             `json:"retried"`
	MaxRetry   int             `json:"max_retry,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	NextRunAt  *time.Time      `json:"next_run_at,omitempty"`
	Ledger     *Entry          `json:"ledger,omitempty"`
	DeadLetter *DeadLetter     `json:"dead_letter,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	// Readiness is the bought order's lifecycle, once its tracking has started.
	Readiness *Readiness `json:"readiness,omitempty"`
}

var taskIDPattern = regexp.MustCompile(`^cph-[0-9a-f]{32}$`)

// Status looks an order up by task id or by idempotency key, in asynq, the ledger and the dead
// letters, as `enqueue status` shows it. It returns ErrNotFound when none of them knows it.
func (o *Operator) Status(ctx context.Context, idOrKey string) (*Status, error) {
	st := &Status{Queue: o.cfg.Queue, State: "gone"}
	if taskIDPattern.MatchString(idOrKey) {
		st.TaskID = idOrKey
	} else {
		st.TaskID, st.IdempotencyKey = TaskID(idOrKey), idOrKey
	}
	known := false
	info, err := o.insp.GetTaskInfo(o.cfg.Queue, st.TaskID)
	switch {
	case err == nil:
		known = true
		st.State = info.State.String()
		st.Retried, st.MaxRetry, st.LastError = info.Retried, BudgetOfTask(info.MaxRetry).Max, info.LastErr
		if !info.NextProcessAt.IsZero() {
			t := info.NextProcessAt.UTC()
			st.NextRunAt = &t
		}
		if len(info.Result) > 0 && json.Valid(info.Result) {
			st.Result = info.Result
		}
		if st.IdempotencyKey == "" {
			if o, err := DecodeOrder(info.Payload); err == nil {
				st.IdempotencyKey = o.Key()
			}
		}
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
	default:
		return nil, err
	}
	dl, ok, err := o.dls.Get(ctx, st.TaskID)
	if err != nil {
		return nil, err
	}
	if ok {
		known = true
		st.DeadLetter = &dl
		if st.IdempotencyKey == "" {
			st.IdempotencyKey = dl.IdempotencyKey
		}
	}
	if st.IdempotencyKey != "" {
		e, ok, err := o.ledger.Get(ctx, st.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		if ok {
			known = true
			st.Ledger = &e
			if st.Result == nil {
				st.Result = e.Result
			}
		}
		r, ok, err := NewReadinessStore(o.rdb, o.keys).Get(ctx, st.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		if ok {
			st.Readiness = &r
		}
	}
	if !known {
		return nil, ErrNotFound
	}
	return st, nil
}
