package intake

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"cphpurchase/internal/cph"
)

// Tokens are the bearer tokens the intake accepts: INTAKE_TOKEN, and every line of
// INTAKE_TOKEN_FILE. The file is read again whenever it changes (as the workers read
// CPH_TOKEN_FILE), so that a token is rotated without a restart: add the new token as a line,
// move the clients to it, then remove the old line. A nil *Tokens accepts everyone.
type Tokens struct {
	static cph.Secret
	file   cph.TokenSource // nil without a file
}

// NewTokens returns the tokens of token and of the file at path (either may be empty). A file
// that cannot be read or holds no token is an error naming the path, never the content.
func NewTokens(ctx context.Context, token cph.Secret, path string) (*Tokens, error) {
	t := &Tokens{static: cph.Secret(strings.TrimSpace(token.Reveal()))}
	if path != "" {
		t.file = cph.NewFileToken(path)
		if _, err := t.digests(ctx); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Tokens) configured() bool { return t != nil && (t.static != "" || t.file != nil) }

// digests are the SHA-256 digests of every token accepted now.
func (t *Tokens) digests(ctx context.Context) ([][sha256.Size]byte, error) {
	var out [][sha256.Size]byte
	if t.static != "" {
		out = append(out, sha256.Sum256([]byte(t.static.Reveal())))
	}
	if t.file != nil {
		all, err := t.file.Token(ctx) // the whole file, trimmed; its errors name the path only
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(all.Reveal()) {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, sha256.Sum256([]byte(line)))
			}
		}
	}
	return out, nil
}

// require lets a request through when no token is configured, or when it carries one of the
// tokens as Authorization: Bearer TOKEN. Digests are compared in constant time, against every
// token without stopping at a match, so that response times tell nothing of the tokens. A
// refusal never echoes what was sent, and nothing here logs a token.
func (t *Tokens) require(next http.Handler) http.Handler {
	if !t.configured() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, given, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(given) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cph-purchase intake"`)
			writeProblem(w, &problem{Status: http.StatusUnauthorized, Code: codeAuth,
				Detail: "send a token of INTAKE_TOKEN or INTAKE_TOKEN_FILE as Authorization: Bearer TOKEN"})
			return
		}
		accepted, err := t.digests(r.Context())
		if err != nil {
			writeProblem(w, unavailable("the intake cannot read its token file; see its log"))
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(given)))
		match := 0
		for _, want := range accepted {
			match |= subtle.ConstantTimeCompare(got[:], want[:])
		}
		if match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cph-purchase intake", error="invalid_token"`)
			writeProblem(w, &problem{Status: http.StatusUnauthorized, Code: codeAuth, Detail: "the bearer token is not one the intake accepts"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
