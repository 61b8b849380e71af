package main

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"cphpurchase/internal/cph/cphsim"
)

// `worker --embedded` takes a rate suited to trying things unless CPH_RATE_LIMIT is given, serves
// its Redis at REDIS_URL when one is given (so one exported URL serves the worker and enqueue),
// and prints what to export and the rate in force.
func TestEmbeddedSettings(t *testing.T) {
	free := freeLoopbackAddr(t)
	for _, tc := range []struct {
		name      string
		env       map[string]string
		args      []string
		wantRate  int
		wantRedis string // "" : any loopback port
	}{
		{name: "defaults", wantRate: embeddedRateLimit},
		{name: "rate from the environment", env: map[string]string{"CPH_RATE_LIMIT": "7"}, wantRate: 7},
		{name: "rate flag", args: []string{"--rate-limit", "3"}, wantRate: 3},
		{name: "production's rate, asked for", env: map[string]string{"CPH_RATE_LIMIT": "5"}, wantRate: 5},
		{name: "fixed Redis address", env: map[string]string{"REDIS_URL": "redis://" + free + "/0"}, wantRate: embeddedRateLimit, wantRedis: "redis://" + free + "/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"REDIS_URL": "", "CPH_ENDPOINT": "", "CPH_TOKEN": ""}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := parseConfig(env, append([]string{"--embedded"}, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			emb, err := startEmbedded(&cfg, cphsim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer emb.Close()
			if cfg.RateLimit != tc.wantRate {
				t.Errorf("rate limit %d, want %d", cfg.RateLimit, tc.wantRate)
			}
			if tc.wantRedis != "" && (cfg.RedisURL != tc.wantRedis || "redis://"+emb.redis.Addr()+"/0" != tc.wantRedis) {
				t.Errorf("REDIS_URL %q, in-process Redis on %s; want both %q", cfg.RedisURL, emb.redis.Addr(), tc.wantRedis)
			}
			if !strings.HasPrefix(cfg.RedisURL, "redis://127.0.0.1:") {
				t.Errorf("REDIS_URL %q, want loopback", cfg.RedisURL)
			}
			var out bytes.Buffer
			emb.announce(&out, cfg)
			want := "REDIS_URL=" + cfg.RedisURL + "\nCPH_ENDPOINT=" + cfg.Endpoint + "\nCPH_RATE_LIMIT=" + strconv.Itoa(tc.wantRate) + "\n"
			if out.String() != want {
				t.Errorf("prints %q, want %q", out.String(), want)
			}
		})
	}
}

// A REDIS_URL that the in-process Redis cannot serve is a usage error that never repeats the URL.
func TestEmbeddedRefusesARedisURLItCannotServe(t *testing.T) {
	for _, u := range []string{
		"redis://:s3cret@127.0.0.1:6390/0", // the in-process Redis has no password
		"redis://redis.internal:6379/0",    // loopback only
		"rediss://127.0.0.1:6390/0",
		"redis-cluster://127.0.0.1:7000",
		"redis://127.0.0.1/0", // a port to listen on
	} {
		cfg := config{Embedded: true, RedisURL: u}
		emb, err := startEmbedded(&cfg, cphsim.Options{})
		if err == nil {
			emb.Close()
			t.Errorf("%s: started", u)
			continue
		}
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "internal") {
			t.Errorf("%s: %v; want a usage error naming REDIS_URL, without the URL", u, err)
		}
	}
}

// freeLoopbackAddr returns a loopback address with a port that was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
