package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cphpurchase/internal/tasks"
)

// Result is an order's terminal result (docs/contract.md, "Results"), the same JSON as an entry
// of the results stream.
type Result struct {
	TaskID         string `json:"task_id"`
	IdempotencyKey string `json:"idempotency_key"`
	ProjectID      string `json:"project_id"`
	// Status is "succeeded" or "dead_lettered".
	Status string `json:"status"`
	// OrderID, RequestID, ProductID and ServerIDs are the purchase's, on success. RequestID is
	// absent when the order was found by reconciliation (Reconciled).
	OrderID    string   `json:"order_id,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
	ProductID  string   `json:"product_id,omitempty"`
	ServerIDs  []string `json:"server_ids,omitempty"`
	Reconciled bool     `json:"reconciled"`
	// Attempts counts the deliveries of the task in this run.
	Attempts int `json:"attempts"`
	// Error says why the order was dead-lettered.
	Error      *ResultError      `json:"error,omitempty"`
	Metadata   map[string]string `json:"metadata"`
	FinishedAt time.Time         `json:"finished_at"`
}

// Succeeded reports whether the order was bought.
func (r *Result) Succeeded() bool { return r.Status == "succeeded" }

// ResultError says why an order was dead-lettered.
type ResultError struct {
	// Class is invalid, rejected, auth, exhausted or ambiguous (docs/contract.md says what to do
	// about each).
	Class string `json:"class"`
	// Code is the API's error code (CPS.0006, …) or the pipeline's (idempotency_key_conflict).
	Code       string `json:"code,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Message    string `json:"message"`
	// Fields lists the problems of an invalid order.
	Fields []FieldError `json:"fields,omitempty"`
	// CandidateOrderIDs are the orders an ambiguous one may have placed: check them in BSS.
	CandidateOrderIDs []string `json:"candidate_order_ids,omitempty"`
}

// DeadLetter is the record an operator works when an order cannot succeed (docs/contract.md,
// "Dead letters"); it stays until replayed or deleted.
type DeadLetter struct {
	TaskID         string       `json:"task_id"`
	IdempotencyKey string       `json:"idempotency_key"`
	Queue          string       `json:"queue"`
	Class          string       `json:"class"`
	Error          *ResultError `json:"error"`
	Attempts       int          `json:"attempts"`
	MaxRetry       int          `json:"max_retry"`
	FailedAt       time.Time    `json:"failed_at"`
	PurchaseCalls  int          `json:"purchase_calls"`
	// OutcomeUnknown is the last purchase call whose outcome is unknown, when there is one.
	OutcomeUnknown *OutcomeUnknown `json:"outcome_unknown,omitempty"`
	// Payload is the order as enqueued.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// OutcomeUnknown is a purchase call with no known outcome: when its posting mark was set, and its
// deadline, on Redis's clock.
type OutcomeUnknown struct {
	CallStarted  time.Time `json:"call_started"`
	CallDeadline time.Time `json:"call_deadline"`
}

// Status is what is known of one order.
type Status struct {
	TaskID         string `json:"task_id"`
	IdempotencyKey string `json:"idempotency_key"`
	Queue          string `json:"queue"`
	// State is asynq's state of the order's task: pending, active, scheduled, retry, archived,
	// completed, or gone once asynq no longer holds it (24 hours after it ended).
	State string `json:"state"`
	// Done is true once the order has its terminal result (Result): waiting is over.
	Done bool `json:"done"`
	// Retried is how many counted retries the order has had, of MaxRetry; LastError the last
	// one's cause; NextRunAt when a retry or wait is due.
	Retried   int        `json:"retried"`
	MaxRetry  int        `json:"max_retry,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	NextRunAt *time.Time `json:"next_run_at,omitempty"`
	// PurchaseCalls is how many purchase calls were sent for the key in this run.
	PurchaseCalls int `json:"purchase_calls"`
	// Result is the terminal result, once Done.
	Result *Result `json:"result,omitempty"`
	// DeadLetter is the dead-letter record while the order has one.
	DeadLetter *DeadLetter `json:"dead_letter,omitempty"`
	// The readiness lifecycle (docs/contract.md, "Growing the contract") goes here, as its own
	// field "lifecycle", when it lands; the OpenAPI document of the intake reserves the name.
}

// Status looks the order of idempotency key key up: in asynq, the ledger and the dead letters.
// It returns ErrNotFound when none of them knows it.
func (c *Client) Status(ctx context.Context, key string) (Status, error) {
	st, err := c.op.Status(ctx, key)
	if errors.Is(err, tasks.ErrNotFound) {
		return Status{}, fmt.Errorf("producer: idempotency key %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return Status{}, fmt.Errorf("producer: status of %q: %w", key, err)
	}
	out := Status{
		TaskID: st.TaskID, IdempotencyKey: st.IdempotencyKey, Queue: st.Queue, State: st.State,
		Retried: st.Retried, MaxRetry: st.MaxRetry, LastError: st.LastError, NextRunAt: st.NextRunAt,
	}
	if st.Ledger != nil {
		out.PurchaseCalls = st.Ledger.Attempts
		if st.Ledger.Ended() {
			out.Done = true
			if out.Result, err = decodeResult(st.Ledger.Result); err != nil {
				return Status{}, err
			}
		}
	}
	if st.DeadLetter != nil {
		if out.DeadLetter, err = convert[DeadLetter](st.DeadLetter); err != nil {
			return Status{}, err
		}
	}
	return out, nil
}

// Wait waits until the order of idempotency key key has its terminal result and returns it, or
// ctx's error when ctx ends first (the order stays queued). A dead-lettered order is a Result too:
// see Result.Succeeded. It returns ErrNotFound at once for a key nothing knows, rather than wait
// for an order that was never submitted.
func (c *Client) Wait(ctx context.Context, key string) (*Result, error) {
	if _, err := c.Status(ctx, key); err != nil {
		return nil, err
	}
	e, err := c.op.Await(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("producer: wait for %q: %w", key, err)
	}
	return decodeResult(e.Result)
}

// decodeResult reads the pipeline's result, whose JSON is the contract's.
func decodeResult(raw json.RawMessage) (*Result, error) {
	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("producer: read a result: %w", err)
	}
	return &r, nil
}

// convert carries a value of the pipeline into this package's type of the same JSON, the
// contract's; TestTypesMirrorTheContract keeps the two in step.
func convert[T any](v any) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &out, nil
}
