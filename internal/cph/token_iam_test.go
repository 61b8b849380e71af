package cph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testIAMPassword = "pa55-w0rd-never-print"

// fakeClock is an injectable Now that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// fakeIAM answers POST /v3/auth/tokens with tokens "iam-tok-1", "iam-tok-2", … and counts calls.
type fakeIAM struct {
	*httptest.Server
	calls atomic.Int32
	// expiresAt gives the n-th token's expires_at; "" leaves the field out.
	expiresAt func(n int) string
	// answer, when set, replaces the success answer.
	answer func(w http.ResponseWriter, r *http.Request, body []byte)
	// gate, when set, holds every request until it is closed.
	gate chan struct{}
	// arrived is signalled (without blocking) when a request comes in.
	arrived chan struct{}
	bodies  chan []byte
}

func newFakeIAM(t *testing.T) *fakeIAM {
	f := &fakeIAM{arrived: make(chan struct{}, 1), bodies: make(chan []byte, 100)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(f.calls.Add(1))
		select {
		case f.arrived <- struct{}{}:
		default:
		}
		body, _ := io.ReadAll(r.Body)
		select {
		case f.bodies <- body:
		default:
		}
		if f.gate != nil {
			select {
			case <-f.gate:
			case <-r.Context().Done():
				return
			}
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v3/auth/tokens" {
			http.Error(w, "wrong call "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if f.answer != nil {
			f.answer(w, r, body)
			return
		}
		w.Header().Set("X-Subject-Token", fmt.Sprintf("iam-tok-%d", n))
		w.WriteHeader(http.StatusCreated)
		exp := ""
		if f.expiresAt != nil {
			exp = f.expiresAt(n)
		}
		if exp == "" {
			fmt.Fprint(w, `{"token":{"methods":["password"]}}`)
			return
		}
		fmt.Fprintf(w, `{"token":{"expires_at":%q,"methods":["password"]}}`, exp)
	}))
	t.Cleanup(f.Close)
	return f
}

func testIAMConfig(endpoint string, clock *fakeClock) IAMConfig {
	return IAMConfig{
		Endpoint:  endpoint,
		Username:  "worker",
		Password:  testIAMPassword,
		Domain:    "acme",
		ProjectID: "proj-1",
		Now:       clock.Now,
	}
}

func mustIAMToken(t *testing.T, cfg IAMConfig) TokenSource {
	t.Helper()
	src, err := NewIAMToken(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func wantToken(t *testing.T, src TokenSource, want string) {
	t.Helper()
	got, err := src.Token(context.Background())
	if err != nil || got.Reveal() != want {
		t.Fatalf("Token = %q, %v; want %q", got.Reveal(), err, want)
	}
}

func TestIAMTokenRequestAndCache(t *testing.T) {
	iam := newFakeIAM(t)
	clock := newFakeClock()
	src := mustIAMToken(t, testIAMConfig(iam.URL+"/", clock))
	wantToken(t, src, "iam-tok-1")
	wantToken(t, src, "iam-tok-1")
	if n := iam.calls.Load(); n != 1 {
		t.Errorf("IAM calls = %d, want 1", n)
	}

	var body struct {
		Auth struct {
			Identity struct {
				Methods  []string
				Password struct {
					User struct {
						Name, Password string
						Domain         struct{ Name string }
					}
				}
			}
			Scope struct{ Project struct{ ID string } }
		}
	}
	if err := json.Unmarshal(<-iam.bodies, &body); err != nil {
		t.Fatal(err)
	}
	id := body.Auth.Identity
	if len(id.Methods) != 1 || id.Methods[0] != "password" || id.Password.User.Name != "worker" ||
		id.Password.User.Password != testIAMPassword || id.Password.User.Domain.Name != "acme" ||
		body.Auth.Scope.Project.ID != "proj-1" {
		t.Errorf("auth body = %+v", body)
	}
}

func TestIAMTokenRefreshBeforeExpiry(t *testing.T) {
	iam := newFakeIAM(t)
	clock := newFakeClock()
	base := clock.Now()
	iam.expiresAt = func(n int) string {
		return base.Add(time.Duration(n) * 24 * time.Hour).Format("2006-01-02T15:04:05.000000Z")
	}
	cfg := testIAMConfig(iam.URL, clock)
	cfg.RefreshBefore = 10 * time.Minute
	src := mustIAMToken(t, cfg)

	wantToken(t, src, "iam-tok-1")
	clock.Set(base.Add(24*time.Hour - 11*time.Minute))
	wantToken(t, src, "iam-tok-1")
	clock.Set(base.Add(24*time.Hour - 9*time.Minute))
	wantToken(t, src, "iam-tok-2")
	wantToken(t, src, "iam-tok-2")
	if n := iam.calls.Load(); n != 2 {
		t.Errorf("IAM calls = %d, want 2", n)
	}
}

func TestIAMTokenExpiryFallsBackTo24h(t *testing.T) {
	iam := newFakeIAM(t) // answers without expires_at
	clock := newFakeClock()
	base := clock.Now()
	src := mustIAMToken(t, testIAMConfig(iam.URL, clock)) // default RefreshBefore

	wantToken(t, src, "iam-tok-1")
	clock.Set(base.Add(24*time.Hour - DefaultIAMRefreshBefore - time.Second))
	wantToken(t, src, "iam-tok-1")
	clock.Set(base.Add(24*time.Hour - DefaultIAMRefreshBefore + time.Second))
	wantToken(t, src, "iam-tok-2")
}

func TestIAMTokenShortLifeRefreshesHalfway(t *testing.T) {
	iam := newFakeIAM(t)
	clock := newFakeClock()
	iam.expiresAt = func(int) string { return clock.Now().Add(10 * time.Minute).Format(time.RFC3339) }
	src := mustIAMToken(t, testIAMConfig(iam.URL, clock)) // RefreshBefore 10m = the whole life
	base := clock.Now()

	wantToken(t, src, "iam-tok-1")
	wantToken(t, src, "iam-tok-1") // not refreshed on every call
	clock.Set(base.Add(4 * time.Minute))
	wantToken(t, src, "iam-tok-1")
	clock.Set(base.Add(6 * time.Minute))
	wantToken(t, src, "iam-tok-2")
}

func TestIAMTokenSingleFlight(t *testing.T) {
	iam := newFakeIAM(t)
	iam.gate = make(chan struct{})
	src := mustIAMToken(t, testIAMConfig(iam.URL, newFakeClock()))

	const callers = 50
	var started, done sync.WaitGroup
	got := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			tok, err := src.Token(context.Background())
			got[i], errs[i] = tok.Reveal(), err
		}()
	}
	started.Wait()
	<-iam.arrived // the one request is at IAM; the callers pile up behind it
	close(iam.gate)
	done.Wait()

	if n := iam.calls.Load(); n != 1 {
		t.Errorf("IAM calls = %d, want 1", n)
	}
	for i := range callers {
		if errs[i] != nil || got[i] != "iam-tok-1" {
			t.Fatalf("caller %d: %q, %v", i, got[i], errs[i])
		}
	}
}

func TestIAMTokenWaitHonoursContext(t *testing.T) {
	iam := newFakeIAM(t)
	iam.gate = make(chan struct{})
	src := mustIAMToken(t, testIAMConfig(iam.URL, newFakeClock()))

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := src.Token(ctx)
		errc <- err
	}()
	<-iam.arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v", err)
	}
	// The flight the cancelled caller started goes on for everyone else.
	close(iam.gate)
	wantToken(t, src, "iam-tok-1")
	if n := iam.calls.Load(); n != 1 {
		t.Errorf("IAM calls = %d, want 1", n)
	}
}

func TestIAMTokenInvalidate(t *testing.T) {
	iam := newFakeIAM(t)
	src := mustIAMToken(t, testIAMConfig(iam.URL, newFakeClock()))

	wantToken(t, src, "iam-tok-1")
	src.Invalidate("some-other-token")
	src.Invalidate("")
	wantToken(t, src, "iam-tok-1")
	src.Invalidate("iam-tok-1")
	wantToken(t, src, "iam-tok-2")
	src.Invalidate("iam-tok-1") // a late 401 for the old token keeps the new one
	wantToken(t, src, "iam-tok-2")
	if n := iam.calls.Load(); n != 2 {
		t.Errorf("IAM calls = %d, want 2", n)
	}
}

func TestIAMTokenServesCachedTokenWhileIAMFails(t *testing.T) {
	iam := newFakeIAM(t)
	clock := newFakeClock()
	base := clock.Now()
	iam.expiresAt = func(int) string { return base.Add(24 * time.Hour).Format(time.RFC3339) }
	src := mustIAMToken(t, testIAMConfig(iam.URL, clock))
	wantToken(t, src, "iam-tok-1")

	iam.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		http.Error(w, `{"error":{"code":500,"message":"IAM is down"}}`, http.StatusInternalServerError)
	}
	clock.Set(base.Add(24*time.Hour - time.Minute)) // due for refresh, not yet expired
	wantToken(t, src, "iam-tok-1")
	clock.Set(base.Add(24*time.Hour + time.Minute)) // expired: the failure shows
	_, err := src.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "IAM is down") {
		t.Fatalf("Token after expiry with IAM down: %v", err)
	}
}

func TestIAMTokenErrorsHideSecrets(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request, body []byte)
		want   []string
	}{
		{
			name: "wrong password",
			answer: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}`)
			},
			want: []string{"HTTP 401", "The username or password is wrong."},
		},
		{
			name: "gateway error with request id",
			answer: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(w, `{"error_code":"APIGW.0308","error_msg":"throttled","request_id":"rq-9"}`)
			},
			want: []string{"HTTP 429", "APIGW.0308", "throttled", "rq-9"},
		},
		{
			name: "proxy echoes the request",
			answer: func(w http.ResponseWriter, _ *http.Request, body []byte) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write(body)
			},
			want: []string{"HTTP 400", redacted},
		},
		{
			name: "201 without X-Subject-Token",
			answer: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				w.WriteHeader(http.StatusCreated)
			},
			want: []string{"X-Subject-Token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iam := newFakeIAM(t)
			iam.answer = tt.answer
			src := mustIAMToken(t, testIAMConfig(iam.URL, newFakeClock()))
			_, err := src.Token(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			assertNoSecret(t, err, testIAMPassword)
		})
	}
}

func TestNewIAMTokenValidates(t *testing.T) {
	good := testIAMConfig("https://iam.example.com", newFakeClock())
	tests := []struct {
		field  string
		mutate func(*IAMConfig)
	}{
		{"Endpoint", func(c *IAMConfig) { c.Endpoint = "" }},
		{"Endpoint", func(c *IAMConfig) { c.Endpoint = "iam.example.com" }},
		{"Endpoint", func(c *IAMConfig) { c.Endpoint = "ftp://iam.example.com" }},
		{"Username", func(c *IAMConfig) { c.Username = " " }},
		{"Password", func(c *IAMConfig) { c.Password = "" }},
		{"Domain", func(c *IAMConfig) { c.Domain = "" }},
		{"ProjectID", func(c *IAMConfig) { c.ProjectID = "" }},
		{"RefreshBefore", func(c *IAMConfig) { c.RefreshBefore = -time.Second }},
	}
	for _, tt := range tests {
		cfg := good
		tt.mutate(&cfg)
		_, err := NewIAMToken(cfg)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %v does not name the field", tt.field, err)
		}
		if err != nil && strings.Contains(err.Error(), testIAMPassword) {
			t.Errorf("%s: error shows the password", tt.field)
		}
	}
	if _, err := NewIAMToken(good); err != nil {
		t.Errorf("good config: %v", err)
	}
}

// assertNoSecret fails when any rendering of v shows secret.
func assertNoSecret(t *testing.T, v any, secret string) {
	t.Helper()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if out := fmt.Sprintf(verb, v); strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Errorf("%s shows the secret: %s", verb, out)
		}
	}
	if err, ok := v.(error); ok {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("error chain shows the secret: %s", e.Error())
			}
		}
	}
}

func TestTokenSourcesDoNotPrintSecrets(t *testing.T) {
	iam := newFakeIAM(t)
	cfg := testIAMConfig(iam.URL, newFakeClock())
	src := mustIAMToken(t, cfg)
	wantToken(t, src, "iam-tok-1") // cached now

	static := StaticToken("static-secret-tok")
	// A token source is safe in an unexported field; IAMConfig needs an exported one (see Secret).
	type wrapper struct {
		src TokenSource
		Cfg IAMConfig
	}
	for _, v := range []any{src, cfg, &cfg, static, wrapper{src, cfg}, &wrapper{static, cfg}} {
		assertNoSecret(t, v, testIAMPassword)
		assertNoSecret(t, v, "iam-tok-1")
		assertNoSecret(t, v, "static-secret-tok")
	}
}
