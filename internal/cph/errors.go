package cph

import (
	"errors"
	"fmt"
	"time"
)

// Class says what a failed call means for the money: whether the order can have been placed, and
// so whether sending the purchase again is safe. The outcome table of docs/design.md is the source.
type Class string

const (
	// ClassRetryable: the request provably was not processed (never sent, 429, 503). Safe to retry.
	ClassRetryable Class = "retryable"
	// ClassAuth: the token was refused (401 / APIGW.0301). Refresh it once and retry.
	ClassAuth Class = "auth"
	// ClassRejected: the API refused the order with an error code (4xx). Retrying cannot help.
	ClassRejected Class = "rejected"
	// ClassAmbiguous: the request may have been processed (timeout after sending, reset, 500/502/504).
	// Never re-send before reconciling.
	ClassAmbiguous Class = "ambiguous"
)

// Error is what every failed client call returns. It carries enough to classify, log and report
// the failure without parsing strings, and never a secret.
type Error struct {
	Class      Class
	HTTPStatus int    // 0 when no response arrived
	Code       string // API error code, e.g. CPS.0024 or APIGW.0308
	Message    string // API error message, or a description of the transport failure
	RequestID  string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
	// Throttled marks a 429 / APIGW.0308: retryable, and not the order's fault, so it should not
	// consume the order's retry budget.
	Throttled bool
	// Sent reports whether the request may have reached the server. False means it provably did not.
	Sent bool
	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("cph: %s", e.Class)
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(": HTTP %d", e.HTTPStatus)
	}
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err, and false when err is not (or does not wrap) an *Error.
func ClassOf(err error) (Class, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Class, true
	}
	return "", false
}
