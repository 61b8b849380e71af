package tasks

import (
	"errors"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/strictjson"
)

// Status of a terminal result.
const (
	StatusSucceeded    = "succeeded"
	StatusDeadLettered = "dead_lettered"
)

// ErrorClass is why an order was dead-lettered (docs/contract.md).
type ErrorClass string

// The dead-letter classes.
const (
	ClassInvalid   ErrorClass = "invalid"   // the order breaks the API's rules; no call was made
	ClassRejected  ErrorClass = "rejected"  // the API refused it with an error code
	ClassAuth      ErrorClass = "auth"      // the token was refused even after a refresh
	ClassExhausted ErrorClass = "exhausted" // retries ran out; the order was not placed
	ClassAmbiguous ErrorClass = "ambiguous" // the order may have been placed and could not be confirmed
)

// Result is the one terminal result of an order, as published to the results stream and stored as
// the asynq task result.
type Result struct {
	TaskID         string            `json:"task_id"`
	IdempotencyKey string            `json:"idempotency_key"`
	ProjectID      string            `json:"project_id"`
	Status         string            `json:"status"`
	OrderID        string            `json:"order_id,omitempty"`
	RequestID      string            `json:"request_id,omitempty"`
	ProductID      string            `json:"product_id,omitempty"`
	ServerIDs      []string          `json:"server_ids,omitempty"`
	Reconciled     bool              `json:"reconciled"`
	Attempts       int               `json:"attempts"`
	Error          *ResultError      `json:"error,omitempty"`
	Metadata       map[string]string `json:"metadata"`
	FinishedAt     time.Time         `json:"finished_at"`
}

// ResultError says why an order was dead-lettered.
type ResultError struct {
	Class      ErrorClass              `json:"class"`
	Code       string                  `json:"code,omitempty"`
	HTTPStatus int                     `json:"http_status,omitempty"`
	Message    string                  `json:"message"`
	Fields     []strictjson.FieldError `json:"fields,omitempty"`
	// Candidates are the orders that could be this key's when an ambiguous one cannot be proven:
	// what an operator checks in BSS before replaying or deleting the dead letter.
	Candidates []string `json:"candidate_order_ids,omitempty"`
}

// resultError describes err as the error part of a result of class class.
func resultError(class ErrorClass, err error) *ResultError {
	re := &ResultError{Class: class, Message: err.Error()}
	var fields strictjson.FieldErrors
	if errors.As(err, &fields) {
		re.Fields = fields
		re.Message = "the order is invalid"
		if len(fields) == 1 {
			re.Message = fields[0].String()
		}
	}
	var apiErr *cph.Error
	if errors.As(err, &apiErr) {
		re.Code = apiErr.Code
		re.HTTPStatus = apiErr.HTTPStatus
	}
	var coded *codedError
	if errors.As(err, &coded) {
		re.Code = coded.code
	}
	var cands *candidatesError
	if errors.As(err, &cands) {
		re.Candidates = cands.ids
	}
	return re
}
