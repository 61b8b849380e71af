package cphsim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// tokenStore knows every token the simulator accepts or issued.
type tokenStore struct {
	mu     sync.RWMutex
	tokens map[string]tokenEntry
	// open: no static tokens and no IAM user were configured, so unknown tokens (and none at
	// all) pass; only tokens the simulator issued and later expired or revoked are refused.
	open bool
}

type tokenEntry struct {
	project string    // "" for static tokens, which work for every project
	expires time.Time // zero for static tokens
	revoked bool
}

func newTokenStore(o Options) *tokenStore {
	ts := &tokenStore{tokens: map[string]tokenEntry{}, open: len(o.Tokens) == 0 && o.IAMUser == ""}
	for _, t := range o.Tokens {
		ts.tokens[t] = tokenEntry{}
	}
	return ts
}

type tokenVerdict int

const (
	tokenOK tokenVerdict = iota
	tokenMissing
	tokenUnknown
	tokenExpired
	tokenOtherProject
)

func (ts *tokenStore) check(token, project string, now time.Time) tokenVerdict {
	ts.mu.RLock()
	e, known := ts.tokens[token]
	ts.mu.RUnlock()
	switch {
	case known && (e.revoked || !e.expires.IsZero() && !now.Before(e.expires)):
		return tokenExpired
	case known && e.project != "" && e.project != project:
		return tokenOtherProject
	case known, ts.open:
		return tokenOK
	case token == "":
		return tokenMissing
	}
	return tokenUnknown
}

func (ts *tokenStore) issue(project string, expires time.Time) string {
	t := newToken()
	ts.mu.Lock()
	ts.tokens[t] = tokenEntry{project: project, expires: expires}
	ts.mu.Unlock()
	return t
}

func (ts *tokenStore) revokeAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for t, e := range ts.tokens {
		e.revoked = true
		ts.tokens[t] = e
	}
}

// ExpireTokens makes every token issued or configured so far stop working, as a password change
// or the 24 h expiry does on the real IAM. Tokens issued afterwards work.
func (s *Server) ExpireTokens() { s.tokens.revokeAll() }

// authorize checks X-Auth-Token for project and answers 401 (or 403 for a token scoped to
// another project) when it fails.
func (s *Server) authorize(x *exchange, project string) bool {
	if s.refuseAuth.Load() {
		x.fail(http.StatusUnauthorized, codeAuth, msgAuthPfx+"token invalid")
		return false
	}
	switch s.tokens.check(x.r.Header.Get("X-Auth-Token"), project, s.opts.Now()) {
	case tokenOK:
		return true
	case tokenMissing:
		x.fail(http.StatusUnauthorized, codeAuth, msgAuthPfx+"x-auth-token not found")
	case tokenUnknown:
		x.fail(http.StatusUnauthorized, codeAuth, msgAuthPfx+"decrypt token fail")
	case tokenExpired:
		x.fail(http.StatusUnauthorized, codeAuth, msgAuthPfx+"token expired")
	case tokenOtherProject:
		x.fail(http.StatusForbidden, codeNoPermission, "The token is scoped to another project")
	}
	return false
}

// tokenRequest is the password-auth body of POST /v3/auth/tokens, scoped to a project.
type tokenRequest struct {
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

// tokenResponse is the part of IAM's answer a client may read.
type tokenResponse struct {
	Token struct {
		ExpiresAt string   `json:"expires_at"`
		IssuedAt  string   `json:"issued_at"`
		Methods   []string `json:"methods"`
		Project   struct {
			ID string `json:"id"`
		} `json:"project"`
		User struct {
			Name   string `json:"name"`
			Domain struct {
				Name string `json:"name"`
			} `json:"domain"`
		} `json:"user"`
	} `json:"token"`
}

// iamTimeLayout is how IAM writes expires_at and issued_at.
const iamTimeLayout = "2006-01-02T15:04:05.000000Z"

// issueToken serves POST /v3/auth/tokens: 201 with the token in X-Subject-Token for the one
// configured user, 401 for anyone else. With no IAM user and no static tokens (the open
// simulator) any credentials get a token, so an IAM-configured worker runs against it unchanged.
func (s *Server) issueToken(x *exchange) {
	raw, ok := readBody(x)
	if !ok {
		return
	}
	var req tokenRequest
	a := &req.Auth
	if err := json.Unmarshal(raw, &req); err != nil || !slices.Contains(a.Identity.Methods, "password") ||
		a.Identity.Password.User.Name == "" || a.Identity.Password.User.Password == "" || a.Scope.Project.ID == "" {
		x.fail(http.StatusBadRequest, codeIAMBadBody, "Request body is invalid.")
		return
	}
	u := a.Identity.Password.User
	x.call.ProjectID = a.Scope.Project.ID
	if !s.credentialsOK(u.Name, u.Password, u.Domain.Name) {
		x.fail(http.StatusUnauthorized, codeIAMBadCred, "The username or password is wrong.")
		return
	}
	now := s.opts.Now().UTC()
	expires := now.Add(s.opts.TokenTTL)
	var resp tokenResponse
	resp.Token.ExpiresAt = expires.Format(iamTimeLayout)
	resp.Token.IssuedAt = now.Format(iamTimeLayout)
	resp.Token.Methods = []string{"password"}
	resp.Token.Project.ID = a.Scope.Project.ID
	resp.Token.User.Name = u.Name
	resp.Token.User.Domain.Name = u.Domain.Name
	x.w.Header().Set("X-Subject-Token", s.tokens.issue(a.Scope.Project.ID, expires))
	x.reply(http.StatusCreated, resp)
}

// credentialsOK compares in constant time; IAMDomain empty means any domain.
func (s *Server) credentialsOK(user, password, domain string) bool {
	if s.refuseAuth.Load() {
		return false
	}
	if s.opts.IAMUser == "" {
		return s.tokens.open
	}
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	okUser := eq(user, s.opts.IAMUser)
	okPass := eq(password, s.opts.IAMPassword)
	okDomain := s.opts.IAMDomain == "" || eq(domain, s.opts.IAMDomain)
	return okUser && okPass && okDomain
}
