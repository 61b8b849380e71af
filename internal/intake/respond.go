package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"cphpurchase/producer"
)

// The codes of problem responses: one fixed word per kind of failure, for a client to switch on.
const (
	codeMalformed   = "malformed_json"         // 400: the body is not JSON
	codeBadRequest  = "bad_request"            // 400: the request itself is wrong (a header, a parameter)
	codeAuth        = "unauthorized"           // 401
	codeNotFound    = "not_found"              // 404
	codeConflict    = "conflict"               // 409: a key reused for another purchase
	codeTooLarge    = "too_large"              // 413
	codeMediaType   = "unsupported_media_type" // 415
	codeInvalid     = "invalid"                // 422: the order breaks the contract's rules
	codeUnavailable = "unavailable"            // 503: Redis (or the token file) cannot be read
)

// problem is an error response, an RFC 9457 problem document (application/problem+json) whose
// extension members say what the CLI would: the field errors of an invalid order, the key of a
// conflict, the counts of a refused or interrupted batch.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	// Fields lists every problem of an invalid order or batch.
	Fields         []producer.FieldError `json:"fields,omitempty"`
	IdempotencyKey string                `json:"idempotency_key,omitempty"`
	TaskID         string                `json:"task_id,omitempty"`
	// Batch says what became of each order of a batch that was refused or stopped.
	Batch *batchResponse `json:"batch,omitempty"`
}

func writeProblem(w http.ResponseWriter, p *problem) {
	p.Title = http.StatusText(p.Status)
	writeJSON(w, "application/problem+json", p.Status, p)
}

// writeJSON writes v as the response. HTML is not escaped: the readers are programs.
func writeJSON(w http.ResponseWriter, contentType string, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a client that went away cannot be told
}

func writeText(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, body)
}

// readBody reads a POST's JSON body of at most limit bytes. It refuses, as a problem, a body that
// is not declared application/json (415), one over the limit (413), and one that cannot be read.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *problem) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &problem{Status: http.StatusUnsupportedMediaType, Code: codeMediaType,
			Detail: fmt.Sprintf("the body must be JSON, sent as Content-Type: application/json, not %q", r.Header.Get("Content-Type"))}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &problem{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
			Detail: fmt.Sprintf("the body is larger than the limit of %d bytes", limit)}
	case err != nil:
		return nil, &problem{Status: http.StatusBadRequest, Code: codeBadRequest, Detail: "the body could not be read: " + err.Error()}
	}
	return data, nil
}

// invalidProblem reports err, an order's or batch's problems: 400 when the body is not JSON at
// all, 422 when it is JSON that breaks the contract.
func invalidProblem(body []byte, ie *producer.InvalidError) *problem {
	if !json.Valid(body) {
		return &problem{Status: http.StatusBadRequest, Code: codeMalformed, Detail: "the body is not valid JSON", Fields: ie.Fields}
	}
	detail := "the order is invalid; nothing was enqueued"
	if len(ie.Fields) == 1 {
		detail = ie.Fields[0].String() + "; nothing was enqueued"
	}
	return &problem{Status: http.StatusUnprocessableEntity, Code: codeInvalid, Detail: detail, Fields: ie.Fields}
}

// unavailable is the answer when Redis fails: the cause goes to the log, not to the client.
func unavailable(detail string) *problem {
	return &problem{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Detail: detail}
}
