package cph

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// API gateway codes with a meaning of their own (docs/cph-api.md). Both spellings of the gateway
// prefix occur in the wild.
var (
	throttleCodes = []string{"APIGW.0308", "APIG.0308"}
	authCodes     = []string{"APIGW.0301", "APIG.0301"}
)

// maxRetryAfter caps a server's Retry-After, so that a garbled header cannot park a task for years
// or overflow a time.Duration.
const maxRetryAfter = 24 * time.Hour

// ParseError turns an HTTP error answer into an *Error: it reads the body's error code, message
// and request id (every format of docs/cph-api.md, see parseErrorBody), takes the request id from
// X-Request-Id when the body has none, and classifies the answer by the outcome table of
// docs/design.md:
//
//   - 429, APIGW.0308 / APIG.0308: retryable and Throttled, with the server's Retry-After;
//   - 401, APIGW.0301: auth;
//   - 503: retryable (the service did not take the request);
//   - 500, 502, 504 and every other 5xx: ambiguous (the order may exist);
//   - every other 4xx, and 3xx: rejected (retrying the same request cannot help);
//   - anything else (1xx, 2xx, nonsense): ambiguous, the safe default for money.
//
// It never fails and never panics; Message is at most 512 bytes of printable text. It is exported
// so that the fuzz target, the simulator's tests and callers with their own transport share it.
func ParseError(status int, header http.Header, body []byte) *Error {
	b := parseErrorBody(body)
	e := &Error{
		HTTPStatus: status,
		Code:       b.code,
		Message:    b.message,
		RequestID:  b.requestID,
		Sent:       true,
	}
	if e.Message == "" {
		e.Message = statusMessage(status)
	}
	if e.RequestID == "" {
		e.RequestID = headerRequestID(header)
	}
	e.Class, e.Throttled = classify(status, e.Code)
	e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	return e
}

// classify is docs/design.md's outcome table for an answer with a status and an API error code.
func classify(status int, code string) (class Class, throttled bool) {
	switch {
	case status == http.StatusTooManyRequests || hasCode(code, throttleCodes):
		return ClassRetryable, true
	case status == http.StatusUnauthorized || hasCode(code, authCodes):
		return ClassAuth, false
	case status == http.StatusServiceUnavailable:
		return ClassRetryable, false
	case status >= 500 && status <= 599:
		return ClassAmbiguous, false
	case status >= 300 && status <= 499:
		return ClassRejected, false
	default:
		return ClassAmbiguous, false
	}
}

func hasCode(code string, codes []string) bool {
	for _, c := range codes {
		if strings.EqualFold(code, c) {
			return true
		}
	}
	return false
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), relative
// to now. Absent, unreadable or past values give 0; large ones are capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	secs, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err == nil:
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	case errors.Is(err, strconv.ErrRange) && v[0] != '-':
		d = maxRetryAfter // a number of seconds too large to hold
	default:
		if at, err := http.ParseTime(v); err == nil {
			d = at.Sub(now)
		}
	}
	return min(max(d, 0), maxRetryAfter)
}

// transportError classifies a call that got no HTTP answer. sent says whether the whole request
// was written: if not, the server cannot have acted on it and a retry is safe; if it was, the
// order may exist.
func transportError(err error, sent bool) *Error {
	what := describeTransportError(err)
	if !sent {
		return &Error{Class: ClassRetryable, Message: "request not sent: " + what, Err: err}
	}
	return &Error{Class: ClassAmbiguous, Message: "request sent, no answer: " + what, Sent: true, Err: err}
}

func describeTransportError(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: " + err.Error()
	case errors.Is(err, context.Canceled):
		return "cancelled: " + err.Error()
	default:
		return err.Error()
	}
}
