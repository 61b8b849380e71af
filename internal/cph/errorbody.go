package cph

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what an error answer can put into an *Error. The text comes from the network (a gateway
// may answer with a whole HTML page), and it ends up in logs, results and dead letters.
const (
	maxMessageLen   = 512 // bytes of Error.Message taken from a response
	maxCodeLen      = 64  // bytes of Error.Code
	maxRequestIDLen = 128 // bytes of Error.RequestID
	maxExcerptInput = 64 << 10
)

// errorBody is what an error answer says about itself.
type errorBody struct {
	code, message, requestID string
}

// Keys under which the API, its gateway and IAM put the parts of an error, most specific first.
var (
	codeKeys      = []string{"error_code", "code"}
	messageKeys   = []string{"error_msg", "error_message", "message", "error"}
	requestIDKeys = []string{"request_id"}
)

// parseErrorBody reads the error formats of docs/cph-api.md:
// {"error_code","error_msg","request_id"}, the gateway's {"code","message"}, either of them one
// level down ({"error":{…}} or any single wrapping object), and anything else as a short printable
// excerpt. It never fails: a body that says nothing useful gives an empty errorBody.
func parseErrorBody(body []byte) errorBody {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return errorBody{message: excerpt(body)}
	}
	b := fieldsOf(top)
	if b.code == "" && b.message == "" {
		if inner := wrapped(top); inner != nil {
			in := fieldsOf(inner)
			b.code, b.message = in.code, in.message
			if b.requestID == "" {
				b.requestID = in.requestID
			}
		}
	}
	if b.code == "" && b.message == "" {
		b.message = excerpt(body)
	}
	return b
}

// fieldsOf picks the code, message and request id out of one JSON object, sanitised and bounded.
func fieldsOf(obj map[string]json.RawMessage) errorBody {
	return errorBody{
		code:      sanitize(scalar(obj, codeKeys), maxCodeLen),
		message:   sanitize(scalar(obj, messageKeys), maxMessageLen),
		requestID: sanitize(scalar(obj, requestIDKeys), maxRequestIDLen),
	}
}

// wrapped returns the object one level down that holds the error: the one under "error", or else
// the only object-valued member of top.
func wrapped(top map[string]json.RawMessage) map[string]json.RawMessage {
	var only map[string]json.RawMessage
	objects := 0
	for key, raw := range top {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			continue
		}
		if key == "error" {
			return obj
		}
		only = obj
		objects++
	}
	if objects == 1 {
		return only
	}
	return nil
}

// scalar returns the first of keys whose value is a string or a number (IAM writes "code": 401),
// as text.
func scalar(obj map[string]json.RawMessage, keys []string) string {
	for _, key := range keys {
		raw, ok := obj[key]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil && n != "" {
			return n.String()
		}
	}
	return ""
}

// excerpt makes a short printable summary of a body that is not the API's JSON: an HTML error page
// of a proxy, a plain-text message. Tags are dropped, entities decoded, and the rest sanitised.
func excerpt(body []byte) string {
	if len(body) > maxExcerptInput {
		body = body[:maxExcerptInput]
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '<' {
		body = stripTags(t)
	}
	return sanitize(html.UnescapeString(string(body)), maxMessageLen)
}

// stripTags drops everything between '<' and '>', keeping the text of an HTML page.
func stripTags(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inTag := false
	for _, c := range b {
		switch {
		case c == '<':
			inTag = true
			out = append(out, ' ')
		case c == '>' && inTag:
			inTag = false
		case !inTag:
			out = append(out, c)
		}
	}
	return out
}

// sanitize keeps printable characters only (no control, format or invalid UTF-8 bytes, which
// could forge log lines or hide text), folds runs of white space into one space, and cuts the
// result to at most limit bytes, marking a cut with "…".
func sanitize(s string, limit int) string {
	const ellipsis = "…"
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > limit {
			break
		}
	}
	out := b.String()
	if len(out) <= limit {
		return out
	}
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return strings.TrimRight(out[:max(cut, 0)], " ") + ellipsis
}

// headerRequestID is the request id a gateway puts in the X-Request-Id header, sanitised.
func headerRequestID(h http.Header) string {
	return sanitize(h.Get("X-Request-Id"), maxRequestIDLen)
}

// statusMessage is the message of an error answer whose body said nothing.
func statusMessage(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "no error message"
}
