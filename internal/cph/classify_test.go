package cph

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseError(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		class     Class
		code      string
		message   string // substring
		requestID string
		throttled bool
		retry     time.Duration
	}{
		{
			name: "cps error body", status: 400,
			body:  `{"error_code":"CPS.0024","error_msg":"Invalid count.","request_id":"r-1"}`,
			class: ClassRejected, code: "CPS.0024", message: "Invalid count.", requestID: "r-1",
		},
		{
			name: "gateway code/message", status: 403,
			body:  `{"code":"CPS.0001","message":"No permission."}`,
			class: ClassRejected, code: "CPS.0001", message: "No permission.",
		},
		{
			name: "nested under error, request id from header", status: 400,
			header: hdr("X-Request-Id", "hdr-7"),
			body:   `{"error":{"code":"CPS.0006","message":"Account in arrears."}}`,
			class:  ClassRejected, code: "CPS.0006", message: "arrears", requestID: "hdr-7",
		},
		{
			name: "nested under any single object, request id at top", status: 400,
			body:  `{"request_id":"top-1","badRequest":{"error_code":"CPS.0028","error_msg":"Invalid flavor."}}`,
			class: ClassRejected, code: "CPS.0028", message: "Invalid flavor.", requestID: "top-1",
		},
		{
			name: "body request id wins over header", status: 400,
			header: hdr("X-Request-Id", "hdr"),
			body:   `{"error_code":"CPS.0031","error_msg":"bad band_width","request_id":"body"}`,
			class:  ClassRejected, code: "CPS.0031", requestID: "body",
		},
		{
			name: "IAM style numeric code", status: 400,
			body:  `{"error":{"code":400,"message":"Bad request","title":"Bad Request"}}`,
			class: ClassRejected, code: "400", message: "Bad request",
		},
		{
			name: "429 with Retry-After seconds", status: 429,
			header: hdr("Retry-After", "7"),
			body:   `{"error_code":"APIGW.0308","error_msg":"The throttling threshold has been reached"}`,
			class:  ClassRetryable, code: "APIGW.0308", throttled: true, retry: 7 * time.Second,
		},
		{
			name: "APIG.0308 without 429", status: 400,
			body:  `{"error_code":"APIG.0308","error_msg":"throttled"}`,
			class: ClassRetryable, code: "APIG.0308", throttled: true,
		},
		{
			name: "429 without body", status: 429,
			class: ClassRetryable, throttled: true, message: "Too Many Requests",
		},
		{
			name: "401", status: 401,
			body:  `{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}`,
			class: ClassAuth, code: "APIGW.0301",
		},
		{
			name: "APIGW.0301 under 403", status: 403,
			body:  `{"code":"APIGW.0301","message":"token expired"}`,
			class: ClassAuth, code: "APIGW.0301",
		},
		{
			name: "503 retryable", status: 503, header: hdr("Retry-After", "3"),
			body:  `{"error_code":"CPS.0003","error_msg":"Internal error, retry later"}`,
			class: ClassRetryable, code: "CPS.0003", retry: 3 * time.Second,
		},
		{name: "500", status: 500, body: `{"error_code":"CPS.0003","error_msg":"x"}`, class: ClassAmbiguous, code: "CPS.0003"},
		{name: "502 html", status: 502, body: "<html><head><title>502 Bad Gateway</title></head>\n<body><h1>502 Bad Gateway</h1><hr>nginx &amp; co</body></html>", class: ClassAmbiguous, message: "502 Bad Gateway 502 Bad Gateway nginx & co"},
		{name: "504 empty", status: 504, class: ClassAmbiguous, message: "Gateway Timeout"},
		{name: "599", status: 599, class: ClassAmbiguous},
		{name: "404 plain text", status: 404, body: "not found\r\n", class: ClassRejected, message: "not found"},
		{name: "302 redirect", status: 302, class: ClassRejected},
		{name: "200 is not an error", status: 200, class: ClassAmbiguous},
		{name: "JSON without known fields", status: 400, body: `{"foo":"bar"}`, class: ClassRejected, message: `{"foo":"bar"}`},
		{name: "JSON array", status: 500, body: `[1,2]`, class: ClassAmbiguous, message: "[1,2]"},
		{name: "string error", status: 400, body: `{"error":"invalid_request"}`, class: ClassRejected, message: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := ParseError(tt.status, h, []byte(tt.body))
			if e.Class != tt.class {
				t.Errorf("class = %s, want %s (%v)", e.Class, tt.class, e)
			}
			if e.HTTPStatus != tt.status || !e.Sent {
				t.Errorf("status %d sent %v", e.HTTPStatus, e.Sent)
			}
			if tt.code != "" && e.Code != tt.code {
				t.Errorf("code = %q, want %q", e.Code, tt.code)
			}
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.message)
			}
			if e.Message == "" {
				t.Error("empty message")
			}
			if tt.requestID != "" && e.RequestID != tt.requestID {
				t.Errorf("request id = %q, want %q", e.RequestID, tt.requestID)
			}
			if e.Throttled != tt.throttled {
				t.Errorf("throttled = %v", e.Throttled)
			}
			if e.RetryAfter != tt.retry {
				t.Errorf("retry after = %v, want %v", e.RetryAfter, tt.retry)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{" 12 ", 12 * time.Second},
		{"-5", 0},
		{"soon", 0},
		{"99999999999999999999", maxRetryAfter},
		{"-99999999999999999999", 0},
		{"9223372036", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"Wed, 25 Nov 2026 18:02:00 GMT", 2 * time.Minute},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(100 * 24 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// The HTTP-date form through ParseError, which uses the wall clock: a date an hour ahead must give
// about an hour, whatever the machine's speed.
func TestParseErrorRetryAfterDate(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	e := ParseError(429, h, nil)
	if e.RetryAfter < 58*time.Minute || e.RetryAfter > time.Hour {
		t.Errorf("RetryAfter = %v, want about an hour", e.RetryAfter)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"plain", 10, "plain"},
		{"  a \t\r\n b  ", 10, "a b"},
		{"fake\nlog line\x1b[31m", 40, "fake log line [31m"},
		{"bad\xffutf8\u202e", 20, "bad utf8"},
		{"0123456789", 10, "0123456789"},
		{"0123456789a", 10, "0123456…"},
		{"ééééé", 8, "éé…"},
	}
	for _, tt := range tests {
		got := sanitize(tt.in, tt.limit)
		if got != tt.want {
			t.Errorf("sanitize(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
		if len(got) > tt.limit {
			t.Errorf("sanitize(%q, %d) is %d bytes", tt.in, tt.limit, len(got))
		}
	}
}

func TestParseErrorBoundsHugeBody(t *testing.T) {
	body := "<html>" + strings.Repeat("<p>spam spam</p>\x00", 200000)
	e := ParseError(502, http.Header{"X-Request-Id": {strings.Repeat("r", 1000)}}, []byte(body))
	if len(e.Message) > maxMessageLen || len(e.RequestID) > maxRequestIDLen {
		t.Errorf("message %d bytes, request id %d bytes", len(e.Message), len(e.RequestID))
	}
	long := `{"error_code":"` + strings.Repeat("C", 500) + `","error_msg":"` + strings.Repeat("m", 5000) + `"}`
	e = ParseError(400, http.Header{}, []byte(long))
	if len(e.Code) > maxCodeLen || len(e.Message) > maxMessageLen {
		t.Errorf("code %d bytes, message %d bytes", len(e.Code), len(e.Message))
	}
}
