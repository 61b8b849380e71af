package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
)

const consoleToken = "console-s3cret-4c1d"

// baseArgs is a configuration the worker accepts, apart from the console.
func baseArgs(redisURL string) []string {
	return []string{"--redis-url", redisURL, "--cph-endpoint", "http://127.0.0.1:1", "--cph-token", "cph-s3cret", "--log-level", "error"}
}

func TestWorkerRefusesAnOpenConsoleWithoutAToken(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"every interface", nil, []string{"--http-addr", "0.0.0.0:0"}},
		{"an empty host", map[string]string{"HTTP_ADDR": ":0"}, nil},
		{"a token set to empty", map[string]string{"CONSOLE_TOKEN": ""}, []string{"--http-addr", "[::]:0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lookup := func(name string) (string, bool) { v, ok := c.env[name]; return v, ok }
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), append(baseArgs("redis://127.0.0.1:1/0"), c.args...), &stdout, &stderr, lookup)
			if code != 2 || !strings.Contains(stderr.String(), "CONSOLE_TOKEN") {
				t.Fatalf("exit %d, stderr %q; want 2 and a message naming CONSOLE_TOKEN", code, stderr.String())
			}
			if strings.Contains(stderr.String(), "cph-s3cret") {
				t.Fatal("the CPH token leaked into the error")
			}
		})
	}
}

func TestWorkerServesTheConsoleBehindItsToken(t *testing.T) {
	redisURL := "redis://" + miniredis.RunT(t).Addr() + "/0"
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		token bool
	}{
		{"loopback, no token", nil, []string{"--http-addr", "127.0.0.1:0"}, false},
		{"every interface, token from the environment", map[string]string{"CONSOLE_TOKEN": consoleToken}, []string{"--http-addr", "0.0.0.0:0"}, true},
		{"every interface, token from the flag", nil, []string{"--http-addr", "0.0.0.0:0", "--console-token", consoleToken}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := workerFor(t, append(baseArgs(redisURL), c.args...), c.env)
			srv := httptest.NewServer(w.http.Handler)
			defer srv.Close()
			get := func(path, auth string) int {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := get("/healthz", ""); got != http.StatusOK {
				t.Fatalf("/healthz = %d: probes need no token", got)
			}
			wantAnonymous := http.StatusOK
			if c.token {
				wantAnonymous = http.StatusUnauthorized
			}
			if got := get("/console/", ""); got != wantAnonymous {
				t.Fatalf("/console/ without a token = %d, want %d", got, wantAnonymous)
			}
			if c.token {
				if got := get("/console/", "Bearer wrong"); got != http.StatusUnauthorized {
					t.Fatalf("/console/ with a wrong token = %d, want 401", got)
				}
				if got := get("/console/", "Bearer "+consoleToken); got != http.StatusOK {
					t.Fatalf("/console/ with the token = %d, want 200", got)
				}
			}
		})
	}
}

// workerFor parses args and env as the worker does and wires a worker, without running it.
func workerFor(t *testing.T, args []string, env map[string]string) *worker {
	t.Helper()
	var cfg config
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	if err := bindFlags(fs, &cfg, func(name string) (string, bool) { v, ok := env[name]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	w, err := newWorker(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.rdb.Close() })
	return w
}

func TestWorkerHelpHidesTheConsoleToken(t *testing.T) {
	var stdout, stderr bytes.Buffer
	lookup := func(name string) (string, bool) {
		if name == "CONSOLE_TOKEN" {
			return consoleToken, true
		}
		return "", false
	}
	if code := execute(context.Background(), []string{"--help"}, &stdout, &stderr, lookup); code != 0 {
		t.Fatalf("--help: exit %d, %s", code, stderr.String())
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, consoleToken) || !strings.Contains(out, "--console-token") {
		t.Fatalf("--help shows the token, or no --console-token:\n%s", out)
	}
}
