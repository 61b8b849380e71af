// Package cphpurchase_test checks the repository as a newcomer reads it: every link of its
// Markdown files and every file that a Go comment names is a file of this repository (a section
// of it, for a link with an anchor), never one outside it.
package cphpurchase_test

import (
	"bufio"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	markdownLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// mentionedPath is a path that a comment names: a Markdown file, or anything reached with ../.
	mentionedPath = regexp.MustCompile(`(?:\.\./)+[\w./-]*[\w/]|[\w./-]*\w\.md\b`)
	urlScheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

func TestMarkdownLinksStayInTheRepository(t *testing.T) {
	root := repoRoot(t)
	for _, md := range repoFiles(t, root, ".md") {
		body, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range outsideCodeBlocks(string(body)) {
			for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if urlScheme.MatchString(target) {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				file := md
				if path != "" {
					file = filepath.Join(filepath.Dir(md), path)
				}
				where := rel(root, md) + ":" + strconv.Itoa(n+1)
				if err := insideRepo(root, file); err != nil {
					t.Errorf("%s: link %s: %v", where, target, err)
					continue
				}
				if anchor != "" && strings.HasSuffix(file, ".md") && !headingAnchors(t, file)[anchor] {
					t.Errorf("%s: link %s: %s has no heading #%s", where, target, rel(root, file), anchor)
				}
			}
		}
	}
}

func TestGoCommentsNameFilesOfTheRepository(t *testing.T) {
	root := repoRoot(t)
	for _, goFile := range repoFiles(t, root, ".go") {
		f, err := parser.ParseFile(token.NewFileSet(), goFile, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, group := range f.Comments {
			for _, p := range mentionedPath.FindAllString(group.Text(), -1) {
				// A path is named from the repository's root, as docs/design.md, or from the
				// file's own directory.
				fromRoot, fromDir := filepath.Join(root, p), filepath.Join(filepath.Dir(goFile), p)
				if insideRepo(root, fromRoot) != nil && insideRepo(root, fromDir) != nil {
					t.Errorf("%s: a comment names %s, which is not a file of this repository", rel(root, goFile), p)
				}
			}
		}
	}
}

// The checks above catch what they are for.
func TestLinkChecksCatch(t *testing.T) {
	root := repoRoot(t)
	for _, p := range []string{"../elsewhere/DESIGN.md", "DESIGN.md", "docs/nothing.md"} {
		if insideRepo(root, filepath.Join(root, p)) == nil {
			t.Errorf("insideRepo accepts %s", p)
		}
	}
	if got := mentionedPath.FindAllString("see ../elsewhere/notes and docs/design.md's table, or CONTRACT.md.", -1); strings.Join(got, " ") != "../elsewhere/notes docs/design.md CONTRACT.md" {
		t.Errorf("mentionedPath found %q", got)
	}
	var links []string
	for _, m := range markdownLink.FindAllStringSubmatch(`see [the design](docs/design.md#architecture "why") and [asynq](https://github.com/hibiken/asynq).`, -1) {
		links = append(links, m[1])
	}
	if strings.Join(links, " ") != "docs/design.md#architecture https://github.com/hibiken/asynq" {
		t.Errorf("markdownLink found %q", links)
	}
	anchors := headingAnchors(t, filepath.Join(root, "README.md"))
	for _, a := range []string{"run-it", "what-a-production-redis-must-have", "redis-sentinel-cluster-tls"} {
		if !anchors[a] {
			t.Errorf("README.md's anchors lack %s", a)
		}
	}
}

// insideRepo says why path is not an existing file or directory of the repository at root.
func insideRepo(root, path string) error {
	r, err := filepath.Rel(root, filepath.Clean(path))
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return errOutside
	}
	if _, err := os.Stat(path); err != nil {
		return errMissing
	}
	return nil
}

var (
	errOutside = errors.New("it points outside the repository")
	errMissing = errors.New("no such file in the repository")
)

// headingAnchors returns the anchors GitHub gives the headings of a Markdown file.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range outsideCodeBlocks(string(body)) {
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		slug := slugify(strings.TrimLeft(text, "#"))
		if n := seen[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// slugify is GitHub's anchor of a heading: lower case, letters, digits, '-' and '_' kept, spaces
// made '-', everything else dropped.
func slugify(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// outsideCodeBlocks returns the file's lines with those of fenced code blocks blanked, so that
// line numbers stay right.
func outsideCodeBlocks(body string) []string {
	var lines []string
	inCode := false
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			lines = append(lines, "")
			continue
		}
		if inCode {
			line = ""
		}
		lines = append(lines, line)
	}
	return lines
}

// repoFiles lists the files under root with the extension ext, leaving out hidden directories
// and built binaries.
func repoFiles(t *testing.T, root, ext string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ext) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %s file under %s", ext, root)
	}
	return files
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}
