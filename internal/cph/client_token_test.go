package cph

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A token source that fails only for now must not turn an order into an auth dead letter: the
// purchase was not sent and may be retried. Refused credentials are an auth failure.
func TestPurchaseWhenIAMFails(t *testing.T) {
	cases := []struct {
		name      string
		iamStatus int
		want      Class
	}{
		{"IAM unavailable", http.StatusServiceUnavailable, ClassRetryable},
		{"IAM throttled", http.StatusTooManyRequests, ClassRetryable},
		{"IAM refuses the password", http.StatusUnauthorized, ClassAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var purchases atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v3/auth/tokens" {
					w.WriteHeader(tc.iamStatus)
					_, _ = w.Write([]byte(`{"error":{"code":"IAM.0001","message":"nope"}}`))
					return
				}
				purchases.Add(1)
			}))
			defer ts.Close()
			tokens, err := NewIAMToken(IAMConfig{Endpoint: ts.URL, Username: "u", Password: "pw-secret", Domain: "d", ProjectID: "p"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(ts.URL, tokens, ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Purchase(context.Background(), "p", &PurchaseRequest{ServerName: "x"})
			var e *Error
			if !errors.As(err, &e) || e.Class != tc.want || e.Sent {
				t.Fatalf("err = %#v; want class %s, not sent", err, tc.want)
			}
			if purchases.Load() != 0 {
				t.Fatalf("purchase calls = %d, want 0", purchases.Load())
			}
		})
	}
}
