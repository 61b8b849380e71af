package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/testkit"
)

// sim is a CPH simulator the workers call over HTTP, read through its /_sim/ debug routes:
// either a cphsim process, or an httptest server around cphsim.New(...).WithDebug() when a test
// needs a Go Decide function or a wrapper. Both are read the same way, as the workers see them.
type sim struct {
	t    testing.TB
	url  string
	http *http.Client
	proc *proc // nil for an in-test simulator
}

// startSimProcess runs the cphsim binary with args on a free loopback port.
func startSimProcess(t testing.TB, ps *procs, args []string, env map[string]string) *sim {
	t.Helper()
	p := ps.start("cphsim", bin("cphsim"), append([]string{"--addr", "127.0.0.1:0"}, args...), env)
	var base string
	if !testkit.Poll(30*time.Second, func() bool {
		if line, _, ok := strings.Cut(p.readStdout(), "\n"); ok {
			base = line
			return true
		}
		return p.exited()
	}) || base == "" {
		p.dump()
		t.Fatal("cphsim did not print its URL")
	}
	return &sim{t: t, url: base, http: &http.Client{Timeout: 10 * time.Second}, proc: p}
}

// startSimInTest serves cphsim.New(opts) with its debug routes from the test process; wrap, when
// not nil, wraps the handler (to watch requests as they arrive).
func startSimInTest(t testing.TB, opts cphsim.Options, wrap func(http.Handler) http.Handler) *sim {
	t.Helper()
	var h http.Handler = cphsim.New(opts).WithDebug()
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &sim{t: t, url: ts.URL, http: &http.Client{Timeout: 10 * time.Second}}
}

func (s *sim) get(path string, out any) error {
	resp, err := s.http.Get(s.url + cphsim.DebugPrefix + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// must fails the test on a debug-route error: the simulator is the test's own instrument.
func (s *sim) must(err error) {
	if err != nil {
		s.t.Helper()
		s.t.Fatalf("simulator: %v", err)
	}
}

// stats returns the simulator's counters.
func (s *sim) stats() cphsim.Stats {
	s.t.Helper()
	var st cphsim.Stats
	s.must(s.get("stats", &st))
	return st
}

// orders returns every committed order.
func (s *sim) orders() []cphsim.Order {
	s.t.Helper()
	var o []cphsim.Order
	s.must(s.get("orders", &o))
	return o
}

// ordersFor returns the committed orders for one server name.
func (s *sim) ordersFor(name string) []cphsim.Order {
	s.t.Helper()
	var o []cphsim.Order
	s.must(s.get("orders?server_name="+url.QueryEscape(name), &o))
	return o
}

// post calls one of the POST debug routes: expire-tokens, down, up, reset.
func (s *sim) post(action string) error {
	resp, err := s.http.Post(s.url+cphsim.DebugPrefix+action, "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST %s: %s", action, resp.Status)
	}
	return nil
}
