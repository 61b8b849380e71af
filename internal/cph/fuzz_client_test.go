package cph

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseError feeds ParseError arbitrary statuses, headers and bodies: it must never panic,
// always pick one of the four classes, and keep what it takes from the network short and
// printable. header is a block of "Name: value" lines.
func FuzzParseError(f *testing.F) {
	f.Add(400, "", []byte(`{"error_code":"CPS.0024","error_msg":"Invalid count.","request_id":"r"}`))
	f.Add(429, "Retry-After: 5", []byte(`{"error_code":"APIGW.0308","error_msg":"The throttling threshold has been reached"}`))
	f.Add(429, "Retry-After: Wed, 25 Nov 2026 18:02:00 GMT", []byte(nil))
	f.Add(401, "X-Request-Id: abc", []byte(`{"code":"APIGW.0301","message":"Incorrect IAM authentication information"}`))
	f.Add(400, "", []byte(`{"error":{"code":400,"message":"bad"}}`))
	f.Add(403, "", []byte(`{"wrapper":{"code":"CPS.0001","message":"no permission"},"request_id":"x"}`))
	f.Add(502, "", []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
	f.Add(503, "Retry-After: -1", []byte("\x00\x1b[31mcolour\xff"))
	f.Add(0, "", []byte(`{"error_msg":null,"error_code":true}`))
	f.Add(-1, "Retry-After: 99999999999999999999", []byte(`[[[[[[]]]]]]`))

	f.Fuzz(func(t *testing.T, status int, header string, body []byte) {
		h := parseHeaderBlock(header)
		e := ParseError(status, h, body)
		switch e.Class {
		case ClassRetryable, ClassAuth, ClassRejected, ClassAmbiguous:
		default:
			t.Fatalf("class %q", e.Class)
		}
		if e.Message == "" {
			t.Fatal("empty message")
		}
		for _, s := range []struct {
			name  string
			v     string
			limit int
		}{{"message", e.Message, maxMessageLen}, {"code", e.Code, maxCodeLen}, {"request id", e.RequestID, maxRequestIDLen}} {
			if len(s.v) > s.limit {
				t.Fatalf("%s is %d bytes, limit %d", s.name, len(s.v), s.limit)
			}
			if !utf8.ValidString(s.v) || strings.ContainsAny(s.v, "\r\n\t\x00\x1b") {
				t.Fatalf("%s not sanitised: %q", s.name, s.v)
			}
		}
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter %v", e.RetryAfter)
		}
		if e.Throttled && e.Class != ClassRetryable {
			t.Fatalf("throttled but %s", e.Class)
		}
		if !e.Sent || e.HTTPStatus != status {
			t.Fatalf("sent %v status %d", e.Sent, e.HTTPStatus)
		}
		if len(e.Error()) > 1024 {
			t.Fatalf("Error() is %d bytes", len(e.Error()))
		}
	})
}

// parseHeaderBlock reads "Name: value" lines, ignoring what does not parse.
func parseHeaderBlock(s string) http.Header {
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(s + "\r\n\r\n")))
	h, _ := r.ReadMIMEHeader()
	return http.Header(h)
}
