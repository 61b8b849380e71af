package e2e

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's "Run it" marks the shell blocks that work as printed with <!-- readme-test: NAME -->
// on the line before them: "worker", whose last command runs until stopped, and "enqueue", whose
// commands each end with exit code 0, or the one a trailing "# exits N" names.
const (
	readmeFile        = "../README.md"
	readmeWorkerBlock = "worker"
	readmeClientBlock = "enqueue"
	// workerDefaultHTTPAddr is the worker's HTTP_ADDR when none is given (docs/contract.md), which
	// the README's commands reach without setting it.
	workerDefaultHTTPAddr = "127.0.0.1:9464"
)

var (
	readmeTestMark = regexp.MustCompile(`^<!-- readme-test: (\S+) -->$`)
	expectedExit   = regexp.MustCompile(`\s#\s*exits (\d+)\b`)
	loopbackAddr   = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// readmeCommand is one command of a marked block, as printed.
type readmeCommand struct {
	line int // in the README
	text string
}

// TestReadmeRunIt runs the README's "Run it" as a newcomer would, in a directory holding bin/
// (this build's worker and enqueue, standing in for `make build`) and the repository's examples/:
// the worker block's exports, then its last command in the background; then the enqueue block's
// commands one by one, each with the exit code the README gives it. The only change to what is
// printed: each loopback address becomes a free port, since tests share the machine.
func TestReadmeRunIt(t *testing.T) {
	blocks := readmeBlocks(t)
	worker, client := blocks[readmeWorkerBlock], blocks[readmeClientBlock]
	if len(worker) == 0 || len(client) == 0 {
		t.Fatalf("%s has no %q or %q block marked <!-- readme-test: NAME -->; found %d blocks", readmeFile, readmeWorkerBlock, readmeClientBlock, len(blocks))
	}
	ports := freePortsFor(t, append(append([]readmeCommand{{text: workerDefaultHTTPAddr}}, worker...), client...))
	dir := readmeWorkDir(t)
	env := map[string]string{"HTTP_ADDR": ports.Replace(workerDefaultHTTPAddr)}

	last := worker[len(worker)-1]
	for _, c := range worker[:len(worker)-1] {
		switch {
		case c.text == "make build": // done: bin/ holds this run's binaries
		case exportLine(c.text, env, ports):
		default:
			t.Fatalf("%s:%d: %q: the worker block may hold only make build, exports and the worker's command last", readmeFile, c.line, c.text)
		}
	}
	ps := newProcs(t)
	w := ps.start("readme-worker", "bash", []string{"-c", `cd "$0" && exec ` + ports.Replace(last.text), dir}, env)
	printed := waitPrinted(t, w, "CPH_RATE_LIMIT=")
	if want := "REDIS_URL=" + env["REDIS_URL"] + "\n"; env["REDIS_URL"] == "" || !strings.Contains(printed, want) {
		t.Fatalf("%s:%d: the worker printed %q; want %q, the REDIS_URL the README exported", readmeFile, last.line, printed, want)
	}
	if !strings.Contains(printed, "CPH_RATE_LIMIT=100\n") {
		t.Errorf("%s:%d: the embedded worker printed %q; want the rate limit the README promises, CPH_RATE_LIMIT=100", readmeFile, last.line, printed)
	}

	for _, c := range client {
		if exportLine(c.text, env, ports) {
			continue
		}
		want := 0
		if m := expectedExit.FindStringSubmatch(c.text); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		code, out := runReadmeCommand(t, dir, ports.Replace(c.text), env)
		if code != want {
			t.Errorf("%s:%d: %q exited %d, want %d:\n%s", readmeFile, c.line, c.text, code, want, out)
		}
	}
	if w.exited() {
		t.Errorf("the worker ended while the README's commands ran")
	}
}

// readmeBlocks returns the commands of each marked block, by name. A command continued with a
// trailing backslash is one command; blank lines and comment lines are none.
func readmeBlocks(t *testing.T) map[string][]readmeCommand {
	t.Helper()
	f, err := os.Open(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks := map[string][]readmeCommand{}
	sc := bufio.NewScanner(f)
	name, inBlock, n := "", false, 0
	var pending *readmeCommand
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case !inBlock && name == "":
			if m := readmeTestMark.FindStringSubmatch(line); m != nil {
				name = m[1]
				if _, dup := blocks[name]; dup {
					t.Fatalf("%s:%d: a second block named %q", readmeFile, n, name)
				}
				blocks[name] = nil
			}
		case !inBlock:
			if line != "```sh" {
				t.Fatalf("%s:%d: <!-- readme-test: %s --> must stand right before a ```sh block", readmeFile, n-1, name)
			}
			inBlock = true
		case line == "```":
			if pending != nil {
				t.Fatalf("%s:%d: the block ends on a continued line", readmeFile, n)
			}
			name, inBlock = "", false
		default:
			text := strings.TrimSpace(line)
			if pending == nil && (text == "" || strings.HasPrefix(text, "#")) {
				continue
			}
			if pending == nil {
				pending = &readmeCommand{line: n}
			}
			cont := strings.HasSuffix(text, `\`)
			pending.text += strings.TrimSuffix(text, `\`)
			if !cont {
				blocks[name] = append(blocks[name], *pending)
				pending = nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if inBlock {
		t.Fatalf("%s: block %q is not closed", readmeFile, name)
	}
	return blocks
}

// freePortsFor maps each loopback address of the commands to one with a free port.
func freePortsFor(t *testing.T, cmds []readmeCommand) *strings.Replacer {
	t.Helper()
	seen := map[string]bool{}
	var pairs []string
	for _, c := range cmds {
		for _, addr := range loopbackAddr.FindAllString(c.text, -1) {
			if seen[addr] {
				continue
			}
			seen[addr] = true
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, addr, ln.Addr().String())
			ln.Close()
		}
	}
	return strings.NewReplacer(pairs...)
}

// readmeWorkDir is the directory the commands run in: bin/ with this run's worker and a freshly
// built enqueue, and the repository's examples/.
func readmeWorkDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	binPath := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", binPath+string(filepath.Separator), "./cmd/enqueue")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building enqueue: %v\n%s", err, out)
	}
	if err := os.Symlink(bin("worker"), filepath.Join(binPath, "worker")); err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// exportLine applies `export NAME=VALUE` to env and reports whether the command was one.
func exportLine(text string, env map[string]string, ports *strings.Replacer) bool {
	rest, ok := strings.CutPrefix(text, "export ")
	if !ok {
		return false
	}
	name, value, ok := strings.Cut(strings.TrimSpace(rest), "=")
	if !ok {
		return false
	}
	env[name] = ports.Replace(value)
	return true
}

// waitPrinted waits until the process's stdout holds a line starting with prefix, and returns
// what it printed.
func waitPrinted(t *testing.T, p *proc, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out := p.readStdout()
		if strings.HasPrefix(out, prefix) || strings.Contains(out, "\n"+prefix) {
			return out
		}
		if p.exited() {
			t.Fatalf("%s ended before printing %s", p.name, prefix)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no %s within a minute; stdout: %q", p.name, prefix, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runReadmeCommand runs one command with bash in dir and returns its exit code and output.
func runReadmeCommand(t *testing.T, dir, text string, env map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", text)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if v := os.Getenv("GORACE"); v != "" {
		cmd.Env = append(cmd.Env, "GORACE="+v)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		t.Fatalf("run %q: %v", text, err)
		return 0, ""
	}
}
