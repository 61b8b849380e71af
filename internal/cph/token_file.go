package cph

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// maxTokenFileSize bounds what a token file may hold; IAM tokens are a few KiB.
const maxTokenFileSize = 64 << 10

// NewFileToken serves the token held in the file at path (CPH_TOKEN_FILE), for deployments where
// something else (a sidecar, a mounted Kubernetes secret) keeps the file current. Every Token call
// stats the file and re-reads it only when it changed (another file, mtime or size), so a rotation
// takes effect at the next call at the cost of one stat. Surrounding white space is trimmed. A
// missing, unreadable or empty file is an error that names the path, never the content.
func NewFileToken(path string) TokenSource { return &fileToken{path: path} }

type fileToken struct {
	path string

	mu     sync.Mutex
	cached *fileTokenVersion // nil when nothing is cached
}

// fileTokenVersion is a token and the stat of the file it was read from. Being behind a pointer
// keeps the token out of fmt's reach (see Secret).
type fileTokenVersion struct {
	tok  Secret
	info os.FileInfo
}

func (s *fileToken) Token(context.Context) (Secret, error) {
	info, err := os.Stat(s.path)
	if err != nil {
		return "", fmt.Errorf("cph: token file: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && sameVersion(s.cached.info, info) {
		return s.cached.tok, nil
	}
	tok, err := readTokenFile(s.path)
	if err != nil {
		return "", err
	}
	s.cached = &fileTokenVersion{tok: tok, info: info}
	return tok, nil
}

// Invalidate forgets tok so that the next Token call reads the file again, even if it looks
// unchanged.
func (s *fileToken) Invalidate(tok Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && s.cached.tok == tok {
		s.cached = nil
	}
}

// Format keeps the token out of every fmt verb; the path is not secret.
func (s *fileToken) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "cph.FileToken("+s.path+")")
}

func readTokenFile(path string) (Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cph: token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("cph: token file: %w", err)
	}
	if len(b) > maxTokenFileSize {
		return "", fmt.Errorf("cph: token file %s: larger than %d bytes", path, maxTokenFileSize)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("cph: token file %s is empty", path)
	}
	return Secret(tok), nil
}

// sameVersion reports whether two stats show the same file with the same content, as far as a stat
// can tell. os.SameFile catches an atomic rename and a Kubernetes secret's symlink swap.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}
