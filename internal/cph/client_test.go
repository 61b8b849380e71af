package cph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testPurchaseRequest() *PurchaseRequest {
	return &PurchaseRequest{
		ServerName:      "batch-17",
		ServerModelName: "physical.rx1.xlarge",
		PhoneModelName:  "rx1.cp.c15.d46.e1v1",
		ImageID:         "1234567890abcdef1234567890abcdef",
		Count:           intp(1),
		ExtendParam:     &ExtendParam{ChargingMode: intp(0), PeriodType: intp(2), PeriodNum: intp(1), IsAutoPay: intp(1)},
		TenantVPCID:     "0a4e6f6c-2a3b-4c5d-8e9f-0a1b2c3d4e5f",
		NICs:            []NIC{{SubnetID: "1b5f7a7d-3b4c-5d6e-9fa0-1b2c3d4e5f60"}},
		PublicIP:        &PublicIP{EIP: &EIP{Type: "5_bgp"}},
		BandWidth:       &BandWidth{BandWidthChargeMode: intp(0), BandWidthShareType: intp(0), BandWidthSize: intp(100)},
	}
}

// newTestServer serves h and counts the requests it gets.
func newTestServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newTestClient(t *testing.T, endpoint string, tokens TokenSource, opts ClientOptions) *Client {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute // generous: only the timeout test wants a short one
	}
	c, err := NewClient(endpoint, tokens, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// respond reads the whole request, as a real server does, then answers with status, headers and
// body.
func respond(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// hijack reads the whole request, then runs raw on the bare connection and closes it.
func hijack(t *testing.T, raw func(net.Conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		if raw != nil {
			raw(conn)
		}
	}
}

// wantError is what a test expects of an *Error; zero fields other than class and sent are not
// checked.
type wantError struct {
	class     Class
	sent      bool
	status    int
	code      string
	message   string // substring
	requestID string
	throttled bool
	retry     time.Duration
	is        error // errors.Is target
}

func checkError(t *testing.T, err error, want wantError) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *cph.Error", err, err)
	}
	if e.Class != want.class || e.Sent != want.sent {
		t.Errorf("class %s sent %v, want %s sent %v (%v)", e.Class, e.Sent, want.class, want.sent, e)
	}
	if e.HTTPStatus != want.status {
		t.Errorf("status %d, want %d", e.HTTPStatus, want.status)
	}
	if want.code != "" && e.Code != want.code {
		t.Errorf("code %q, want %q", e.Code, want.code)
	}
	if !strings.Contains(e.Message, want.message) {
		t.Errorf("message %q, want it to contain %q", e.Message, want.message)
	}
	if want.requestID != "" && e.RequestID != want.requestID {
		t.Errorf("request id %q, want %q", e.RequestID, want.requestID)
	}
	if e.Throttled != want.throttled {
		t.Errorf("throttled %v, want %v", e.Throttled, want.throttled)
	}
	if want.retry >= 0 && e.RetryAfter != want.retry {
		t.Errorf("RetryAfter %v, want %v", e.RetryAfter, want.retry)
	}
	if want.is != nil && !errors.Is(err, want.is) {
		t.Errorf("error %v is not %v", err, want.is)
	}
	return e
}

func TestPurchaseSuccess(t *testing.T) {
	srv, calls := newTestServer(t, respond(200,
		`{"request_id":"rq-1","order_id":"CS2011111111ABCD","product_id":"prod-1","server_ids":["s-1","s-2"]}`))
	c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
	got, err := c.Purchase(context.Background(), "proj", testPurchaseRequest())
	if err != nil {
		t.Fatal(err)
	}
	if got.OrderID != "CS2011111111ABCD" || got.RequestID != "rq-1" || got.ProductID != "prod-1" ||
		len(got.ServerIDs) != 2 || got.ServerIDs[1] != "s-2" {
		t.Errorf("answer %+v", got)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("calls %d", n)
	}
}

// TestPurchaseOutcomes covers docs/design.md's outcome table for every answer a server can give.
func TestPurchaseOutcomes(t *testing.T) {
	in90s := func() string { return time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name    string
		handler func(t *testing.T) http.HandlerFunc
		want    wantError
		check   func(t *testing.T, e *Error)
	}{
		{
			name:    "200 without order_id",
			handler: func(*testing.T) http.HandlerFunc { return respond(200, `{"request_id":"rq-2","server_ids":[]}`) },
			want:    wantError{class: ClassAmbiguous, sent: true, status: 200, message: "order_id", requestID: "rq-2"},
		},
		{
			name:    "200 without order_id, request id in the header",
			handler: func(*testing.T) http.HandlerFunc { return respond(200, `{}`, "X-Request-Id", "hdr-2") },
			want:    wantError{class: ClassAmbiguous, sent: true, status: 200, message: "order_id", requestID: "hdr-2"},
		},
		{
			name:    "200 unparsable",
			handler: func(*testing.T) http.HandlerFunc { return respond(200, `{"order_id":`, "X-Request-Id", "hdr-3") },
			want:    wantError{class: ClassAmbiguous, sent: true, status: 200, message: "unreadable", requestID: "hdr-3"},
		},
		{
			name:    "200 html",
			handler: func(*testing.T) http.HandlerFunc { return respond(200, "<html><body>Welcome</body></html>") },
			want:    wantError{class: ClassAmbiguous, sent: true, status: 200, message: "Welcome"},
		},
		{
			name: "200 whose body breaks off",
			handler: func(t *testing.T) http.HandlerFunc {
				return hijack(t, func(c net.Conn) {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"order_id\":\"CS")
				})
			},
			want: wantError{class: ClassAmbiguous, sent: true, status: 200, message: "reading the answer", is: io.ErrUnexpectedEOF},
		},
		{
			name: "400 CPS error",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(400, `{"error_code":"CPS.0024","error_msg":"Invalid count.","request_id":"rq-4"}`)
			},
			want: wantError{class: ClassRejected, sent: true, status: 400, code: "CPS.0024", message: "Invalid count.", requestID: "rq-4"},
		},
		{
			name: "402 arrears, gateway shape",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(402, `{"code":"CPS.0006","message":"Account in arrears."}`, "X-Request-Id", "hdr-5")
			},
			want: wantError{class: ClassRejected, sent: true, status: 402, code: "CPS.0006", message: "arrears", requestID: "hdr-5"},
		},
		{
			name: "400 nested under error",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(400, `{"error":{"code":"CPS.0030","message":"Invalid image."},"request_id":"rq-6"}`)
			},
			want: wantError{class: ClassRejected, sent: true, status: 400, code: "CPS.0030", message: "Invalid image.", requestID: "rq-6"},
		},
		{
			name: "403 nested under a single wrapper",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(403, `{"forbidden":{"error_code":"CPS.0001","error_msg":"No permission."}}`)
			},
			want: wantError{class: ClassRejected, sent: true, status: 403, code: "CPS.0001", message: "No permission."},
		},
		{
			name: "429 with Retry-After seconds",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(429, `{"error_code":"APIGW.0308","error_msg":"The throttling threshold has been reached"}`, "Retry-After", "7")
			},
			want: wantError{class: ClassRetryable, sent: true, status: 429, code: "APIGW.0308", throttled: true, retry: 7 * time.Second},
		},
		{
			name: "429 with Retry-After date",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(429, `{"code":"APIG.0308","message":"throttled"}`, "Retry-After", in90s())
			},
			want: wantError{class: ClassRetryable, sent: true, status: 429, code: "APIG.0308", throttled: true, retry: -1},
			check: func(t *testing.T, e *Error) {
				if e.RetryAfter < 60*time.Second || e.RetryAfter > 90*time.Second {
					t.Errorf("RetryAfter %v, want about 90s", e.RetryAfter)
				}
			},
		},
		{
			name: "APIGW.0308 under another status",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(400, `{"error_code":"APIGW.0308","error_msg":"throttled"}`)
			},
			want: wantError{class: ClassRetryable, sent: true, status: 400, code: "APIGW.0308", throttled: true},
		},
		{
			name: "503",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(503, `{"error_code":"CPS.0003","error_msg":"retry later"}`, "Retry-After", "2")
			},
			want: wantError{class: ClassRetryable, sent: true, status: 503, code: "CPS.0003", retry: 2 * time.Second},
		},
		{
			name: "500",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(500, `{"error_code":"CPS.0003","error_msg":"internal"}`)
			},
			want: wantError{class: ClassAmbiguous, sent: true, status: 500, code: "CPS.0003"},
		},
		{
			name: "502 html page",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(502, "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>")
			},
			want: wantError{class: ClassAmbiguous, sent: true, status: 502, message: "502 Bad Gateway nginx"},
		},
		{
			name:    "504 empty",
			handler: func(*testing.T) http.HandlerFunc { return respond(504, "") },
			want:    wantError{class: ClassAmbiguous, sent: true, status: 504, message: "Gateway Timeout"},
		},
		{
			name: "302 is not followed",
			handler: func(*testing.T) http.HandlerFunc {
				return respond(302, "", "Location", "http://elsewhere.invalid/v2/proj/cloud-phone/servers")
			},
			want: wantError{class: ClassRejected, sent: true, status: 302},
		},
		{
			name:    "connection closed after the request was read",
			handler: func(t *testing.T) http.HandlerFunc { return hijack(t, nil) },
			want:    wantError{class: ClassAmbiguous, sent: true, message: "request sent, no answer"},
		},
		{
			name: "garbage instead of HTTP",
			handler: func(t *testing.T) http.HandlerFunc {
				return hijack(t, func(c net.Conn) { _, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n") })
			},
			want: wantError{class: ClassAmbiguous, sent: true, message: "request sent, no answer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := newTestServer(t, tt.handler(t))
			c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
			got, err := c.Purchase(context.Background(), "proj", testPurchaseRequest())
			if got != nil {
				t.Errorf("answer %+v alongside error", got)
			}
			e := checkError(t, err, tt.want)
			if tt.check != nil {
				tt.check(t, e)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
		})
	}
}

func TestPurchaseTimeoutAfterSendIsAmbiguous(t *testing.T) {
	release := make(chan struct{})
	srv, _ := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select { // hang until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{Timeout: 200 * time.Millisecond})
	_, err := c.Purchase(context.Background(), "proj", testPurchaseRequest())
	checkError(t, err, wantError{class: ClassAmbiguous, sent: true, message: "timed out", is: context.DeadlineExceeded})
}

func TestPurchaseCancelledAfterSendIsAmbiguous(t *testing.T) {
	arrived := make(chan struct{})
	srv, _ := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done()
	})
	c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Purchase(ctx, "proj", testPurchaseRequest())
	checkError(t, err, wantError{class: ClassAmbiguous, sent: true, message: "cancelled", is: context.Canceled})
}

// failingTokens is a TokenSource that always fails.
type failingTokens struct{}

func (failingTokens) Token(context.Context) (Secret, error) { return "", errors.New("IAM unreachable") }
func (failingTokens) Invalidate(Secret)                     {}

func TestPurchaseNotSent(t *testing.T) {
	refused := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}
	dnsFailure := &http.Client{Transport: &http.Transport{
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
		},
	}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name   string
		server func(t *testing.T) (endpoint string, calls *atomic.Int32)
		tokens TokenSource
		opts   ClientOptions
		ctx    context.Context
		want   wantError
	}{
		{
			name:   "connection refused",
			server: func(t *testing.T) (string, *atomic.Int32) { return refused(t), new(atomic.Int32) },
			want:   wantError{class: ClassRetryable, message: "request not sent"},
		},
		{
			name:   "DNS failure",
			server: func(t *testing.T) (string, *atomic.Int32) { return "http://cph.example.invalid", new(atomic.Int32) },
			opts:   ClientOptions{HTTPClient: dnsFailure},
			want:   wantError{class: ClassRetryable, message: "no such host"},
		},
		{
			name: "TLS failure (untrusted certificate)",
			server: func(t *testing.T) (string, *atomic.Int32) {
				var calls atomic.Int32
				srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
				srv.Config.ErrorLog = discardLogger()
				t.Cleanup(srv.Close)
				return srv.URL, &calls
			},
			want: wantError{class: ClassRetryable, message: "certificate"},
		},
		{
			name: "context done before sending",
			server: func(t *testing.T) (string, *atomic.Int32) {
				srv, calls := newTestServer(t, respond(200, `{"order_id":"x"}`))
				return srv.URL, calls
			},
			ctx:  cancelled,
			want: wantError{class: ClassRetryable, message: "request not sent", is: context.Canceled},
		},
		{
			name: "token source fails",
			server: func(t *testing.T) (string, *atomic.Int32) {
				srv, calls := newTestServer(t, respond(200, `{"order_id":"x"}`))
				return srv.URL, calls
			},
			tokens: failingTokens{},
			want:   wantError{class: ClassAuth, message: "IAM unreachable"},
		},
		{
			name: "token source fails with the context done",
			server: func(t *testing.T) (string, *atomic.Int32) {
				srv, calls := newTestServer(t, respond(200, `{"order_id":"x"}`))
				return srv.URL, calls
			},
			tokens: failingTokens{},
			ctx:    cancelled,
			want:   wantError{class: ClassRetryable, message: "request not sent"},
		},
		{
			name: "empty static token",
			server: func(t *testing.T) (string, *atomic.Int32) {
				srv, calls := newTestServer(t, respond(200, `{"order_id":"x"}`))
				return srv.URL, calls
			},
			tokens: StaticToken(""),
			want:   wantError{class: ClassAuth, message: "empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint, calls := tt.server(t)
			tokens := tt.tokens
			if tokens == nil {
				tokens = StaticToken("tok")
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			c := newTestClient(t, endpoint, tokens, tt.opts)
			_, err := c.Purchase(ctx, "proj", testPurchaseRequest())
			checkError(t, err, tt.want)
			if n := calls.Load(); n != 0 {
				t.Errorf("server saw %d requests, want 0", n)
			}
		})
	}
}

// rotatingTokens hands out tok-1, then tok-2 once tok-1 is invalidated, and so on.
type rotatingTokens struct {
	mu          sync.Mutex
	n           int
	invalidated []string
}

func (r *rotatingTokens) Token(context.Context) (Secret, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Secret(fmt.Sprintf("tok-%d", r.n+1)), nil
}

func (r *rotatingTokens) Invalidate(tok Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, tok.Reveal())
	if tok.Reveal() == fmt.Sprintf("tok-%d", r.n+1) {
		r.n++
	}
}

func TestPurchaseRefreshesTokenOnce(t *testing.T) {
	unauthorized := `{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: token expired"}`
	tests := []struct {
		name        string
		accept      string // the token the server accepts; "" accepts none
		refusal     http.HandlerFunc
		tokens      func() TokenSource
		wantCalls   int32
		wantSeen    []string
		wantErr     *wantError
		invalidated []string
	}{
		{
			name: "401 then success with a fresh token", accept: "tok-2",
			refusal: respond(401, unauthorized), wantCalls: 2,
			wantSeen: []string{"tok-1", "tok-2"}, invalidated: []string{"tok-1"},
		},
		{
			name: "APIGW.0301 under 403 then success", accept: "tok-2",
			refusal: respond(403, `{"code":"APIGW.0301","message":"token expired"}`), wantCalls: 2,
			wantSeen: []string{"tok-1", "tok-2"}, invalidated: []string{"tok-1"},
		},
		{
			name:    "401 twice stops",
			refusal: respond(401, unauthorized), wantCalls: 2,
			wantSeen: []string{"tok-1", "tok-2"}, invalidated: []string{"tok-1", "tok-2"},
			wantErr: &wantError{class: ClassAuth, sent: true, status: 401, code: "APIGW.0301", message: "token expired"},
		},
		{
			name:    "static token: 401 twice",
			refusal: respond(401, unauthorized), wantCalls: 2,
			tokens:   func() TokenSource { return StaticToken("tok-static") },
			wantSeen: []string{"tok-static", "tok-static"},
			wantErr:  &wantError{class: ClassAuth, sent: true, status: 401, code: "APIGW.0301"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			srv, calls := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				tok := r.Header.Get("X-Auth-Token")
				mu.Lock()
				seen = append(seen, tok)
				mu.Unlock()
				if tt.accept != "" && tok == tt.accept {
					respond(200, `{"order_id":"CS1","server_ids":["s-1"]}`)(w, r)
					return
				}
				tt.refusal(w, r)
			})
			rot := &rotatingTokens{}
			var tokens TokenSource = rot
			if tt.tokens != nil {
				tokens = tt.tokens()
			}
			c := newTestClient(t, srv.URL, tokens, ClientOptions{})
			got, err := c.Purchase(context.Background(), "proj", testPurchaseRequest())
			if tt.wantErr == nil {
				if err != nil || got.OrderID != "CS1" {
					t.Fatalf("Purchase = %+v, %v", got, err)
				}
			} else {
				checkError(t, err, *tt.wantErr)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", n, tt.wantCalls)
			}
			if fmt.Sprint(seen) != fmt.Sprint(tt.wantSeen) {
				t.Errorf("tokens sent %v, want %v", seen, tt.wantSeen)
			}
			if tt.tokens == nil && fmt.Sprint(rot.invalidated) != fmt.Sprint(tt.invalidated) {
				t.Errorf("invalidated %v, want %v", rot.invalidated, tt.invalidated)
			}
		})
	}
}

func TestPurchaseResendWaitsForBeforeResend(t *testing.T) {
	// The gateway counts the refused call and the re-send alike: the worker's rate limit must
	// see both, so the re-send waits for BeforeResend, and does not happen when it fails.
	unauthorized := respond(401, `{"error_code":"APIGW.0301","error_msg":"token expired"}`)
	tests := []struct {
		name      string
		hookErr   error
		wantCalls int32
		wantErr   *wantError
	}{
		{name: "re-sent after the hook", wantCalls: 2},
		{name: "the hook refuses", hookErr: errors.New("rate limiter: context deadline exceeded"), wantCalls: 1,
			wantErr: &wantError{class: ClassRetryable, message: "rate limiter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Auth-Token") == "tok-2" {
					respond(200, `{"order_id":"CS1","server_ids":["s-1"]}`)(w, r)
					return
				}
				unauthorized(w, r)
			})
			var hooked []int32 // requests the server had seen when the hook ran
			c := newTestClient(t, srv.URL, &rotatingTokens{}, ClientOptions{BeforeResend: func(context.Context) error {
				hooked = append(hooked, calls.Load())
				return tt.hookErr
			}})
			got, err := c.Purchase(context.Background(), "proj", testPurchaseRequest())
			if tt.wantErr == nil {
				if err != nil || got.OrderID != "CS1" {
					t.Fatalf("Purchase = %+v, %v", got, err)
				}
			} else {
				checkError(t, err, *tt.wantErr)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", n, tt.wantCalls)
			}
			if fmt.Sprint(hooked) != "[1]" {
				t.Errorf("hook ran when the server had seen %v requests, want once, after the first", hooked)
			}
		})
	}
}

func TestPurchaseRequestShape(t *testing.T) {
	type seen struct {
		method, path, query string
		header              http.Header
		body                []byte
	}
	got := make(chan seen, 1)
	srv, _ := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body}
		respond(200, `{"order_id":"CS1"}`)(w, r)
	})
	c := newTestClient(t, srv.URL+"/gateway/", StaticToken("tok-shape"), ClientOptions{UserAgent: "test-agent/1"})
	req := testPurchaseRequest()
	if _, err := c.Purchase(context.Background(), "proj/../x y", req); err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s.method != http.MethodPost || s.path != "/gateway/v2/proj%2F..%2Fx%20y/cloud-phone/servers" || s.query != "" {
		t.Errorf("request line %s %s?%s", s.method, s.path, s.query)
	}
	for k, v := range map[string]string{
		"X-Auth-Token": "tok-shape", "Content-Type": "application/json", "User-Agent": "test-agent/1",
	} {
		if s.header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, s.header.Get(k), v)
		}
	}
	want, _ := json.Marshal(req)
	if string(s.body) != string(want) {
		t.Errorf("body %s, want %s", s.body, want)
	}

	// The defaults.
	c = newTestClient(t, srv.URL, StaticToken("tok-shape"), ClientOptions{})
	if _, err := c.Purchase(context.Background(), "proj", req); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.header.Get("User-Agent") != DefaultUserAgent || s.path != "/v2/proj/cloud-phone/servers" {
		t.Errorf("default request: %s, User-Agent %q", s.path, s.header.Get("User-Agent"))
	}
}

func TestClientRefusesBadInputWithoutSending(t *testing.T) {
	srv, calls := newTestServer(t, respond(200, `{"order_id":"x"}`))
	c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
	ctx := context.Background()
	for _, project := range []string{"", ".", ".."} {
		_, err := c.Purchase(ctx, project, testPurchaseRequest())
		checkError(t, err, wantError{class: ClassRejected, message: "path segment"})
		_, err = c.ListServers(ctx, project, ListFilter{})
		checkError(t, err, wantError{class: ClassRejected, message: "path segment"})
		_, err = c.GetServer(ctx, "proj", project)
		checkError(t, err, wantError{class: ClassRejected, message: "path segment"})
	}
	_, err := c.Purchase(ctx, "proj", nil)
	checkError(t, err, wantError{class: ClassRejected, message: "nil"})
	if n := calls.Load(); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
}

func TestNewClientValidates(t *testing.T) {
	tok := StaticToken("tok")
	for _, tt := range []struct {
		endpoint string
		tokens   TokenSource
		opts     ClientOptions
		want     string
	}{
		{"", tok, ClientOptions{}, "endpoint"},
		{"cph.example.com", tok, ClientOptions{}, "endpoint"},
		{"ftp://cph.example.com", tok, ClientOptions{}, "endpoint"},
		{"https://", tok, ClientOptions{}, "no host"},
		{"https://cph.example.com/?x=1", tok, ClientOptions{}, "query"},
		{"https://user:hunter2@cph.example.com", tok, ClientOptions{}, "credentials"},
		{"https://cph example.com", tok, ClientOptions{}, "endpoint"},
		{"https://cph.example.com", nil, ClientOptions{}, "TokenSource"},
		{"https://cph.example.com", tok, ClientOptions{Timeout: -time.Second}, "timeout"},
	} {
		_, err := NewClient(tt.endpoint, tt.tokens, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewClient(%q): %v, want an error about %s", tt.endpoint, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if _, err := NewClient("http://127.0.0.1:1/prefix", tok, ClientOptions{}); err != nil {
		t.Errorf("good endpoint: %v", err)
	}
}

func TestListServers(t *testing.T) {
	gotQuery := make(chan string, 1)
	srv, _ := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.EscapedPath() != "/v1/proj/cloud-phone/servers" {
			http.Error(w, "wrong call", http.StatusNotFound)
			return
		}
		gotQuery <- r.URL.RawQuery
		respond(200, `{"request_id":"rq","count":1,"servers":[{"server_id":"s-1","server_name":"batch-17-0001",
			"status":5,"create_time":"2026-11-25T18:00:00Z","metadata":{"order_id":"CS1","product_id":"p-1"}}]}`)(w, r)
	})
	c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
	since := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	list, err := c.ListServers(context.Background(), "proj", ListFilter{
		ServerName: "batch 17", CreateSince: since, CreateUntil: since.Add(time.Hour), Offset: 100, Limit: 500,
	})
	if err != nil {
		t.Fatal(err)
	}
	if q := <-gotQuery; q != "create_since=1795626000&create_until=1795629600&limit=100&offset=100&server_name=batch+17" {
		t.Errorf("query %s", q)
	}
	if list.Count != 1 || len(list.Servers) != 1 || list.Servers[0].Metadata.OrderID != "CS1" || list.Servers[0].Status != ServerStatusRunning {
		t.Errorf("list %+v", list)
	}

	if _, err := c.ListServers(context.Background(), "proj", ListFilter{Limit: 20}); err != nil {
		t.Fatal(err)
	}
	if q := <-gotQuery; q != "limit=20" {
		t.Errorf("query %s", q)
	}
}

func TestListServersErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		want    wantError
	}{
		{"500", respond(500, `{"error_code":"CPS.0003","error_msg":"internal"}`), wantError{class: ClassAmbiguous, sent: true, status: 500, code: "CPS.0003"}},
		{"429", respond(429, ``, "Retry-After", "1"), wantError{class: ClassRetryable, sent: true, status: 429, throttled: true, retry: time.Second}},
		{"bad body", respond(200, `{"servers":{}}`), wantError{class: ClassAmbiguous, sent: true, status: 200, message: "unreadable"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTestServer(t, tt.handler)
			c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
			_, err := c.ListServers(context.Background(), "proj", ListFilter{})
			checkError(t, err, tt.want)
		})
	}
}

func TestGetServer(t *testing.T) {
	srv, _ := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/v1/proj/cloud-phone/servers/s%2F1":
			respond(200, `{"request_id":"rq","server_id":"s/1","server_name":"n","status":5,"metadata":{"order_id":"CS1"}}`)(w, r)
		case "/v1/proj/cloud-phone/servers/wrapped":
			respond(200, `{"request_id":"rq","server":{"server_id":"wrapped","status":10}}`)(w, r)
		default:
			respond(404, `{"error_code":"CPS.0015","error_msg":"server not found"}`)(w, r)
		}
	})
	c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
	ctx := context.Background()
	s, err := c.GetServer(ctx, "proj", "s/1")
	if err != nil || s.ServerID != "s/1" || s.Metadata.OrderID != "CS1" || s.Status != ServerStatusRunning {
		t.Errorf("GetServer = %+v, %v", s, err)
	}
	s, err = c.GetServer(ctx, "proj", "wrapped")
	if err != nil || s.ServerID != "wrapped" || s.Status != ServerStatusStopped {
		t.Errorf("GetServer(wrapped) = %+v, %v", s, err)
	}
	_, err = c.GetServer(ctx, "proj", "missing")
	checkError(t, err, wantError{class: ClassRejected, sent: true, status: 404, code: "CPS.0015"})
}

func TestClientConcurrentPurchases(t *testing.T) {
	var n atomic.Int32
	srv, _ := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		respond(200, fmt.Sprintf(`{"order_id":"CS%d"}`, n.Add(1)))(w, r)
	})
	c := newTestClient(t, srv.URL, StaticToken("tok"), ClientOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			if _, err := c.Purchase(context.Background(), "proj", testPurchaseRequest()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n.Load() != 100 {
		t.Errorf("server saw %d purchases", n.Load())
	}
}

// discardLogger silences a test server's log of the handshakes a test makes fail on purpose.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
