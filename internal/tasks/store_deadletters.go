package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// DeadLetter is the durable record of a dead-lettered order: enough to read why it failed and to
// replay it, kept until an operator deletes or replays it. asynq's archive holds the same task, but
// trims itself silently past 10,000 tasks or 90 days; this record is what never forgets.
type DeadLetter struct {
	TaskID         string       `json:"task_id"`
	IdempotencyKey string       `json:"idempotency_key"`
	Queue          string       `json:"queue"`
	Class          ErrorClass   `json:"class"`
	Error          *ResultError `json:"error"`
	Attempts       int          `json:"attempts"`
	MaxRetry       int          `json:"max_retry"`
	FailedAt       time.Time    `json:"failed_at"`
	// PurchaseCalls is how many purchase calls the run made (written by the ledger's script).
	PurchaseCalls int `json:"purchase_calls"`
	// Unresolved is the last purchase call whose outcome is unknown, when there is one: a replay
	// restores it in the ledger, so the order is reconciled before anything is bought, even after
	// the ledger's record is gone.
	Unresolved *Unresolved `json:"outcome_unknown,omitempty"`
	// Payload is the order as it was enqueued. It never holds a secret: tokens and passwords are
	// worker configuration, not part of an order.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// fields is the record as Redis hash field/value pairs, less what the ledger's script copies from
// the ledger itself (purchase_calls, post_started, post_ends).
func (d DeadLetter) fields() []any {
	errJSON, _ := json.Marshal(d.Error)
	return []any{
		"task_id", d.TaskID,
		"idempotency_key", d.IdempotencyKey,
		"queue", d.Queue,
		"class", string(d.Class),
		"error", string(errJSON),
		"attempts", d.Attempts,
		"max_retry", d.MaxRetry,
		"failed_at", d.FailedAt.UnixMilli(),
		"payload", string(d.Payload),
	}
}

func deadLetterFromHash(h map[string]string) (DeadLetter, error) {
	d := DeadLetter{
		TaskID:         h["task_id"],
		IdempotencyKey: h["idempotency_key"],
		Queue:          h["queue"],
		Class:          ErrorClass(h["class"]),
		FailedAt:       msTime(h["failed_at"]).UTC(),
	}
	d.Attempts, _ = strconv.Atoi(h["attempts"])
	d.MaxRetry, _ = strconv.Atoi(h["max_retry"])
	d.PurchaseCalls, _ = strconv.Atoi(h["purchase_calls"])
	if started := msTime(h["post_started"]); !started.IsZero() {
		d.Unresolved = &Unresolved{Started: started.UTC(), Ends: msTime(h["post_ends"]).UTC()}
	}
	if p := h["payload"]; p != "" {
		d.Payload = json.RawMessage(p)
	}
	if e := h["error"]; e != "" && e != "null" {
		if err := json.Unmarshal([]byte(e), &d.Error); err != nil {
			return d, fmt.Errorf("dead letter %s: corrupt error field: %w", d.TaskID, err)
		}
	}
	return d, nil
}

// DeadLetters reads and removes the durable dead-letter records. Writing one is part of
// Ledger.Fail, so that it happens together with the ledger and the results stream.
type DeadLetters struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewDeadLetters returns the dead-letter records on rdb.
func NewDeadLetters(rdb redis.UniversalClient, keys Keys) *DeadLetters {
	return &DeadLetters{rdb: rdb, keys: keys}
}

// List returns up to limit dead letters, oldest first, starting at offset.
func (s *DeadLetters) List(ctx context.Context, offset, limit int64) ([]DeadLetter, error) {
	ids, err := s.rdb.ZRange(ctx, s.keys.DeadLetterIndex(), offset, offset+limit-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(ids))
	for _, id := range ids {
		d, ok, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// Count returns how many dead letters there are.
func (s *DeadLetters) Count(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.keys.DeadLetterIndex()).Result()
	if err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// Get returns the dead letter of task taskID, or ok false when there is none.
func (s *DeadLetters) Get(ctx context.Context, taskID string) (DeadLetter, bool, error) {
	h, err := s.rdb.HGetAll(ctx, s.keys.DeadLetter(taskID)).Result()
	if err != nil {
		return DeadLetter{}, false, fmt.Errorf("get dead letter %s: %w", taskID, err)
	}
	if len(h) == 0 {
		return DeadLetter{}, false, nil
	}
	d, err := deadLetterFromHash(h)
	return d, err == nil, err
}

// Exist reports, in one round trip, which of the tasks have a dead-letter record.
func (s *DeadLetters) Exist(ctx context.Context, taskIDs []string) ([]bool, error) {
	exist, err := existAll(ctx, s.rdb, taskIDs, s.keys.DeadLetter)
	if err != nil {
		return nil, fmt.Errorf("dead letters exist: %w", err)
	}
	return exist, nil
}

// Delete drops the dead letter of task taskID; it reports whether there was one.
func (s *DeadLetters) Delete(ctx context.Context, taskID string) (bool, error) {
	pipe := s.rdb.TxPipeline()
	del := pipe.Del(ctx, s.keys.DeadLetter(taskID))
	pipe.ZRem(ctx, s.keys.DeadLetterIndex(), taskID)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("delete dead letter %s: %w", taskID, err)
	}
	return del.Val() > 0, nil
}

// Discard drops dead letter dl for good: its archived asynq task, when asynq still holds it
// archived (a task in any other state is a live order, a replay in flight, and is left alone), and
// then our record. The ledger keeps the key: submitting it again is a duplicate. queue is used when
// the record names none. It reports whether the record was still there.
func (s *DeadLetters) Discard(ctx context.Context, insp *asynq.Inspector, dl DeadLetter, queue string) (bool, error) {
	if dl.Queue != "" {
		queue = dl.Queue
	}
	info, err := insp.GetTaskInfo(queue, dl.TaskID)
	if err == nil && info.State == asynq.TaskStateArchived {
		err = insp.DeleteTask(queue, dl.TaskID)
	}
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		return false, fmt.Errorf("delete the archived task %s: %w", dl.TaskID, err)
	}
	return s.Delete(ctx, dl.TaskID)
}
