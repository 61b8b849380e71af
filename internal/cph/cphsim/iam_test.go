package cphsim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

func tokenBody(user, password, domain, projectID string) map[string]any {
	return map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods":  []string{"password"},
			"password": map[string]any{"user": map[string]any{"name": user, "password": password, "domain": map[string]any{"name": domain}}},
		},
		"scope": map[string]any{"project": map[string]any{"id": projectID}},
	}}
}

func getToken(t *testing.T, ts *httptest.Server, body any) (string, response) {
	t.Helper()
	r := mustDo(t, http.MethodPost, ts.URL+"/v3/auth/tokens", "", body)
	return r.header.Get("X-Subject-Token"), r
}

// listStatus is the status of a list call with token: the cheapest authenticated call.
func listStatus(t *testing.T, ts *httptest.Server, projectID, token string) response {
	t.Helper()
	return mustDo(t, http.MethodGet, ts.URL+"/v1/"+projectID+"/cloud-phone/servers", token, nil)
}

func TestStaticTokens(t *testing.T) {
	sim, ts := start(t, cphsim.Options{Tokens: []string{"tok-a", "tok-b"}})
	for _, tok := range []string{"tok-a", "tok-b"} {
		if r := purchase(t, ts, tok, purchaseBody("s", 1)); r.status != 200 {
			t.Fatalf("token %s: %d %s", tok, r.status, r.body)
		}
	}
	tests := []struct{ token, msg string }{
		{"", "x-auth-token not found"},
		{"tok-c", "decrypt token fail"},
	}
	for _, tt := range tests {
		e := wantError(t, purchase(t, ts, tt.token, purchaseBody("s", 1)), 401, "APIGW.0301")
		if e["error_msg"] != "Incorrect IAM authentication information: "+tt.msg {
			t.Errorf("token %q: error_msg %q", tt.token, e["error_msg"])
		}
		wantError(t, listStatus(t, ts, project, tt.token), 401, "APIGW.0301")
		wantError(t, mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers/x", tt.token, nil), 401, "APIGW.0301")
	}

	sim.ExpireTokens()
	e := wantError(t, purchase(t, ts, "tok-a", purchaseBody("s", 1)), 401, "APIGW.0301")
	if e["error_msg"] != "Incorrect IAM authentication information: token expired" {
		t.Errorf("error_msg %q", e["error_msg"])
	}
	if st := sim.Stats(); st.Orders != 2 || st.Unauthorized != 7 {
		t.Errorf("stats = %+v, want 2 orders and 7 refusals", st)
	}
}

func TestIAMIssuesAndExpiresTokens(t *testing.T) {
	clock := newClock()
	sim, ts := start(t, cphsim.Options{
		IAMUser: "buyer", IAMPassword: "s3cret", IAMDomain: "acme",
		TokenTTL: time.Hour, Now: clock.Now,
	})

	if r := listStatus(t, ts, project, ""); r.status != 401 {
		t.Fatalf("no token: %d, want 401 (auth is checked when an IAM user is set)", r.status)
	}
	for _, body := range []map[string]any{
		tokenBody("buyer", "wrong", "acme", project),
		tokenBody("other", "s3cret", "acme", project),
		tokenBody("buyer", "s3cret", "elsewhere", project),
	} {
		tok, r := getToken(t, ts, body)
		wantError(t, r, 401, "IAM.0004")
		if tok != "" {
			t.Errorf("refused request got a token")
		}
	}
	for _, body := range []any{"{", map[string]any{}, tokenBody("buyer", "s3cret", "acme", "")} {
		_, r := getToken(t, ts, body)
		wantError(t, r, 400, "IAM.0011")
	}

	tok, r := getToken(t, ts, tokenBody("buyer", "s3cret", "acme", project))
	var body struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
			IssuedAt  string `json:"issued_at"`
			Project   struct {
				ID string `json:"id"`
			} `json:"project"`
		} `json:"token"`
	}
	decode(t, r, http.StatusCreated, &body)
	if tok == "" || body.Token.Project.ID != project ||
		body.Token.IssuedAt != "2026-11-25T18:00:00.000000Z" || body.Token.ExpiresAt != "2026-11-25T19:00:00.000000Z" {
		t.Errorf("token %q, body %s", tok, r.body)
	}
	if strings.Contains(string(r.body), "s3cret") {
		t.Error("the response repeats the password")
	}
	if r := purchase(t, ts, tok, purchaseBody("iam", 1)); r.status != 200 {
		t.Fatalf("IAM token refused: %d %s", r.status, r.body)
	}
	wantError(t, listStatus(t, ts, "other-project", tok), http.StatusForbidden, "CPS.0001")

	clock.Advance(time.Hour - time.Second)
	if r := listStatus(t, ts, project, tok); r.status != 200 {
		t.Fatalf("token refused before expiry: %d", r.status)
	}
	clock.Advance(time.Second)
	e := wantError(t, listStatus(t, ts, project, tok), 401, "APIGW.0301")
	if !strings.HasSuffix(e["error_msg"], "token expired") {
		t.Errorf("error_msg %q", e["error_msg"])
	}

	// A fresh token works until ExpireTokens, and one issued after it works again.
	tok2, _ := getToken(t, ts, tokenBody("buyer", "s3cret", "", project))
	if tok2 != "" {
		t.Fatalf("empty domain accepted when a domain is configured")
	}
	tok2, _ = getToken(t, ts, tokenBody("buyer", "s3cret", "acme", project))
	if r := listStatus(t, ts, project, tok2); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	sim.ExpireTokens()
	wantError(t, listStatus(t, ts, project, tok2), 401, "APIGW.0301")
	tok3, _ := getToken(t, ts, tokenBody("buyer", "s3cret", "acme", project))
	if r := listStatus(t, ts, project, tok3); r.status != 200 || tok3 == tok2 {
		t.Fatalf("token after ExpireTokens: %d", r.status)
	}
	for _, c := range sim.Calls() {
		if b, _ := json.Marshal(c); strings.Contains(string(b), "s3cret") {
			t.Errorf("call record holds the password: %s", b)
		}
	}
}

// An open simulator takes any token or none, gives IAM tokens to anyone, and still refuses the
// tokens it issued once they expire: so a worker's refresh path runs against the demo too.
func TestOpenSimulator(t *testing.T) {
	clock := newClock()
	sim, ts := start(t, cphsim.Options{Now: clock.Now})
	for _, tok := range []string{"", "anything"} {
		if r := listStatus(t, ts, project, tok); r.status != 200 {
			t.Errorf("token %q: %d", tok, r.status)
		}
	}
	tok, r := getToken(t, ts, tokenBody("anyone", "any", "any", project))
	if r.status != http.StatusCreated || tok == "" {
		t.Fatalf("open IAM: %d %s", r.status, r.body)
	}
	sim.ExpireTokens()
	wantError(t, listStatus(t, ts, project, tok), 401, "APIGW.0301")
	tok, _ = getToken(t, ts, tokenBody("anyone", "any", "any", project))
	clock.Advance(cphsim.DefaultTokenTTL)
	wantError(t, listStatus(t, ts, project, tok), 401, "APIGW.0301")
	if r := listStatus(t, ts, project, "unknown"); r.status != 200 {
		t.Errorf("unknown token after expiry: %d", r.status)
	}
}

// With static tokens only, IAM issues nothing: there is no user to authenticate.
func TestIAMWithoutUserWhenTokensAreStatic(t *testing.T) {
	_, ts := start(t, cphsim.Options{Tokens: []string{"static"}})
	_, r := getToken(t, ts, tokenBody("anyone", "any", "any", project))
	wantError(t, r, 401, "IAM.0004")
}
