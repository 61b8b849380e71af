package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The README's first command: the demo runs end to end on embedded defaults and proves that
// nothing was bought twice.
func TestDemo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runDemo(context.Background(), &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		`"status":"duplicate"`,
		"request.count: must be between 1 and 10, got 11",
		`"class":"invalid"`,
		`"reconciled":true`,
		`"code":"CPS.0006"`,
		"Nothing was bought twice.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The count of orders submitted includes the invalid one, which placed none.
	m := regexp.MustCompile(`placed \d+ orders for (\d+) orders submitted \((\d+) valid, 1 invalid\)`).FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(mustAtoi(t, m[2])+1) {
		t.Errorf("demo's summary %q does not count the invalid order among those submitted", m)
	}
	if !regexp.MustCompile(`demo-invalid +0 order\(s\)`).MatchString(out) {
		t.Error("demo does not show that the invalid order placed none")
	}
	if t.Failed() {
		t.Log(out)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConfigurationMistakesExitTwo(t *testing.T) {
	base := map[string]string{
		"REDIS_URL": "redis://u:s3cret@127.0.0.1:1/0", "CPH_ENDPOINT": "http://127.0.0.1:1", "CPH_TOKEN": "tok-s3cret",
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no redis", map[string]string{"REDIS_URL": ""}, nil, "REDIS_URL is not set"},
		{"no endpoint", map[string]string{"CPH_ENDPOINT": ""}, nil, "CPH_ENDPOINT is not set"},
		{"no credentials", map[string]string{"CPH_TOKEN": ""}, nil, "no credentials"},
		{"two credential sources", map[string]string{"CPH_TOKEN_FILE": "/x"}, nil, "more than one credential source"},
		{"malformed rate", map[string]string{"CPH_RATE_LIMIT": "abc"}, nil, `CPH_RATE_LIMIT="abc" is not a whole number`},
		{"malformed timeout", map[string]string{"CPH_TIMEOUT": "soon"}, nil, `CPH_TIMEOUT="soon" is not a duration`},
		{"zero concurrency", map[string]string{"WORKER_CONCURRENCY": "0"}, nil, "WORKER_CONCURRENCY must be at least 1"},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, nil, "LOG_FORMAT must be json or console"},
		{"bad redis scheme", map[string]string{"REDIS_URL": "http://u:s3cret@x"}, nil, "scheme"},
		{"unknown flag", nil, []string{"--no-such-flag"}, "unknown flag"},
		{"stray argument", nil, []string{"extra"}, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), tc.args, &stdout, &stderr, lookup)
			msg := stderr.String()
			if code != 2 || !strings.Contains(msg, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, msg, tc.want)
			}
			if strings.Contains(msg, "s3cret") || strings.Contains(msg, "goroutine") {
				t.Fatalf("stderr shows a secret or a stack trace: %q", msg)
			}
		})
	}
}
