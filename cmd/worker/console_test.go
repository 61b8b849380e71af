package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
)

const consoleToken = "console-s3cret-4c1d"

// baseArgs is a configuration the worker accepts, apart from the console.
func baseArgs(redisURL string) []string {
	return []string{"--redis-url", redisURL, "--cph-endpoint", "http://127.0.0.1:1", "--cph-token", "cph-s3cret", "--log-level", "error"}
}

func TestWorkerServesNoOpenConsoleWithoutAToken(t *testing.T) {
	redisURL := "redis://" + miniredis.RunT(t).Addr() + "/0"
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			cfg := config{
				RedisURL: redisURL, Endpoint: "http://127.0.0.1:1", Token: "cph-s3cret", RateLimit: 5, Timeout: time.Second,
				Concurrency: 1, Queue: "q", RetryBaseDelay: time.Second, RetryMaxDelay: time.Second, ResultsStream: "s",
				HTTPAddr: addr, LogLevel: "error", LogFormat: "json", MaxRetry: 1,
			}
			var logs bytes.Buffer
			log, _ := newLogger(&logs, "warn", "json")
			w, err := newWorker(cfg, log)
			if err != nil {
				t.Fatalf("the worker must start, without its console: %v", err)
			}
			defer w.rdb.Close()
			for path, want := range map[string]int{"/console/": http.StatusNotFound, "/healthz": http.StatusOK} {
				rec := httptest.NewRecorder()
				w.http.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != want {
					t.Errorf("%s = %d, want %d", path, rec.Code, want)
				}
			}
			if !strings.Contains(logs.String(), "CONSOLE_TOKEN") || strings.Contains(logs.String(), "cph-s3cret") {
				t.Fatalf("log = %q; want a warning naming CONSOLE_TOKEN and no secret", logs.String())
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
