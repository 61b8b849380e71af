package main

import (
	"bytes"
	"context"
	"testing"

	"cphpurchase/internal/buildinfo"
)

// version and --version print the build and need no configuration at all.
func TestVersion(t *testing.T) {
	want := "worker version " + buildinfo.Read().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		code := execute(context.Background(), args, &stdout, &stderr, func(string) (string, bool) { return "", false })
		if code != 0 || stdout.String() != want || stderr.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and %q", args, code, stdout.String(), stderr.String(), want)
		}
	}
}
