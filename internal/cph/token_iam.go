package cph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// IAM token defaults. A token lives 24 h (docs/cph-api.md); refreshing ten minutes early leaves
// room for clock skew and a slow IAM without fetching more often than once a day.
const (
	DefaultIAMRefreshBefore = 10 * time.Minute
	iamTokenLifetime        = 24 * time.Hour
	iamRequestTimeout       = 30 * time.Second
	minIAMTokenLifetime     = time.Minute
	maxIAMBody              = 1 << 20
)

// IAMConfig says how to obtain project-scoped tokens from IAM with a password (IAM_ENDPOINT,
// IAM_USERNAME, IAM_PASSWORD, IAM_DOMAIN and the project of CPH_PROJECT_ID).
type IAMConfig struct {
	// Endpoint is IAM's base URL, e.g. https://iam.cn-east-3.myhuaweicloud.com.
	Endpoint string
	// Username and Domain name the IAM user and its account (domain).
	Username string
	Password Secret
	Domain   string
	// ProjectID scopes the token: a CPH call for another project is refused.
	ProjectID string
	// HTTPClient sends the token request; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// RefreshBefore is how long before its expiry a token is replaced; zero means
	// DefaultIAMRefreshBefore. A token that lives less than twice as long is refreshed halfway.
	RefreshBefore time.Duration
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// NewIAMToken returns a TokenSource that fetches tokens from IAM (POST /v3/auth/tokens, password
// auth scoped to cfg.ProjectID) and caches each until RefreshBefore its expiry. However many
// handlers ask at once, one request to IAM is in flight; the others wait for its answer (or for
// their own ctx). If a refresh fails while the cached token has not yet expired, that token is
// served and the next call tries again.
//
// It returns an error naming the first missing or malformed field of cfg.
func NewIAMToken(cfg IAMConfig) (TokenSource, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: iamRequestTimeout}
	}
	if cfg.RefreshBefore == 0 {
		cfg.RefreshBefore = DefaultIAMRefreshBefore
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &iamToken{cfg: &cfg, url: strings.TrimRight(cfg.Endpoint, "/") + "/v3/auth/tokens?nocatalog=true"}, nil
}

func (c IAMConfig) validate() error {
	if err := checkEndpoint(c.Endpoint); err != nil {
		return fmt.Errorf("cph: IAM config: Endpoint: %w", err)
	}
	for _, f := range []struct{ name, value string }{
		{"Username", c.Username},
		{"Password", c.Password.Reveal()},
		{"Domain", c.Domain},
		{"ProjectID", c.ProjectID},
	} {
		if strings.TrimSpace(f.value) == "" {
			return fmt.Errorf("cph: IAM config: %s is required", f.name)
		}
	}
	if c.RefreshBefore < 0 {
		return fmt.Errorf("cph: IAM config: RefreshBefore must not be negative, got %s", c.RefreshBefore)
	}
	return nil
}

// iamToken keeps its password and tokens behind pointers, out of fmt's reach (see Secret).
type iamToken struct {
	cfg *IAMConfig
	url string

	mu     sync.Mutex
	cached *iamCachedToken // nil when none is cached
	flight *iamFlight      // the refresh in progress, nil when none
}

// iamCachedToken is a token with the times that govern it.
type iamCachedToken struct {
	tok       Secret
	refreshAt time.Time // when to fetch the next one
	expiresAt time.Time // when IAM stops accepting it
}

// iamFlight is one request to IAM that every caller arriving meanwhile waits for.
type iamFlight struct {
	done chan struct{}
	tok  Secret
	err  error
}

func (s *iamToken) Token(ctx context.Context) (Secret, error) {
	s.mu.Lock()
	if c := s.cached; c != nil && s.cfg.Now().Before(c.refreshAt) {
		s.mu.Unlock()
		return c.tok, nil
	}
	f := s.flight
	if f == nil {
		f = &iamFlight{done: make(chan struct{})}
		s.flight = f
		// The fetch must outlive the caller who started it: the others wait for it too. It keeps
		// ctx's values, not its cancellation, and is bounded by its own timeout.
		go s.refresh(context.WithoutCancel(ctx), f)
	}
	s.mu.Unlock()

	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("cph: waiting for an IAM token: %w", ctx.Err())
	}
}

// refresh runs one flight and publishes its outcome to the cache and to the waiters.
func (s *iamToken) refresh(ctx context.Context, f *iamFlight) {
	ctx, cancel := context.WithTimeout(ctx, iamRequestTimeout)
	defer cancel()
	tok, expiresAt, err := s.fetch(ctx)

	s.mu.Lock()
	now := s.cfg.Now()
	switch {
	case err == nil:
		s.cached = &iamCachedToken{tok: tok, refreshAt: s.refreshTime(now, expiresAt), expiresAt: expiresAt}
		f.tok = tok
	case s.cached != nil && now.Before(s.cached.expiresAt):
		f.tok = s.cached.tok // IAM failed, but the cached token is still good for a while
	default:
		f.err = err
	}
	s.flight = nil
	s.mu.Unlock()
	close(f.done)
}

// refreshTime is RefreshBefore ahead of expiry, or halfway through a token's life when that life is
// short, so that a short-lived token is not refreshed on every call.
func (s *iamToken) refreshTime(now, expiresAt time.Time) time.Time {
	life := max(expiresAt.Sub(now), minIAMTokenLifetime)
	return now.Add(life - min(s.cfg.RefreshBefore, life/2))
}

// Invalidate drops tok if it is still the cached token, so that the next Token call goes to IAM.
func (s *iamToken) Invalidate(tok Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && s.cached.tok == tok {
		s.cached = nil
	}
}

// Format keeps the token and the password out of every fmt verb.
func (s *iamToken) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "cph.IAMToken(%s, user %s@%s, project %s)",
		s.cfg.Endpoint, s.cfg.Username, s.cfg.Domain, s.cfg.ProjectID)
}

// fetch asks IAM for a new token and returns it with its expiry.
func (s *iamToken) fetch(ctx context.Context) (Secret, time.Time, error) {
	body, err := json.Marshal(s.authBody())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cph: IAM token: encoding the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cph: IAM token: %w", err)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("cph: IAM token: %w: %w", ErrTokenUnavailable, err)
	}
	defer resp.Body.Close()
	// A body that breaks off is only a shorter body: the token is in a header, the expiry has a
	// fallback, and an error is described by its status.
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, maxIAMBody))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", time.Time{}, s.answerError(resp, respBody)
	}
	tok := Secret(strings.TrimSpace(resp.Header.Get("X-Subject-Token")))
	if tok == "" {
		return "", time.Time{}, fmt.Errorf("cph: IAM token: HTTP %d without an X-Subject-Token header", resp.StatusCode)
	}
	return tok, s.expiry(respBody), nil
}

// answerError describes a refusal by IAM with its status, code and message, scrubbed of the
// password in case IAM (or a proxy) echoes the request.
func (s *iamToken) answerError(resp *http.Response, body []byte) error {
	body = bytes.ReplaceAll(body, []byte(s.cfg.Password.Reveal()), []byte(redacted))
	b := parseErrorBody(body)
	msg := fmt.Sprintf("cph: IAM token: HTTP %d", resp.StatusCode)
	if b.code != "" {
		msg += ": " + b.code
	}
	if b.message == "" {
		b.message = statusMessage(resp.StatusCode)
	}
	msg += ": " + b.message
	if id := b.requestID; id != "" {
		msg += " (request " + id + ")"
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return fmt.Errorf("%s: %w", msg, ErrTokenUnavailable)
	}
	return errors.New(msg)
}

// expiry reads token.expires_at from IAM's answer, and falls back to the documented 24 h.
func (s *iamToken) expiry(body []byte) time.Time {
	var answer struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	if json.Unmarshal(body, &answer) == nil {
		if at, err := time.Parse(time.RFC3339Nano, answer.Token.ExpiresAt); err == nil {
			return at
		}
	}
	return s.cfg.Now().Add(iamTokenLifetime)
}

// iamAuthBody is the project-scoped password authentication of docs/cph-api.md.
type iamAuthBody struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User struct {
					Name     string `json:"name"`
					Password string `json:"password"`
					Domain   struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"user"`
			} `json:"password"`
		} `json:"identity"`
		Scope struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

func (s *iamToken) authBody() *iamAuthBody {
	var b iamAuthBody
	b.Auth.Identity.Methods = []string{"password"}
	u := &b.Auth.Identity.Password.User
	u.Name = s.cfg.Username
	u.Password = s.cfg.Password.Reveal()
	u.Domain.Name = s.cfg.Domain
	b.Auth.Scope.Project.ID = s.cfg.ProjectID
	return &b
}
