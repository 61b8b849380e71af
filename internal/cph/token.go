package cph

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// TokenSource supplies X-Auth-Token values. Invalidate drops a token the API refused (401) so that
// the next Token call fetches a fresh one; it is a no-op when tok is no longer the current token,
// so that a late 401 for an old token does not throw away a newer one.
//
// The Client calls Token before every request and Invalidate on a 401, then retries once. Token
// errors must not contain the token or any password: they end up in results and logs.
type TokenSource interface {
	Token(ctx context.Context) (Secret, error)
	Invalidate(tok Secret)
}

// ErrTokenUnavailable marks a token-source failure that says nothing about the credentials: IAM
// unreachable, throttled or failing. The call was not sent, and may be retried later; any other
// token failure means the credentials themselves are wrong.
var ErrTokenUnavailable = errors.New("token source unavailable")

// StaticToken serves one fixed token (CPH_TOKEN). It cannot refresh: when the API refuses it, the
// Client's retry gets the same token, fails again, and reports ClassAuth, which is the truth.
func StaticToken(tok Secret) TokenSource { return &staticToken{tok: &tok} }

// staticToken keeps its token behind a pointer, out of fmt's reach (see Secret).
type staticToken struct{ tok *Secret }

func (s *staticToken) Token(context.Context) (Secret, error) {
	if *s.tok == "" {
		return "", errors.New("cph: static token is empty")
	}
	return *s.tok, nil
}

func (s *staticToken) Invalidate(Secret) {}

// Format keeps the token out of every fmt verb, including %+v of a struct that holds the source.
func (s *staticToken) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "cph.StaticToken("+s.tok.String()+")")
}
