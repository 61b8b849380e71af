package producer

import (
	"errors"
	"fmt"
	"strings"

	"cphpurchase/internal/tasks"
)

// Sentinels for errors.Is. Each typed error below matches one of them.
var (
	// ErrInvalid: the order breaks the contract's rules; nothing was enqueued (*InvalidError).
	ErrInvalid = errors.New("invalid order")
	// ErrDuplicate: the key was submitted before with the same request; nothing new was enqueued
	// (*DuplicateError). Submitting the same order again is safe: this is how that reads.
	ErrDuplicate = errors.New("duplicate order")
	// ErrConflict: the key was submitted before with a different request (*ConflictError).
	ErrConflict = errors.New("idempotency key conflict")
	// ErrNotFound: nothing knows an order of that idempotency key.
	ErrNotFound = errors.New("order not found")
)

// FieldError is one problem with an order: the JSON path of the value (request.count; in a batch,
// orders[3].request.count, the order's index in the batch first) and the rule it breaks, as the
// CLI prints them: "request.count: must be between 1 and 10, got 11".
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String is "path: message".
func (e FieldError) String() string { return e.Path + ": " + e.Message }

// InvalidError is every problem of an order, or of a batch, at once; nothing was enqueued.
type InvalidError struct{ Fields []FieldError }

// Error is one "path: message" a line.
func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		lines[i] = f.String()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// DuplicateError means the order's key was submitted before with the same request: the purchase
// is already queued, bought or dead-lettered, and nothing new was enqueued.
type DuplicateError struct{ Key, TaskID string }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("idempotency key %q was submitted before with the same request (task %s): nothing new was enqueued", e.Key, e.TaskID)
}

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// ConflictError means keys were submitted before with a different request. One key names one
// purchase, as with Stripe's idempotency keys: reusing one for another purchase is an error, never
// a silent duplicate. Submit the new purchase under a new key.
type ConflictError struct{ Keys []string }

func (e *ConflictError) Error() string {
	if len(e.Keys) == 1 {
		return (&tasks.ConflictError{Key: e.Keys[0]}).Error()
	}
	quoted := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		quoted[i] = fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%d idempotency keys were first submitted with a different request (%s); one key names one purchase, so submit them under new keys",
		len(e.Keys), strings.Join(quoted, ", "))
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
