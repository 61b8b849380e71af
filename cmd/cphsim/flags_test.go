package main

import (
	"bytes"
	"context"
	"errors"
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
		LateCommitAfter: cphsim.DefaultLateCommitAfter, PhonesPerServer: cphsim.DefaultPhonesPerServer,
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
		"--create-time", "30s", "--phones-per-server", "4", "--abnormal-rate", "0.1", "--phone-fail-rate", "0.2", "--never-ready-rate", "0.3",
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
		CreateTime: 30 * time.Second, PhonesPerServer: 4, AbnormalRate: 0.1, PhoneFailRate: 0.2, NeverReadyRate: 0.3,
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
		if err == nil || errors.Is(err, errHelp) || !strings.HasPrefix(err.Error(), "cphsim: ") {
			t.Errorf("%q: err %v", args, err)
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, errHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Examples:", "--fail-after-rate 0.1", "/_sim/stats", passwordEnv, "-rate-limit", "-token", "CPHSIM_LATENCY", "/_sim/refuse-credentials",
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

// Every flag is also a CPHSIM_ variable, as the worker's and enqueue's are: the flag given wins, a
// malformed variable is a usage error naming it (without its value), and --help never shows a
// value from the environment.
func TestParseFlagsFromTheEnvironment(t *testing.T) {
	environment := env(map[string]string{
		"CPHSIM_LATENCY": "50ms", "CPHSIM_TOKEN": "a,b", "CPHSIM_ADDR": "127.0.0.1:0", "CPHSIM_VERBOSE": "true",
		"CPHSIM_THROTTLE_RATE": "0.1", passwordEnv: "from-env", "CPHSIM_IAM_USER": "buyer",
	})
	cfg, err := parseFlags([]string{"--latency", "10ms"}, environment, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.opts
	if o.Latency != 10*time.Millisecond || !reflect.DeepEqual(o.Tokens, []string{"a", "b"}) || cfg.addr != "127.0.0.1:0" ||
		!cfg.verbose || o.ThrottleRate != 0.1 || o.IAMPassword != "from-env" || o.IAMUser != "buyer" {
		t.Errorf("got %+v, %+v", cfg, o)
	}

	_, err = parseFlags(nil, env(map[string]string{"CPHSIM_LATENCY": "soon", "CPHSIM_SEED": "seven"}), &bytes.Buffer{})
	var usage usageError
	if !errors.As(err, &usage) || !strings.HasPrefix(err.Error(), "cphsim: ") ||
		!strings.Contains(err.Error(), "CPHSIM_LATENCY") || !strings.Contains(err.Error(), "CPHSIM_SEED") {
		t.Errorf("malformed variables: %v; want a usage error naming both", err)
	}

	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, env(map[string]string{passwordEnv: "s3cret-pw", "CPHSIM_ADDR": "0.0.0.0:1"}), &help); !errors.Is(err, errHelp) {
		t.Fatal(err)
	}
	if strings.Contains(help.String(), "s3cret-pw") || strings.Contains(help.String(), "0.0.0.0:1") {
		t.Error("--help shows a value from the environment")
	}
}

// version, --version and a mistake: the exit codes of execute, and one line on stderr.
func TestExecuteExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "cphsim version ", ""},
		{[]string{"--version"}, 0, "cphsim version ", ""},
		{[]string{"--no-such-flag"}, 2, "", "cphsim: unknown flag: --no-such-flag; see 'cphsim --help'\n"},
		{[]string{"--drop-rate", "2"}, 2, "", "cphsim: invalid options: drop rate must be between 0 and 1, got 2; fault rates add up to 2, more than 1\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(context.Background(), tc.args, env(nil), &stdout, &stderr)
		if code != tc.code || !strings.HasPrefix(stdout.String(), tc.stdout) || stderr.String() != tc.stderr {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q…, %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
