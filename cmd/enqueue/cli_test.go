package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cphpurchase/internal/tasks"
)

// TestErrorsAreOneLine covers the mistakes that end a run before any work: each is one line on
// stderr, with the right exit code, no stack trace, no usage dump, and never a password.
func TestErrorsAreOneLine(t *testing.T) {
	const secretURL = "redis://u:s3cret@127.0.0.1:1/0"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string // the start of the one line on stderr
	}{
		{"unknown command", nil, []string{"submt"}, 2,
			`enqueue: unknown command "submt" (did you mean "submit"?); see 'enqueue --help'`},
		{"unknown dlq command", nil, []string{"dlq", "purge"}, 2,
			`enqueue: dlq: unknown command "purge"; see 'enqueue dlq --help'`},
		{"unknown flag", nil, []string{"submit", "-f", "testdata/order.json", "--bogus"}, 2,
			"enqueue: submit: unknown flag: --bogus; see 'enqueue submit --help'"},
		{"missing -f", nil, []string{"submit"}, 2,
			`enqueue: submit: required flag(s) "file" not set; see 'enqueue submit --help'`},
		{"missing file", nil, []string{"submit", "-f", "testdata/nope.json"}, 2,
			"enqueue: submit: open testdata/nope.json: no such file or directory"},
		{"missing bulk file", nil, []string{"bulk", "-f", "testdata/nope.jsonl"}, 2,
			"enqueue: bulk: open testdata/nope.jsonl: no such file or directory"},
		{"wait duration without =", nil, []string{"submit", "-f", "testdata/order.json", "--wait", "30s"}, 2,
			`enqueue: submit: unexpected argument "30s" (a --wait duration goes after '=': --wait=30s)`},
		{"negative wait", nil, []string{"submit", "-f", "testdata/order.json", "--wait=-1s"}, 2,
			"enqueue: submit: --wait must be a positive duration, got -1s"},
		{"status without id", nil, []string{"status"}, 2,
			"enqueue: status: accepts 1 arg(s), received 0; see 'enqueue status --help'"},
		{"bad --from", nil, []string{"--redis-url", secretURL, "results", "--from", "yesterday"}, 2,
			`enqueue: results: --from must be a stream entry id such as 1764093600000-0, or $, got "yesterday"`},
		{"replay without ids", nil, []string{"--redis-url", secretURL, "dlq", "replay"}, 2,
			"enqueue: dlq replay: give at least one task id or key, or --all"},
		{"replay with ids and --all", nil, []string{"--redis-url", secretURL, "dlq", "replay", "--all", "cph-1"}, 2,
			"enqueue: dlq replay: give task ids or keys, or --all, not both"},
		{"delete --class without --all", nil, []string{"--redis-url", secretURL, "dlq", "delete", "--class", "auth", "cph-1"}, 2,
			"enqueue: dlq delete: --class goes with --all"},
		{"unknown class", nil, []string{"--redis-url", secretURL, "dlq", "list", "--class", "nope"}, 2,
			`enqueue: dlq list: --class must be invalid, rejected, auth, exhausted or ambiguous, got "nope"`},
		{"no REDIS_URL", map[string]string{"REDIS_URL": ""}, []string{"status", "x"}, 2,
			"enqueue: status: REDIS_URL is not set: set it or --redis-url to redis://host:port/db, or run `worker --embedded`, which prints one to use"},
		{"malformed MAX_RETRY", map[string]string{"MAX_RETRY": "abc"}, []string{"--redis-url", secretURL, "status", "x"}, 2,
			`enqueue: status: MAX_RETRY must be a whole number of at least 0, got "abc"`},
		{"negative --max-retry", nil, []string{"--redis-url", secretURL, "--max-retry", "-1", "status", "x"}, 2,
			"enqueue: status: --max-retry must be at least 0, got -1"},
		{"the flag wins over a malformed MAX_RETRY", map[string]string{"MAX_RETRY": "abc"}, []string{"--redis-url", "::bad", "--max-retry", "3", "status", "x"}, 2,
			"enqueue: status: REDIS_URL is not a URL"},
		{"malformed --redis-url", nil, []string{"--redis-url", "::bad", "status", "x"}, 2,
			"enqueue: status: REDIS_URL is not a URL: expected redis://[user:pass@]host:port[/db]"},
		{"bad port, with a password", nil, []string{"--redis-url", "redis://u:s3cret@127.0.0.1:abc/0", "status", "x"}, 2,
			"enqueue: status: REDIS_URL: address 1 of 1 is not host:port"},
		{"bad database, with a password", nil, []string{"--redis-url", "redis://u:s3cret@127.0.0.1:6379/x", "status", "x"}, 2,
			"enqueue: status: REDIS_URL: the path must be a database number, e.g. /0"},
		{"unsupported scheme, with a password", nil, []string{"--redis-url", "http://u:s3cret@127.0.0.1:6379/0", "status", "x"}, 2,
			`enqueue: status: REDIS_URL scheme "http" is not supported`},
		{"unreachable Redis from the flag", nil, []string{"--redis-url", secretURL, "status", "x"}, 1,
			"enqueue: status: cannot reach Redis: "},
		{"unreachable Redis from REDIS_URL", map[string]string{"REDIS_URL": secretURL}, []string{"dlq", "list"}, 1,
			"enqueue: dlq list: cannot reach Redis: "},
		{"unreachable Redis, after a valid order", nil, []string{"--redis-url", secretURL, "submit", "-f", "testdata/order.json"}, 1,
			"enqueue: submit: cannot reach Redis: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("MAX_RETRY", "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r := (*testRedis)(nil).enqueue(t, c.args...)
			wantExit(t, r, c.code)
			lines := stderrLines(t, r.stderr)
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want 1: %q", len(lines), r.stderr)
			}
			if !strings.HasPrefix(lines[0], c.want) {
				t.Errorf("stderr = %q\nwant it to start with %q", lines[0], c.want)
			}
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("stderr shows the password: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

// TestHelpShowsExamples: --help on the root and on every command prints, on stdout, examples to
// copy, and needs no Redis.
func TestHelpShowsExamples(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://u:s3cret@127.0.0.1:1/0")
	cases := []struct {
		cmd  []string
		want string
	}{
		{nil, "enqueue submit -f order.json --wait"},
		{[]string{"submit"}, "cat order.json | enqueue submit -f - --key batch-7/row-3"},
		{[]string{"bulk"}, "enqueue bulk -f orders.jsonl --skip-invalid"},
		{[]string{"validate"}, "enqueue validate -f orders.jsonl"},
		{[]string{"status"}, "enqueue status batch-2026-11/row-17"},
		{[]string{"results"}, "enqueue results --follow"},
		{[]string{"dlq"}, "enqueue dlq list"},
		{[]string{"dlq", "list"}, "enqueue dlq list --class rejected"},
		{[]string{"dlq", "show"}, "enqueue dlq show cph-"},
		{[]string{"dlq", "replay"}, "enqueue dlq replay --all --class auth"},
		{[]string{"dlq", "delete"}, "enqueue dlq delete --all --class invalid"},
		{[]string{"serve"}, "enqueue serve --addr 0.0.0.0:8480"},
	}
	for _, c := range cases {
		t.Run(strings.Join(append([]string{"enqueue"}, c.cmd...), " "), func(t *testing.T) {
			r := (*testRedis)(nil).enqueue(t, append(c.cmd, "--help")...)
			wantExit(t, r, 0)
			for _, w := range []string{"Examples:", c.want} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("help does not show %q:\n%s", w, r.stdout)
				}
			}
			if r.stderr != "" || strings.Contains(r.stdout, "s3cret") {
				t.Errorf("stderr = %q; and help must never show REDIS_URL", r.stderr)
			}
		})
	}
}

// A file far larger than an order is refused after reading only an order's worth of it.
func TestSubmitRefusesAFileLargerThanAnOrder(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte("a"), 10*tasks.MaxOrderBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--redis-url", "redis://127.0.0.1:1/0", "submit", "-f", big}, strings.NewReader(""), &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "an order is at most 65536 bytes") || strings.Count(stderr.String(), "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 2 and one line about the size", code, stderr.String())
	}
}
