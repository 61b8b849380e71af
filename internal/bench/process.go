package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// BuildWorker builds cmd/worker into dir with the go command, for a run given no worker binary.
// It must be called from within the module.
func BuildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "worker")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "cphpurchase/cmd/worker").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build cmd/worker: %w: %s", err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// workerProc is one worker process, started from the worker binary with the environment a
// deployment would give it. Its log goes to a file, so that writing it costs the worker what it
// would in production and the benchmark nothing.
type workerProc struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// workerSettings are the variables a row sets beyond the ones every worker gets.
type workerSettings struct {
	rateLimit   int
	concurrency int // 0: the worker's default
}

// startWorker starts a worker on sp's queue and stream, buying from simURL.
func (r *run) startWorker(sp *space, simURL string, ws workerSettings, logDir string) (*workerProc, error) {
	if r.cfg.WorkerBin == "" {
		return nil, errors.New("no worker binary (Config.WorkerBin)")
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"REDIS_URL=" + r.cfg.RedisURL,
		"CPH_ENDPOINT=" + simURL,
		"CPH_PROJECT_ID=" + benchProject,
		"CPH_TOKEN=" + benchToken,
		"CPH_RATE_LIMIT=" + strconv.Itoa(ws.rateLimit),
		"PURCHASE_QUEUE=" + sp.queue,
		"RESULTS_STREAM=" + sp.stream,
		"SHUTDOWN_TIMEOUT=5s",
	}
	if ws.concurrency > 0 {
		env = append(env, "WORKER_CONCURRENCY="+strconv.Itoa(ws.concurrency))
	}
	logFile, err := os.CreateTemp(logDir, "worker-*.log")
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(r.cfg.WorkerBin, "--http-addr", "127.0.0.1:0")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &workerProc{cmd: cmd, logPath: logFile.Name(), exited: make(chan struct{})}
	go func() {
		w.waitErr = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// pid is the worker's process id.
func (w *workerProc) pid() int { return w.cmd.Process.Pid }

// stop asks the worker to shut down, as a deployment would (SIGTERM), and kills it if it has not
// exited after 20 s.
func (w *workerProc) stop() error {
	select {
	case <-w.exited:
		return fmt.Errorf("worker %d exited early: %v: %s", w.pid(), w.waitErr, w.tail())
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case <-w.exited:
		return w.waitErr
	case <-t.C:
		_ = w.cmd.Process.Kill()
		<-w.exited
		return fmt.Errorf("worker %d did not stop within 20 s of SIGTERM", w.pid())
	}
}

// rss is the worker's resident set size (VmRSS) and its peak (VmHWM), in bytes.
func (w *workerProc) rss() (cur, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", w.pid()))
	if err != nil {
		return 0, 0, fmt.Errorf("worker memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("worker memory: %s: %q", name, value)
		}
		if name == "VmRSS" {
			cur = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if cur == 0 {
		return 0, 0, fmt.Errorf("worker memory: no VmRSS in /proc/%d/status", w.pid())
	}
	return cur, peak, sc.Err()
}

// tail is the end of the worker's log, for an error message.
func (w *workerProc) tail() string {
	b, _ := os.ReadFile(w.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// fleet is a set of worker processes on one space.
type fleet []*workerProc

// startFleet starts n workers and waits until each serves sp's queue.
func (r *run) startFleet(ctx context.Context, sp *space, simURL string, n int, ws workerSettings, logDir string) (fleet, error) {
	var f fleet
	for range n {
		w, err := r.startWorker(sp, simURL, ws, logDir)
		if err != nil {
			f.stop()
			return nil, err
		}
		f = append(f, w)
	}
	if err := f.waitServing(ctx, sp); err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// waitServing polls asynq's server registry until every worker of f serves sp's queue.
func (f fleet) waitServing(ctx context.Context, sp *space) error {
	insp := asynq.NewInspectorFromRedisClient(sp.rdb)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, w := range f {
			select {
			case <-w.exited:
				return fmt.Errorf("worker %d exited at start: %v: %s", w.pid(), w.waitErr, w.tail())
			default:
			}
		}
		servers, err := insp.Servers()
		if err == nil {
			serving := 0
			for _, s := range servers {
				for _, w := range f {
					if s.PID == w.pid() && s.Queues[sp.queue] > 0 {
						serving++
					}
				}
			}
			if serving == len(f) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%d workers did not all start serving %s within 60 s", len(f), sp.queue)
}

// stop stops every worker and returns the first error.
func (f fleet) stop() error {
	var errs []error
	for _, w := range f {
		if err := w.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
