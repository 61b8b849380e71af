package main

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := cphsim.Options{
		RejectCode: cphsim.DefaultRejectCode, RetryAfter: cphsim.DefaultRetryAfter,
		HangFor: cphsim.DefaultHangFor, TokenTTL: cphsim.DefaultTokenTTL,
		LateCommitAfter: cphsim.DefaultLateCommitAfter,
	}
	if cfg.addr != "127.0.0.1:8080" || cfg.verbose || !reflect.DeepEqual(cfg.opts, want) {
		t.Errorf("defaults = %+v, opts %+v", cfg, cfg.opts)
	}
}

func TestParseFlagsEveryOption(t *testing.T) {
	args := []string{
		"--addr", "127.0.0.1:0", "--verbose", "--latency", "50ms", "--seed", "7",
		"--throttle-rate", "0.1", "--fail-before-rate", "0.05", "--fail-after-rate", "0.2",
		"--hang-rate", "0.01", "--drop-rate", "0.02", "--reject-rate", "0.03", "--reject-code", "CPS.0007",
		"--late-commit-rate", "0.04", "--late-commit-after", "1500ms",
		"--retry-after", "3s", "--hang-for", "10s", "--rate-limit", "5", "--token-ttl", "10m",
		"--token", "a", "--token", "b", "--iam-user", "buyer", "--iam-password", "from-flag", "--iam-domain", "acme",
	}
	cfg, err := parseFlags(args, env(map[string]string{passwordEnv: "from-env"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := cphsim.Options{
		Latency: 50 * time.Millisecond, Seed: 7,
		ThrottleRate: 0.1, FailBeforeRate: 0.05, FailAfterRate: 0.2, HangRate: 0.01, DropRate: 0.02,
		RejectRate: 0.03, RejectCode: "CPS.0007", RetryAfter: 3 * time.Second, HangFor: 10 * time.Second,
		LateCommitRate: 0.04, LateCommitAfter: 1500 * time.Millisecond,
		RateLimit: 5, TokenTTL: 10 * time.Minute, Tokens: []string{"a", "b"},
		IAMUser: "buyer", IAMPassword: "from-flag", IAMDomain: "acme",
	}
	if cfg.addr != "127.0.0.1:0" || !cfg.verbose || !reflect.DeepEqual(cfg.opts, want) {
		t.Errorf("got %+v\nwant %+v", cfg.opts, want)
	}
}

func TestParseFlagsPasswordFromEnv(t *testing.T) {
	cfg, err := parseFlags([]string{"--iam-user", "buyer"}, env(map[string]string{passwordEnv: "from-env"}), &bytes.Buffer{})
	if err != nil || cfg.opts.IAMPassword != "from-env" {
		t.Errorf("password %q, err %v", cfg.opts.IAMPassword, err)
	}
	if _, err := parseFlags([]string{"--iam-user", "buyer"}, env(nil), &bytes.Buffer{}); err == nil {
		t.Error("an IAM user without any password was accepted")
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--drop-rate", "1.5"},
		{"--throttle-rate", "0.6", "--fail-after-rate", "0.6"},
		{"--rate-limit", "-1"},
		{"--late-commit-rate", "1.5"},
		{"--late-commit-rate", "-0.1"},
		{"--late-commit-rate", "0.5", "--fail-after-rate", "0.3", "--reject-rate", "0.3"},
		{"--late-commit-after", "-1s"},
		{"--late-commit-after", "soon"},
		{"--latency", "soon"},
		{"--no-such-flag"},
		{"extra"},
	} {
		_, err := parseFlags(args, env(nil), &bytes.Buffer{})
		if err == nil || errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(err.Error(), "cphsim: ") {
			t.Errorf("%q: err %v", args, err)
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Examples:", "--fail-after-rate 0.1", "/_sim/stats", passwordEnv, "-rate-limit", "-token",
		"-late-commit-rate", "-late-commit-after", "--late-commit-rate 0.05"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func TestParseFlagsLateCommit(t *testing.T) {
	tests := []struct {
		args      []string
		rate      float64
		after     time.Duration
		wantError bool
	}{
		{args: nil, rate: 0, after: cphsim.DefaultLateCommitAfter},
		{args: []string{"--late-commit-rate", "0.25"}, rate: 0.25, after: cphsim.DefaultLateCommitAfter},
		{args: []string{"--late-commit-rate=1", "--late-commit-after=200ms"}, rate: 1, after: 200 * time.Millisecond},
		{args: []string{"--late-commit-after", "0"}, after: 0}, // 0: the simulator's default
		{args: []string{"--late-commit-rate", "0.6", "--throttle-rate", "0.5"}, wantError: true},
		{args: []string{"--late-commit-rate", "NaN"}, wantError: true},
		{args: []string{"--late-commit-after", "-5s"}, wantError: true},
	}
	for _, tt := range tests {
		cfg, err := parseFlags(tt.args, env(nil), &bytes.Buffer{})
		switch {
		case tt.wantError:
			if err == nil || !strings.HasPrefix(err.Error(), "cphsim: ") {
				t.Errorf("%q: err %v, want a usage error", tt.args, err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case cfg.opts.LateCommitRate != tt.rate || cfg.opts.LateCommitAfter != tt.after:
			t.Errorf("%q: rate %v, after %v; want %v, %v", tt.args, cfg.opts.LateCommitRate, cfg.opts.LateCommitAfter, tt.rate, tt.after)
		}
	}
}
