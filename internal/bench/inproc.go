package bench

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
)

// benchToken is the X-Auth-Token of every benchmark call; the simulator checks none.
const benchToken = "bench-token"

// simulator is the CPH simulator served over real HTTP on loopback.
type simulator struct {
	*cphsim.Server
	ts *httptest.Server
}

// startSim serves a simulator with opts, its debug routes included, on a loopback port.
func startSim(opts cphsim.Options) *simulator {
	s := cphsim.New(opts)
	return &simulator{Server: s, ts: httptest.NewServer(s.WithDebug())}
}

func (s *simulator) URL() string { return s.ts.URL }
func (s *simulator) Close()      { s.ts.Close() }

// phases sums where the handler's time went, through the handler's Observer.
type phases struct {
	callTime, rateWait atomic.Int64
}

func (p *phases) Outcome(string, string)              {}
func (p *phases) PurchaseCall(d time.Duration, _ int) { p.callTime.Add(int64(d)) }
func (p *phases) RateLimitWait(d time.Duration)       { p.rateWait.Add(int64(d)) }
func (p *phases) Reconciled(bool)                     {}

// handlerFor is the purchase handler as cmd/worker wires it, on sp and sim, logging at the
// worker's default level to nowhere (formatting included, as in the worker).
func handlerFor(sp *space, sim *simulator, rateLimit int, obs *phases) (*tasks.Handler, error) {
	api, err := cph.NewClient(sim.URL(), cph.StaticToken(benchToken), cph.ClientOptions{UserAgent: "cph-purchase-bench"})
	if err != nil {
		return nil, err
	}
	return tasks.NewHandler(tasks.HandlerConfig{
		API:              api,
		Ledger:           sp.ledger(),
		RateLimiter:      tasks.NewRateLimiter(sp.rdb, sp.keys, rateLimit),
		Queue:            sp.queue,
		DefaultProjectID: benchProject,
		Logger:           zerolog.New(io.Discard).Level(zerolog.InfoLevel),
		Observer:         obs,
	}), nil
}

// newServer is an asynq server on sp configured as cmd/worker configures its own.
func newServer(sp *space, concurrency int) *asynq.Server {
	return tasks.NewServer(sp.rdb, tasks.ServerConfig{Queue: sp.queue, Concurrency: concurrency, ShutdownTimeout: 5 * time.Second})
}

// fill puts orders on sp's queue with the producer, unmeasured.
func fill(ctx context.Context, sp *space, orders []*tasks.Order) error {
	op, err := sp.operator()
	if err != nil {
		return err
	}
	res, err := op.Producer().EnqueueMany(ctx, orders, 32, nil)
	if err != nil {
		return fmt.Errorf("fill %s: %w", sp.queue, err)
	}
	for i, r := range res {
		if r.Status != tasks.EnqueueEnqueued {
			return fmt.Errorf("fill %s: order %d: %s", sp.queue, i, r.Status)
		}
	}
	return nil
}

// stamper wraps a handler and stamps the time of each successful task, so that a run's rate can be
// taken in its steady middle, away from the start-up and the last stragglers.
type stamper struct {
	next   asynq.Handler
	start  time.Time
	want   int
	busy   atomic.Int64 // time spent in next, summed over tasks
	mu     sync.Mutex
	stamps []time.Duration
	done   chan struct{}
}

func newStamper(next asynq.Handler, want int) *stamper {
	return &stamper{next: next, want: want, start: time.Now(), stamps: make([]time.Duration, 0, want), done: make(chan struct{})}
}

// ProcessTask implements asynq.Handler.
func (s *stamper) ProcessTask(ctx context.Context, t *asynq.Task) error {
	began := time.Now()
	err := s.next.ProcessTask(ctx, t)
	s.busy.Add(int64(time.Since(began)))
	if err == nil {
		s.mu.Lock()
		s.stamps = append(s.stamps, time.Since(s.start))
		if len(s.stamps) == s.want {
			close(s.done)
		}
		s.mu.Unlock()
	}
	return err
}

// wait blocks until want tasks succeeded, or fails after limit.
func (s *stamper) wait(ctx context.Context, limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		s.mu.Lock()
		n := len(s.stamps)
		s.mu.Unlock()
		return fmt.Errorf("only %d of %d tasks succeeded within %s", n, s.want, limit)
	}
}

// elapsed is the time from the start to the last success.
func (s *stamper) elapsed() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Max(s.stamps)
}

// steadyRate is the tasks a second between the 10th and the 90th percentile of completions.
func (s *stamper) steadyRate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := append([]time.Duration(nil), s.stamps...)
	slices.Sort(st)
	lo, hi := len(st)/10, len(st)*9/10
	if hi <= lo || st[hi-1] <= st[lo] {
		return 0
	}
	return float64(hi-1-lo) / (st[hi-1] - st[lo]).Seconds()
}

// processed is what process measured.
type processed struct {
	rate float64 // tasks a second in the steady middle of the run
	// handler is the mean time a task spent in the handler; cycle is the mean time a handler slot
	// took per task over the whole run, start-up included. The difference is asynq's own work
	// per task, and the slots' idle time.
	handler, cycle time.Duration
	// cpu and redisCPU are the CPU time per task of this process (the simulator included) and of
	// the Redis server (its other clients included, if any).
	cpu, redisCPU time.Duration
}

// process runs an asynq server with handler h over sp's queue until n tasks succeeded.
func process(ctx context.Context, sp *space, concurrency, n int, h asynq.Handler, limit time.Duration) (processed, error) {
	cpu0, redis0 := processCPU(), redisCPU(ctx, sp.rdb)
	st := newStamper(h, n)
	srv := newServer(sp, concurrency)
	if err := srv.Start(st); err != nil {
		return processed{}, fmt.Errorf("asynq server: %w", err)
	}
	err := st.wait(ctx, limit)
	cpu, redis := processCPU()-cpu0, redisCPU(ctx, sp.rdb)-redis0
	srv.Shutdown()
	if err != nil {
		return processed{}, err
	}
	rate := st.steadyRate()
	return processed{
		rate:     rate,
		handler:  time.Duration(st.busy.Load() / int64(n)),
		cycle:    st.elapsed() * time.Duration(concurrency) / time.Duration(n),
		cpu:      cpu / time.Duration(n),
		redisCPU: redis / time.Duration(n),
	}, nil
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the CPU time the Redis server has used, user and system, as INFO cpu reports it.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		name, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name == "used_cpu_sys" || name == "used_cpu_user" {
			v, _ := strconv.ParseFloat(value, 64)
			total += v
		}
	}
	return time.Duration(total * float64(time.Second))
}

// breakdown says where a handler slot's time per order went.
func breakdown(p processed, ph *phases, n int) string {
	call := time.Duration(ph.callTime.Load() / int64(n))
	wait := time.Duration(ph.rateWait.Load() / int64(n))
	return fmt.Sprintf("per order and handler slot %s: purchase call %s, rate-limit wait %s, rest of the handler (decode, ledger, result) %s, asynq between handlers %s; CPU per order %s here (simulator included) + %s Redis",
		ms(p.cycle), ms(call), ms(wait), ms(p.handler-call-wait), ms(p.cycle-p.handler), us(p.cpu), us(p.redisCPU))
}

// checkBought verifies what the simulator sold: exactly one order for each of the n orders.
func checkBought(sim *simulator, n int) error {
	st := sim.Stats()
	names := map[string]int{}
	for _, o := range sim.Orders() {
		names[o.ServerName]++
	}
	for name, c := range names {
		if c > 1 {
			return fmt.Errorf("exactly-once broken: %s bought %d times", name, c)
		}
	}
	if st.Orders != n || len(names) != n {
		return fmt.Errorf("the simulator sold %d orders for %d names, want %d", st.Orders, len(names), n)
	}
	return nil
}

// us writes d in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

// noop is asynq's floor: a handler that does nothing.
func noop(context.Context, *asynq.Task) error { return nil }
