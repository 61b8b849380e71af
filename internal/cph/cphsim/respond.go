package cphsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// apiError is the error body of the CPH API and its gateway.
type apiError struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
	RequestID string `json:"request_id"`
}

// exchange is one API call in progress: where to answer, and the Call record being filled in.
// Every answer goes through it so that the record always says what the client got.
type exchange struct {
	w    http.ResponseWriter
	r    *http.Request
	call Call
	// dropped is the connection drop took over; ServeHTTP closes it after recording the call, so
	// that a client who saw the connection close finds the call recorded.
	dropped io.Closer
}

// reply writes body as JSON with status, and the X-Request-Id header that matches the body's
// request_id.
func (x *exchange) reply(status int, body any) {
	b, err := json.Marshal(body)
	if err != nil { // only our own wire types get here
		panic("cphsim: encoding a response: " + err.Error())
	}
	h := x.w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("X-Request-Id", x.call.RequestID)
	x.w.WriteHeader(status)
	x.w.Write(append(b, '\n'))
	x.call.Status = status
}

// fail answers with the API's error body.
func (x *exchange) fail(status int, code, msg string) {
	x.call.Code = code
	x.reply(status, apiError{ErrorCode: code, ErrorMsg: msg, RequestID: x.call.RequestID})
}

// throttle answers 429 APIGW.0308 with Retry-After, as the API gateway does.
func (x *exchange) throttle(retryAfterSeconds int64) {
	x.w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds, 10))
	x.fail(http.StatusTooManyRequests, codeThrottled, msgThrottled)
}

// drop takes the connection over without writing a response, for ServeHTTP to close once the
// call is recorded: the client sees EOF or a reset, as it would when a load balancer or the
// network dies mid-call. Where the connection cannot be taken over (HTTP/2), aborting the handler
// has the same effect on the client.
func (x *exchange) drop() {
	x.call.Status = 0
	conn, _, err := http.NewResponseController(x.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	x.dropped = conn
}

// maxBody bounds what the simulator reads of a request body; real purchase bodies are < 4 KiB.
const maxBody = 1 << 20

// readBody reads the whole body (so that a client that goes away later is noticed), answering
// 400 when it is too large. ok is false when the call is over.
func readBody(x *exchange) (raw []byte, ok bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(x.w, x.r.Body, maxBody))
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			x.fail(http.StatusBadRequest, codeInvalidParam, "The request body is too large")
		}
		return nil, false // otherwise the client went away mid-body: nobody to answer
	}
	return raw, true
}
