package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOperatorStoryAgainstARunningWorker drives the binaries as an operator would: a cphsim
// process, a worker process reading its token from a file, and the enqueue CLI as a process.
// An order is bought; the token goes bad and the worker holds the queue, so the next order waits
// instead of being dead-lettered as auth; the token is fixed and the order is bought without a
// replay; status, results, queue stats and dlq show each step, with the exit codes of
// docs/contract.md, and no token ever appears in any output.
func TestOperatorStoryAgainstARunningWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	tr := newTestRedis(t)
	bin := buildBinaries(t, "worker", "cphsim", "enqueue")
	dir := t.TempDir()
	const goodToken, newToken, badToken = "tok-good-5f1e", "tok-new-8c2d", "tok-bad-77aa"

	sim := startProcess(t, dir, "cphsim", exec.Command(filepath.Join(bin, "cphsim"),
		"--addr", "127.0.0.1:0", "--token", goodToken, "--token", newToken))
	simURL := sim.firstStdoutLine(t)

	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, goodToken)
	worker := exec.Command(filepath.Join(bin, "worker"))
	worker.Env = append(os.Environ(),
		"REDIS_URL="+tr.url, "PURCHASE_QUEUE="+tr.queue, "RESULTS_STREAM="+tr.stream,
		"CPH_ENDPOINT="+simURL, "CPH_TOKEN_FILE="+tokenFile, "CPH_PROJECT_ID=0b1c0000000000000000000000e2e",
		"HTTP_ADDR=127.0.0.1:0", "RETRY_BASE_DELAY=100ms", "RETRY_MAX_DELAY=1s", "LOG_LEVEL=debug")
	w := startProcess(t, dir, "worker", worker)

	cli := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "enqueue"), tr.args(args)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := result{stdout: stdout.String(), stderr: stderr.String()}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			r.code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("enqueue %s\n-> exit %d\nstdout: %sstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		for _, tok := range []string{goodToken, newToken, badToken} {
			if strings.Contains(r.stdout+r.stderr, tok) {
				t.Fatalf("enqueue output shows a token")
			}
		}
		return r
	}

	orderA := filepath.Join(dir, "a.json")
	orderB := filepath.Join(dir, "b.json")
	writeOrder(t, "testdata/order.json", orderA, "e2e-a")
	writeOrder(t, "testdata/order.json", orderB, "e2e-b")

	r := cli("submit", "-f", orderA, "--key", "e2e/a", "--wait=2m")
	if r.code != 0 || oneJSON(t, r.stdout)["status"] != "succeeded" {
		t.Fatalf("submit a: exit %d, %s", r.code, r.stdout)
	}

	writeFile(t, tokenFile, badToken)
	if r = cli("submit", "-f", orderB, "--key", "e2e/b"); r.code != 0 || oneJSON(t, r.stdout)["status"] != "enqueued" {
		t.Fatalf("submit b: exit %d, %s", r.code, r.stdout)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r = cli("queue", "stats")
		st := oneJSON(t, r.stdout)
		if held, _ := st["held_for_credentials"].(string); st["paused"] == true && strings.Contains(held, "refuses the credentials") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not hold the queue for the bad token: %s", r.stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r = cli("dlq", "list"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("dlq list while the token is bad: exit %d, %q; want no dead letter", r.code, r.stdout)
	}

	writeFile(t, tokenFile, newToken) // the operator fixes the credentials: nothing to replay
	deadline = time.Now().Add(2 * time.Minute)
	for {
		r = cli("status", "e2e/b")
		st := oneJSON(t, r.stdout)
		if res, _ := st["result"].(map[string]any); res != nil && res["status"] == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replayed order did not succeed: %s", r.stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}

	r = cli("results")
	var statuses []string
	for _, l := range jsonLines(t, r.stdout) {
		statuses = append(statuses, l["idempotency_key"].(string)+"="+l["status"].(string))
	}
	if want := "e2e/a=succeeded e2e/b=succeeded"; strings.Join(statuses, " ") != want {
		t.Fatalf("results = %v, want %s", statuses, want)
	}
	if r = cli("queue", "stats"); r.code != 0 || oneJSON(t, r.stdout)["paused"] != false {
		t.Fatalf("queue stats after the token was fixed: exit %d, %s; want the queue running", r.code, r.stdout)
	}
	if r = cli("status", "no-such-order"); r.code != 1 {
		t.Fatalf("status of an unknown order: exit %d, want 1", r.code)
	}
	if r = cli("submit", "-f", orderA, "--key", "e2e/a"); r.code != 0 || oneJSON(t, r.stdout)["status"] != "duplicate" {
		t.Fatalf("resubmit a: exit %d, %s; want duplicate", r.code, r.stdout)
	}

	if code := w.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("worker exit code after SIGTERM = %d, want 0", code)
	}
	logs := w.stderr(t)
	for _, tok := range []string{goodToken, newToken, badToken} {
		if strings.Contains(logs, tok) {
			t.Fatalf("the worker's log shows a token")
		}
	}
	if !strings.Contains(logs, `"idempotency_key":"e2e/b"`) {
		t.Fatalf("the worker's log lacks the idempotency key on its lines")
	}
}

// buildBinaries builds the named commands into a temporary directory.
func buildBinaries(t *testing.T, names ...string) string {
	t.Helper()
	out := t.TempDir()
	args := []string{"build", "-o", out + string(os.PathSeparator)}
	for _, n := range names {
		args = append(args, "cphpurchase/cmd/"+n)
	}
	cmd := exec.Command("go", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// process is a child process whose stderr goes to a file, killed at the end of the test.
type process struct {
	cmd     *exec.Cmd
	name    string
	errPath string
	stdout  *bufio.Reader
	done    chan struct{}
}

func startProcess(t *testing.T, dir, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, name: name, errPath: filepath.Join(dir, name+".stderr"), done: make(chan struct{})}
	errFile, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = errFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdout = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); errFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr(t))
		}
	})
	return p
}

// firstStdoutLine is the first line the process prints (cphsim prints its URL).
func (p *process) firstStdoutLine(t *testing.T) string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		l, _ := p.stdout.ReadString('\n')
		line <- strings.TrimSpace(l)
		_, _ = p.stdout.WriteTo(discard{})
	}()
	select {
	case l := <-line:
		if l == "" {
			t.Fatalf("%s printed nothing", p.name)
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start", p.name)
		return ""
	}
}

// stop sends sig and returns the exit code.
func (p *process) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not stop after %v", p.name, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) stderr(t *testing.T) string {
	b, err := os.ReadFile(p.errPath)
	if err != nil {
		t.Log(err)
	}
	return string(b)
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeOrder copies the order in src to dst with the server name changed.
func writeOrder(t *testing.T, src, dst, name string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	o["request"].(map[string]any)["server_name"] = name
	delete(o, "idempotency_key")
	b, _ = json.Marshal(o)
	writeFile(t, dst, string(b))
}
