package intake

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cphpurchase/internal/cph"
)

// TestAuth: with tokens, the orders' routes answer only to a bearer token of INTAKE_TOKEN or of
// the token file, which is read again when it changes; the probes, the metrics and the document
// stay open; no token ever shows in a response, the log or the metrics.
func TestAuth(t *testing.T) {
	const static, rotated, fresh, wrong = "tok-static-3c1f", "tok-file-old-9a7e", "tok-file-new-52d0", "tok-wrong-0b6a"
	file := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, file, rotated+"\n\n"+fresh+"\n")
	tokens, err := NewTokens(context.Background(), cph.Secret(static), file)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{tokens: tokens})
	order := orderJSON("auth-1", "web-auth")
	var bodies []string
	check := func(name string, r response, wantStatus int) {
		t.Helper()
		bodies = append(bodies, r.raw)
		if r.status != wantStatus {
			t.Errorf("%s: status %d, want %d: %s", name, r.status, wantStatus, r.raw)
		}
		if wantStatus == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: WWW-Authenticate %q", name, r.header.Get("WWW-Authenticate"))
		}
	}
	check("no token", h.post("/v1/orders", order), 401)
	check("wrong token", h.post("/v1/orders", order, "Authorization", "Bearer "+wrong), 401)
	check("basic auth", h.post("/v1/orders", order, "Authorization", "Basic "+static), 401)
	check("no token, batch", h.post("/v1/orders:batch", batchJSON("", order)), 401)
	check("no token, status", h.do(http.MethodGet, "/v1/orders/auth-1", "", nil), 401)
	if n := h.queued(); n != 0 {
		t.Fatalf("%d orders queued without a token", n)
	}
	check("INTAKE_TOKEN", h.post("/v1/orders", order, "Authorization", "Bearer "+static), 202)
	check("a token of the file", h.post("/v1/orders", order, "Authorization", "bearer "+rotated), 200)
	check("the other token of the file", h.do(http.MethodGet, "/v1/orders/auth-1", "", nil, "Authorization", "Bearer "+fresh), 200)

	writeFile(t, file, fresh+"\n") // the rotation's last step: the old token goes
	check("a token rotated out", h.post("/v1/orders", order, "Authorization", "Bearer "+rotated), 401)
	check("the token rotated in", h.post("/v1/orders", order, "Authorization", "Bearer "+fresh), 200)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	check("a token file gone", h.post("/v1/orders", order, "Authorization", "Bearer "+fresh), 503)

	for _, open := range []string{"/healthz", "/readyz", "/metrics", "/v1/openapi.json"} {
		check(open, h.do(http.MethodGet, open, "", nil), 200)
	}
	metrics := h.do(http.MethodGet, "/metrics", "", nil).raw
	everything := strings.Join(bodies, "\n") + h.logs.String() + metrics
	for _, tok := range []string{static, rotated, fresh, wrong} {
		if strings.Contains(everything, tok) {
			t.Errorf("token %s shows in a response, the log or the metrics", tok)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomically, as a Kubernetes secret changes
		t.Fatal(err)
	}
}

// TestTokensRequiredBeyondLoopback: the intake refuses to listen beyond this machine without a
// token, and a token file that cannot be used stops it at start.
func TestTokensRequiredBeyondLoopback(t *testing.T) {
	ctx := context.Background()
	withToken, err := NewTokens(ctx, "t", "")
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, "\n")
	tests := []struct {
		addr    string
		tokens  *Tokens
		wantErr string
	}{
		{"127.0.0.1:8480", nil, ""},
		{"localhost:8480", nil, ""},
		{"[::1]:8480", nil, ""},
		{"0.0.0.0:8480", nil, "INTAKE_TOKEN"},
		{":8480", nil, "INTAKE_TOKEN"},
		{"10.0.0.7:8480", &Tokens{}, "INTAKE_TOKEN"},
		{"0.0.0.0:8480", withToken, ""},
	}
	for _, tt := range tests {
		_, err := New(Config{Producer: fakeProducer{}, Addr: tt.addr, Tokens: tt.tokens})
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("New on %s: %v, want an error naming %q", tt.addr, err, tt.wantErr)
		}
	}
	for _, path := range []string{empty, filepath.Join(t.TempDir(), "missing")} {
		if _, err := NewTokens(ctx, "", path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("NewTokens(%s): %v, want an error naming the file", path, err)
		}
	}
}
