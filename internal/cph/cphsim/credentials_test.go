package cphsim_test

import (
	"net/http"
	"strings"
	"testing"

	"cphpurchase/internal/cph/cphsim"
)

// RefuseCredentials turns every token and every IAM password bad, and back, at run time, in
// process and through the debug routes; an open simulator (no token configured) refuses too.
func TestRefuseCredentials(t *testing.T) {
	for _, opts := range []cphsim.Options{{Tokens: []string{"tok"}, IAMUser: "buyer", IAMPassword: "pw"}, {}} {
		sim, ts := start(t, opts)
		list := func() int {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers", nil)
			req.Header.Set("X-Auth-Token", "tok")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		iam := func() int {
			t.Helper()
			body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"buyer","password":"pw","domain":{"name":"d"}}}},"scope":{"project":{"id":"` + project + `"}}}}`
			res, err := http.Post(ts.URL+"/v3/auth/tokens", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		debug := func(route string) {
			t.Helper()
			res, err := http.Post(ts.URL+"/_sim/"+route, "", nil)
			if err != nil || res.StatusCode != http.StatusNoContent {
				t.Fatalf("POST /_sim/%s: %v, %v", route, res, err)
			}
			res.Body.Close()
		}
		if list() != 200 || iam() != 201 {
			t.Fatal("the credentials are refused before RefuseCredentials")
		}
		sim.RefuseCredentials(true)
		if list() != 401 || iam() != 401 {
			t.Fatal("the credentials are accepted after RefuseCredentials(true)")
		}
		sim.RefuseCredentials(false)
		if list() != 200 || iam() != 201 {
			t.Fatal("the credentials are refused after RefuseCredentials(false)")
		}
		debug("refuse-credentials")
		if list() != 401 {
			t.Fatal("the credentials are accepted after /_sim/refuse-credentials")
		}
		debug("accept-credentials")
		if list() != 200 {
			t.Fatal("the credentials are refused after /_sim/accept-credentials")
		}
	}
}
