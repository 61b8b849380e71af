package cph

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestClientNeverShowsToken builds an error of every class with a known token — against servers
// that even echo the token back — and searches every rendering of the errors and of the client for
// it.
func TestClientNeverShowsToken(t *testing.T) {
	const token = "tok-SECRET-7f3a9c"
	echo := func(status int, shape string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("X-Request-Id", "rq")
			w.WriteHeader(status)
			fmt.Fprintf(w, shape, r.Header.Get("X-Auth-Token"))
		}
	}
	release := make(chan struct{})
	defer close(release) // before the servers' Close, which waits for the hanging handler
	handlers := map[string]http.HandlerFunc{
		"rejected":           echo(400, `{"error_code":"CPS.0024","error_msg":"bad request with token %s"}`),
		"auth":               echo(401, `{"error_code":"APIGW.0301","error_msg":"token %s expired"}`),
		"throttled":          echo(429, `{"error_code":"APIGW.0308","error_msg":"slow down %s"}`),
		"unavailable":        echo(503, `<html><body>X-Auth-Token: %s</body></html>`),
		"ambiguous":          echo(500, `internal error, headers were X-Auth-Token=%s`),
		"ambiguous 200":      echo(200, `{"request_id":"%s"}`),
		"unreadable 200":     echo(200, `not json %s`),
		"connection dropped": hijack(t, nil),
		"timeout": func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
			select {
			case <-r.Context().Done():
			case <-release:
			}
		},
	}
	var errs []error
	for name, h := range handlers {
		srv, _ := newTestServer(t, h)
		c := newTestClient(t, srv.URL, StaticToken(token), ClientOptions{Timeout: 200 * time.Millisecond})
		_, err := c.Purchase(context.Background(), "proj", testPurchaseRequest())
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		errs = append(errs, err)
		_, err = c.ListServers(context.Background(), "proj", ListFilter{})
		errs = append(errs, err)
		assertNoSecret(t, c, token)
	}
	// Never sent: a refused connection and a failing token source.
	c := newTestClient(t, "http://127.0.0.1:1", StaticToken(token), ClientOptions{})
	_, err := c.Purchase(context.Background(), "proj", testPurchaseRequest())
	errs = append(errs, err)
	assertNoSecret(t, c, token)

	classes := map[Class]bool{}
	for _, err := range errs {
		assertNoSecret(t, err, token)
		if class, ok := ClassOf(err); ok {
			classes[class] = true
		}
	}
	for _, class := range []Class{ClassRetryable, ClassAuth, ClassRejected, ClassAmbiguous} {
		if !classes[class] {
			t.Errorf("no error of class %s was checked", class)
		}
	}
}
