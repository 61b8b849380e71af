package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the worker and cphsim binaries, built once per test run by TestMain.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cph-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = filepath.Join(dir, "bin")
	// The binaries inherit GOFLAGS: under `GOFLAGS=-race make test` (CI) the worker itself runs
	// with the race detector, and a race it reports fails the test that started it.
	build := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "./cmd/worker", "./cmd/cphsim")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building the binaries: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// bin is the path of a built binary.
func bin(name string) string { return filepath.Join(binDir, name) }

// proc is one child process whose stdout and stderr go to files, printed when its test fails.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout string
	stderr string
	done   chan struct{}
	// state is the exit state, valid once done is closed.
	state *os.ProcessState
}

// procs starts a test's processes and keeps their logs apart, numbered in start order.
type procs struct {
	t   testing.TB
	dir string
	mu  sync.Mutex
	n   int
}

func newProcs(t testing.TB) *procs { return &procs{t: t, dir: logDir(t)} }

// start starts binary with args and exactly env (plus PATH and GORACE), and kills it in the
// test's cleanup.
func (ps *procs) start(name, binary string, args []string, env map[string]string) *proc {
	t := ps.t
	t.Helper()
	ps.mu.Lock()
	ps.n++
	n := ps.n
	ps.mu.Unlock()
	dir := ps.dir
	p := &proc{
		t: t, name: name, done: make(chan struct{}),
		stdout: filepath.Join(dir, fmt.Sprintf("%02d-%s.stdout", n, name)),
		stderr: filepath.Join(dir, fmt.Sprintf("%02d-%s.stderr", n, name)),
	}
	outF, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = outF, errF
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if v := os.Getenv("GORACE"); v != "" {
		p.cmd.Env = append(p.cmd.Env, "GORACE="+v)
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	if err := p.cmd.Start(); err != nil {
		outF.Close()
		errF.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		outF.Close()
		errF.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		p.wait(10 * time.Second)
		if log := p.readStderr(); strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", name)
		}
		if t.Failed() {
			p.dump()
		}
	})
	return p
}

// logDir is where a test's process logs go: E2E_LOG_DIR when set (kept for reading after the
// run), else a directory removed with the test.
func logDir(t testing.TB) string {
	if d := os.Getenv("E2E_LOG_DIR"); d != "" {
		d = filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig unless the process has ended.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill ends the process at once, as a crash or the OOM killer would.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// wait waits up to d for the process to end and returns its exit code (-1 when a signal ended
// it); ok is false when it is still running.
func (p *proc) wait(d time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.state.ExitCode(), true
	case <-time.After(d):
		return 0, false
	}
}

func (p *proc) readStderr() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

func (p *proc) readStdout() string {
	b, _ := os.ReadFile(p.stdout)
	return string(b)
}

// dump prints the end of the process's output into the test log.
func (p *proc) dump() {
	const tail = 24 << 10
	for _, f := range []struct{ what, path string }{{"stdout", p.stdout}, {"stderr", p.stderr}} {
		b, err := os.ReadFile(f.path)
		if err != nil || len(b) == 0 {
			continue
		}
		cut := ""
		if len(b) > tail {
			b, cut = b[len(b)-tail:], "…(earlier lines cut; the whole file is "+f.path+")\n"
		}
		p.t.Logf("---- %s %s ----\n%s%s", p.name, f.what, cut, b)
	}
}

// logLine finds the first JSON log line on the process's stderr whose message is msg and returns
// it decoded.
func (p *proc) logLine(msg string) (line map[string]any, ok bool) {
	p.eachLog(func(m map[string]any) bool {
		if m["message"] == msg {
			line, ok = m, true
		}
		return !ok
	})
	return line, ok
}

// countLog counts the JSON log lines on the process's stderr whose message is msg.
func (p *proc) countLog(msg string) int {
	n := 0
	p.eachLog(func(m map[string]any) bool {
		if m["message"] == msg {
			n++
		}
		return true
	})
	return n
}

// eachLog calls fn with each JSON log line of the process's stderr until fn returns false.
func (p *proc) eachLog(fn func(map[string]any) bool) {
	sc := bufio.NewScanner(strings.NewReader(p.readStderr()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && !fn(m) {
			return
		}
	}
}
