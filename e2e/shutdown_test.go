package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// inFlight counts purchase calls the simulator is serving right now.
type inFlight struct{ n atomic.Int64 }

func (f *inFlight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v2/"+testProject+"/cloud-phone/servers" {
			f.n.Add(1)
			defer f.n.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// TestSIGTERMGracefulShutdown sends SIGTERM to a worker whose purchases are in flight (each takes
// the simulator seconds to answer). The worker must exit 0 within its SHUTDOWN_TIMEOUT, its calls
// either finished and recorded or handed back, and after a new worker has run, every order must
// have exactly one terminal result and one order at the simulator.
func TestSIGTERMGracefulShutdown(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		latency  time.Duration
		shutdown time.Duration
		// handedBack: the calls outlast SHUTDOWN_TIMEOUT, so asynq hands their tasks back and the
		// worker exits with their outcome unknown; otherwise they finish and are recorded.
		handedBack bool
	}{
		{name: "calls finish", latency: 2 * time.Second, shutdown: 15 * time.Second},
		{name: "calls handed back", latency: 4 * time.Second, shutdown: time.Second, handedBack: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const orders = 12
			var flight inFlight
			s := startSimInTest(t, cphsim.Options{Latency: tc.latency}, flight.wrap)
			tr := newTestRedis(t)
			ps := newProcs(t)
			producer := tr.operator(t, 3).Producer()
			env := workerEnv(tr, s.url, map[string]string{
				"SHUTDOWN_TIMEOUT": tc.shutdown.String(),
				"CPH_TIMEOUT":      (3 * tc.latency).String(),
			})
			w := startWorker(t, ps, "worker-1", env)

			names := map[string]string{}
			var keys []string
			for i := range orders {
				key, name := fmt.Sprintf("e2e/term/%02d", i), fmt.Sprintf("e2e-term-%02d", i)
				names[key] = name
				keys = append(keys, key)
				enqueue(t, producer, newOrder(key, name))
			}
			// Ten handlers, twelve orders: wait until most handlers are inside their call.
			if !testkit.Poll(60*time.Second, func() bool { return flight.n.Load() >= 5 }) {
				t.Fatalf("only %d purchase calls in flight", flight.n.Load())
			}
			atTerm := flight.n.Load()
			sent := time.Now()
			w.signal(syscall.SIGTERM)
			code, ok := w.wait(tc.shutdown + 30*time.Second)
			took := time.Since(sent)
			if !ok {
				t.Fatalf("the worker did not exit within %s of SIGTERM (SHUTDOWN_TIMEOUT %s)", tc.shutdown+30*time.Second, tc.shutdown)
			}
			t.Logf("SIGTERM with %d calls in flight; exit code %d after %s (SHUTDOWN_TIMEOUT %s)", atTerm, code, took.Round(time.Millisecond), tc.shutdown)
			if code != 0 {
				t.Fatalf("exit code %d, want 0", code)
			}
			if _, ok := w.logLine("stopped"); !ok {
				t.Error(`the worker did not log "stopped"`)
			}

			ledger := tasks.NewLedger(tr.rdb, tr.keys, 0)
			done, unknown := 0, 0
			for _, k := range keys {
				e, _, err := ledger.Get(context.Background(), k)
				if err != nil {
					t.Fatal(err)
				}
				if e.State == "succeeded" {
					done++
				}
				if e.Posting {
					unknown++
				}
			}
			t.Logf("at exit: %d orders succeeded, %d calls with no known outcome (handed back)", done, unknown)
			if !tc.handedBack && (unknown != 0 || int64(done) < atTerm) {
				t.Errorf("%d calls were in flight and had time to finish, but %d succeeded and %d have no known outcome", atTerm, done, unknown)
			}
			if tc.handedBack && unknown == 0 {
				t.Errorf("no call was cut off: the case tests nothing")
			}

			startWorker(t, ps, "worker-2", env)
			if open := waitTerminal(t, ledger, keys, 2*time.Minute); len(open) > 0 {
				t.Fatalf("%d orders did not end after the restart: %v", len(open), open)
			}
			checkBoughtOnce(t, tr, s, names)
			if st := s.stats(); st.Orders != orders {
				t.Errorf("the simulator holds %d orders, want %d", st.Orders, orders)
			}
		})
	}
}
