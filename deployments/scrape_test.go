package deployments

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// exampleOrder is the README's example order, relative to this directory.
const exampleOrder = "../examples/order.json"

// exportedSeries builds the worker and enqueue from this repository, runs `worker --embedded`,
// buys the README's example order through it (`enqueue submit --wait`), and returns the name of
// every series on its /metrics: each family's, and a histogram's _bucket, _sum and _count. A real
// scrape, so that nothing here is a copy of the worker's list that could drift from it; the order
// makes the families appear that have series only once something happened (calls by status).
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/worker", "./cmd/enqueue")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the worker and enqueue: %v\n%s", err, out)
	}

	httpAddr := freeLoopbackAddr(t)
	logPath := filepath.Join(t.TempDir(), "worker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	worker := exec.Command(filepath.Join(bin, "worker"), "--embedded", "--http-addr", httpAddr, "--log-level", "warn")
	worker.Env = []string{"PATH=" + os.Getenv("PATH")}
	worker.Stderr = logFile
	stdout, err := worker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = worker.Process.Kill()
		_ = worker.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("worker's log:\n%s", b)
		}
	})

	redisURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "REDIS_URL="); ok {
				redisURL <- v
			}
		}
		close(redisURL)
	}()
	var url string
	select {
	case u, ok := <-redisURL:
		if !ok {
			t.Fatal("the worker ended without printing REDIS_URL=")
		}
		url = u
	case <-time.After(time.Minute):
		t.Fatal("the worker printed no REDIS_URL= within a minute")
	}

	submit := exec.Command(filepath.Join(bin, "enqueue"), "submit", "-f", exampleOrder, "--wait=2m")
	submit.Env = []string{"PATH=" + os.Getenv("PATH"), "REDIS_URL=" + url}
	if out, err := submit.CombinedOutput(); err != nil {
		t.Fatalf("enqueue submit -f %s --wait: %v\n%s", exampleOrder, err, out)
	}

	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	families, err := parseMetrics(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return seriesNames(families)
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// seriesNames returns the names a query may select: those of the series Prometheus stores for
// each family (a histogram's _bucket, _sum and _count, not its own name).
func seriesNames(families map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM: // stored as these three only
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	return names
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
