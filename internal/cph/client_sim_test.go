package cph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
)

const simProject = "0b1c0000000000000000000000000sim"

func simRequest(t *testing.T, name string) *cph.PurchaseRequest {
	t.Helper()
	req := cph.ExampleRequest(name)
	*req.Count = 2
	return req
}

// Every fault of the simulator, through the real client over real HTTP, comes back as the outcome
// class of docs/design.md: what matters is whether the order can exist, and the simulator knows.
func TestClientAgainstSimulatorFaults(t *testing.T) {
	cases := []struct {
		fault     cphsim.FaultKind
		class     cph.Class // "" for success
		status    int
		code      string
		throttled bool
		orders    int
	}{
		{cphsim.FaultNone, "", 200, "", false, 1},
		{cphsim.FaultThrottle, cph.ClassRetryable, 429, "APIGW.0308", true, 0},
		{cphsim.FaultFailBeforeCommit, cph.ClassRetryable, 503, "", false, 0},
		{cphsim.FaultReject, cph.ClassRejected, 400, "CPS.0006", false, 0},
		{cphsim.FaultFailAfterCommit, cph.ClassAmbiguous, 500, "CPS.0003", false, 1},
		{cphsim.FaultHangAfterCommit, cph.ClassAmbiguous, 0, "", false, 1},
		{cphsim.FaultDropAfterCommit, cph.ClassAmbiguous, 0, "", false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.fault.String(), func(t *testing.T) {
			sim := cphsim.New(cphsim.Options{
				Tokens: []string{"tok"}, HangFor: time.Minute,
				Decide: func(cphsim.PurchaseCall) cphsim.Fault { return cphsim.Fault{Kind: tc.fault} },
			})
			ts := httptest.NewServer(sim)
			defer ts.Close()
			c, err := cph.NewClient(ts.URL, cph.StaticToken("tok"), cph.ClientOptions{Timeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Purchase(context.Background(), simProject, simRequest(t, "sim-"+tc.fault.String()[:4]))
			if got := len(sim.Orders()); got != tc.orders {
				t.Fatalf("simulator committed %d orders, want %d", got, tc.orders)
			}
			if tc.class == "" {
				if err != nil || resp.OrderID != sim.Orders()[0].OrderID || len(resp.ServerIDs) != 2 || resp.RequestID == "" {
					t.Fatalf("Purchase = %+v, %v", resp, err)
				}
				return
			}
			var e *cph.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *cph.Error", err)
			}
			if e.Class != tc.class || e.HTTPStatus != tc.status || e.Throttled != tc.throttled || !e.Sent {
				t.Fatalf("err = %+v; want class %s, status %d, throttled %v, sent", e, tc.class, tc.status, tc.throttled)
			}
			if tc.code != "" && e.Code != tc.code {
				t.Fatalf("code = %q, want %q", e.Code, tc.code)
			}
			if tc.throttled && e.RetryAfter != time.Second {
				t.Fatalf("RetryAfter = %v, want 1s", e.RetryAfter)
			}
			if e.HTTPStatus != 0 && e.RequestID == "" {
				t.Fatal("no request id from an API answer")
			}
		})
	}
}

func TestClientAgainstSimulatorAuthAndReachability(t *testing.T) {
	ctx := context.Background()
	sim := cphsim.New(cphsim.Options{Tokens: []string{"static"}, IAMUser: "u", IAMPassword: "pw", IAMDomain: "d"})
	ts := httptest.NewServer(sim)
	defer ts.Close()

	// IAM: a token that expires mid-run is refreshed once, and the call goes through.
	iam, err := cph.NewIAMToken(cph.IAMConfig{Endpoint: ts.URL, Username: "u", Password: "pw", Domain: "d", ProjectID: simProject})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := cph.NewClient(ts.URL, iam, cph.ClientOptions{})
	if _, err := c.Purchase(ctx, simProject, simRequest(t, "iam-1")); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens()
	if _, err := c.Purchase(ctx, simProject, simRequest(t, "iam-2")); err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	if st := sim.Stats(); st.Unauthorized != 1 || st.Orders != 2 {
		t.Fatalf("stats = %+v; want one 401 and two orders", st)
	}

	// A static token that expired cannot be refreshed: auth, nothing bought.
	static, _ := cph.NewClient(ts.URL, cph.StaticToken("static"), cph.ClientOptions{})
	_, err = static.Purchase(ctx, simProject, simRequest(t, "static-1"))
	if class, _ := cph.ClassOf(err); class != cph.ClassAuth {
		t.Fatalf("expired static token: %v, want auth", err)
	}

	// Wrong IAM password: auth, never the password in the message.
	bad, _ := cph.NewIAMToken(cph.IAMConfig{Endpoint: ts.URL, Username: "u", Password: "wrong-pw-123", Domain: "d", ProjectID: simProject})
	badClient, _ := cph.NewClient(ts.URL, bad, cph.ClientOptions{})
	_, err = badClient.Purchase(ctx, simProject, simRequest(t, "bad-1"))
	if class, _ := cph.ClassOf(err); class != cph.ClassAuth || strings.Contains(err.Error(), "wrong-pw-123") {
		t.Fatalf("wrong password: %v", err)
	}

	// The API down (connections closed unanswered): a purchase is ambiguous, a list just fails.
	sim.SetDown(true)
	_, err = c.Purchase(ctx, simProject, simRequest(t, "down-1"))
	if class, _ := cph.ClassOf(err); class != cph.ClassAmbiguous {
		t.Fatalf("API down: %v, want ambiguous", err)
	}
	sim.SetDown(false)

	// Nothing listening: provably not sent.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	gone, _ := cph.NewClient("http://"+addr, cph.StaticToken("x"), cph.ClientOptions{})
	_, err = gone.Purchase(ctx, simProject, simRequest(t, "gone-1"))
	var e *cph.Error
	if !errors.As(err, &e) || e.Class != cph.ClassRetryable || e.Sent {
		t.Fatalf("refused connection: %+v, want retryable and not sent", err)
	}
}

func TestClientListAndGetAgainstSimulator(t *testing.T) {
	ctx := context.Background()
	sim := cphsim.New(cphsim.Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	c, _ := cph.NewClient(ts.URL, cph.StaticToken("any"), cph.ClientOptions{})
	before := time.Now().Add(-time.Minute)
	resp, err := c.Purchase(ctx, simProject, simRequest(t, "farm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Purchase(ctx, simProject, simRequest(t, "other")); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListServers(ctx, simProject, cph.ListFilter{ServerName: "farm", CreateSince: before})
	if err != nil {
		t.Fatal(err)
	}
	if list.Count != 2 || len(list.Servers) != 2 {
		t.Fatalf("list = %+v, want the two servers of farm", list)
	}
	for i, s := range list.Servers {
		if s.Metadata.OrderID != resp.OrderID || s.ServerName != "farm-000"+string(rune('1'+i)) {
			t.Fatalf("server %d = %+v", i, s)
		}
	}
	page, err := c.ListServers(ctx, simProject, cph.ListFilter{ServerName: "farm", Offset: 1, Limit: 1})
	if err != nil || page.Count != 2 || len(page.Servers) != 1 || page.Servers[0].ServerName != "farm-0002" {
		t.Fatalf("page = %+v, %v", page, err)
	}
	got, err := c.GetServer(ctx, simProject, resp.ServerIDs[0])
	if err != nil || got.ServerID != resp.ServerIDs[0] {
		b, _ := json.Marshal(got)
		t.Fatalf("GetServer = %s, %v", b, err)
	}
	_, err = c.GetServer(ctx, simProject, "no-such-server")
	if class, _ := cph.ClassOf(err); class != cph.ClassRejected {
		t.Fatalf("GetServer of nothing: %v, want rejected (404)", err)
	}
}
