package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/loopback"
)

// Auth is who may use the console. On loopback, whoever can reach the port is trusted, as with
// the worker's probes; anywhere else a token is required, since a replay buys servers.
type Auth struct {
	// Addr is the address the console listens on (HTTP_ADDR).
	Addr string
	// Token (CONSOLE_TOKEN), when set, is required on every request: as a bearer token
	// (Authorization: Bearer TOKEN) or as the password of HTTP basic auth, any user name, which is
	// what a browser asks for.
	Token cph.Secret
}

// check refuses an address other than loopback without a token.
func (a Auth) check() error {
	if a.Token == "" && !loopback.Addr(a.Addr) {
		return fmt.Errorf("the operator console on HTTP_ADDR %q is reachable beyond this machine: set CONSOLE_TOKEN (operators then sign in with it as the password), or bind HTTP_ADDR to 127.0.0.1", a.Addr)
	}
	return nil
}

// require lets a request through when no token is configured or when it carries the token. The
// comparison is of SHA-256 digests in constant time, so neither the token's bytes nor its length
// can be learned from response times. A refusal never echoes what was sent.
func (a Auth) require(next http.Handler) http.Handler {
	if a.Token == "" {
		return next
	}
	want := sha256.Sum256([]byte(a.Token.Reveal()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given, err := presentedToken(r)
		if err == nil {
			got := sha256.Sum256([]byte(given))
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="cph-purchase console", charset="UTF-8"`)
		http.Error(w, "401 unauthorized: sign in with CONSOLE_TOKEN as the password, or send it as a bearer token", http.StatusUnauthorized)
	})
}

// errNoToken means the request carries no credentials of a form the console accepts.
var errNoToken = errors.New("no token")

// presentedToken is the bearer token or the basic-auth password of r.
func presentedToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token), nil
	}
	if _, password, ok := r.BasicAuth(); ok {
		return password, nil
	}
	return "", errNoToken
}
