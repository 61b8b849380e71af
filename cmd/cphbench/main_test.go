package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"--help"}, 0, "Usage: cphbench"},
		{"unknown flag", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"row out of range", []string{"--rows", "1,7"}, 2, `"7" is not a row number`},
		{"row not a number", []string{"--rows", "two"}, 2, `"two" is not a row number`},
		{"bad Redis URL", []string{"--redis-url", "http://x", "--worker", "/nonexistent"}, 1, "scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr, func(string) string { return "" })
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

// version and --version print the build, and run nothing.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr, func(string) string { return "" })
		if code != 0 || !strings.HasPrefix(stdout.String(), "cphbench version ") || stderr.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}
