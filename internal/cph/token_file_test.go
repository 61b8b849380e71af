package cph

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStaticToken(t *testing.T) {
	src := StaticToken("tok")
	got, err := src.Token(context.Background())
	if err != nil || got != "tok" {
		t.Fatalf("Token = %q, %v", got.Reveal(), err)
	}
	src.Invalidate("tok")
	if got, _ := src.Token(context.Background()); got != "tok" {
		t.Errorf("after Invalidate: %q", got.Reveal())
	}
	if _, err := StaticToken("").Token(context.Background()); err == nil {
		t.Error("empty static token: no error")
	}
}

func TestFileToken(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token")
	write := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	want := func(src TokenSource, tok string) {
		t.Helper()
		got, err := src.Token(ctx)
		if err != nil || got.Reveal() != tok {
			t.Fatalf("Token = %q, %v; want %q", got.Reveal(), err, tok)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write("\ttok-one\n", t0)
	src := NewFileToken(path)
	want(src, "tok-one")

	// A different size is noticed.
	write("tok-three\n", t0)
	want(src, "tok-three")

	// Same size and mtime: the cached token stays (one stat, no read) …
	write("tok-THREE\n", t0)
	want(src, "tok-three")
	// … until the mtime moves,
	write("tok-3hree\n", t0.Add(time.Second))
	want(src, "tok-3hree")
	// or the token is invalidated. A stale token's Invalidate changes nothing.
	write("tok-4four\n", t0.Add(time.Second))
	src.Invalidate("tok-one")
	want(src, "tok-3hree")
	src.Invalidate("tok-3hree")
	want(src, "tok-4four")

	// An atomic replacement (rename), even with the same size and mtime, is another file.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("tok-5five\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(tmp, t0.Add(time.Second), t0.Add(time.Second))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	want(src, "tok-5five")
}

func TestFileTokenErrorsNamePathNotContent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing-token")
	if _, err := NewFileToken(missing).Token(ctx); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}

	blank := filepath.Join(dir, "blank-token")
	if err := os.WriteFile(blank, []byte(" \n\t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileToken(blank).Token(ctx); err == nil || !strings.Contains(err.Error(), blank) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("blank file: %v", err)
	}

	// A file that held a token and then went empty is an error, not the stale token.
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("secret-content-123"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := NewFileToken(path)
	if _, err := src.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := src.Token(ctx)
	if err == nil || strings.Contains(err.Error(), "secret-content-123") {
		t.Errorf("emptied file: %v", err)
	}

	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", maxTokenFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileToken(big).Token(ctx); err == nil || strings.Contains(err.Error(), "xxx") {
		t.Errorf("oversized file: %v", err)
	}
}
