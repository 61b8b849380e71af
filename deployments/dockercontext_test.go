package deployments

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// repoRoot is the build context of deployments/Dockerfile (docker build -f deployments/Dockerfile .).
const repoRoot = ".."

// mustStayOut are paths that must never reach the build context: local secrets and settings,
// git history, build output.
var mustStayOut = []string{
	"deployments/secrets/cph-token",
	"deployments/.env",
	".env",
	"secrets/cph-token",
	".git/config",
	"bin/worker",
}

// checkDockerContext checks a .dockerignore against the Dockerfile and the files under root:
// everything the Dockerfile copies from the context is there and not ignored, and mustStayOut is.
func checkDockerContext(ignore, dockerfileSrc []byte, root string) problems {
	var p problems
	patterns, err := ignorefile.ReadAll(bytes.NewReader(ignore))
	if err != nil {
		p.addf(".dockerignore: %v", err)
		return p
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		p.addf(".dockerignore: %v", err)
		return p
	}
	ignored := func(path string) bool {
		m, err := pm.MatchesOrParentMatches(path)
		if err != nil {
			p.addf(".dockerignore on %s: %v", path, err)
		}
		return m
	}
	for _, path := range mustStayOut {
		if !ignored(path) {
			p.addf(".dockerignore lets %s into the build context", path)
		}
	}
	res, err := parser.Parse(bytes.NewReader(dockerfileSrc))
	if err != nil {
		p.addf("Dockerfile: %v", err)
		return p
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		p.addf("Dockerfile: %v", err)
		return p
	}
	for _, s := range stages {
		for _, cmd := range s.Commands {
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok || c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				checkContextSource(root, filepath.Clean(src), ignored, &p)
			}
		}
	}
	return p
}

// checkContextSource: src exists under root, and neither it nor any file below it is ignored.
func checkContextSource(root, src string, ignored func(string) bool, p *problems) {
	err := filepath.WalkDir(filepath.Join(root, src), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if ignored(filepath.ToSlash(rel)) {
			p.addf("the Dockerfile copies %s, but .dockerignore leaves out %s", src, rel)
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		p.addf("the Dockerfile copies %s: %v", src, err)
	}
}

// TestDockerContext: the real .dockerignore and Dockerfile agree, and keep secrets out.
func TestDockerContext(t *testing.T) {
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkDockerContext(ignore, src, repoRoot) {
		t.Error(p)
	}
}

// TestDockerContextCatches changes the real .dockerignore or Dockerfile one way at a time and
// expects checkDockerContext to name what broke.
func TestDockerContextCatches(t *testing.T) {
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                 string
		ignoreEdit, fileEdit [2]string
		want                 string
	}{
		{"git history let in", [2]string{".git\n", ""}, [2]string{}, "lets .git/config"},
		{"compose secrets let in", [2]string{"**/secrets\n", ""}, [2]string{}, "lets secrets/cph-token"},
		{"sources left out", [2]string{"bin\n", "bin\ninternal\n"}, [2]string{}, "leaves out internal"},
		{"one source file left out", [2]string{"bin\n", "bin\ncmd/worker/config.go\n"}, [2]string{}, "leaves out cmd/worker/config.go"},
		{"copy of a missing path", [2]string{}, [2]string{"COPY internal ./internal", "COPY pkg ./pkg"}, "copies pkg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ig, df := string(ignore), string(src)
			if tc.ignoreEdit[0] != "" {
				ig = strings.Replace(ig, tc.ignoreEdit[0], tc.ignoreEdit[1], 1)
				if ig == string(ignore) {
					t.Fatalf(".dockerignore does not contain %q any more: update this case", tc.ignoreEdit[0])
				}
			}
			if tc.fileEdit[0] != "" {
				df = strings.Replace(df, tc.fileEdit[0], tc.fileEdit[1], 1)
				if df == string(src) {
					t.Fatalf("the Dockerfile does not contain %q any more: update this case", tc.fileEdit[0])
				}
			}
			got := checkDockerContext([]byte(ig), []byte(df), repoRoot)
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %q", tc.want, got)
		})
	}
}
