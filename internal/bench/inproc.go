package bench

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"sort"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
)

// workerTaskCheckInterval and workerDelayedTaskCheckInterval are cmd/worker's defaults
// (TASK_CHECK_INTERVAL, and its fixed DelayedTaskCheckInterval): the in-process rows run asynq as
// the worker does.
const (
	workerTaskCheckInterval        = 50 * time.Millisecond
	workerDelayedTaskCheckInterval = time.Second
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

// handlerFor is the purchase handler as cmd/worker wires it, on sp and sim, logging at the
// worker's default level to nowhere (formatting included, as in the worker).
func handlerFor(sp *space, sim *simulator, rateLimit int) (*tasks.Handler, error) {
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
	}), nil
}

// newServer is an asynq server on sp configured as cmd/worker configures its own.
func newServer(sp *space, concurrency int) *asynq.Server {
	return asynq.NewServerFromRedisClient(sp.rdb, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{sp.queue: 1},
		RetryDelayFunc:           tasks.RetryPolicy{}.Delay,
		IsFailure:                tasks.IsFailure,
		ShutdownTimeout:          5 * time.Second,
		TaskCheckInterval:        workerTaskCheckInterval,
		DelayedTaskCheckInterval: workerDelayedTaskCheckInterval,
		LogLevel:                 asynq.FatalLevel,
	})
}

// fill puts orders on sp's queue with the producer, unmeasured.
func fill(ctx context.Context, sp *space, orders []*tasks.Order) error {
	client := asynq.NewClientFromRedisClient(sp.rdb)
	p := tasks.NewProducer(tasks.ProducerConfig{Client: client, Ledger: sp.ledger(), Queue: sp.queue, MaxRetry: 10})
	res, err := p.EnqueueMany(ctx, orders, 32, nil)
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
	mu     sync.Mutex
	stamps []time.Duration
	done   chan struct{}
}

func newStamper(next asynq.Handler, want int) *stamper {
	return &stamper{next: next, want: want, start: time.Now(), stamps: make([]time.Duration, 0, want), done: make(chan struct{})}
}

// ProcessTask implements asynq.Handler.
func (s *stamper) ProcessTask(ctx context.Context, t *asynq.Task) error {
	err := s.next.ProcessTask(ctx, t)
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

// steadyRate is the tasks a second between the 10th and the 90th percentile of completions.
func (s *stamper) steadyRate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := append([]time.Duration(nil), s.stamps...)
	sort.Slice(st, func(i, j int) bool { return st[i] < st[j] })
	lo, hi := len(st)/10, len(st)*9/10
	if hi <= lo || st[hi-1] <= st[lo] {
		return 0
	}
	return float64(hi-1-lo) / (st[hi-1] - st[lo]).Seconds()
}

// process runs an asynq server with handler h over sp's queue until n tasks succeeded, and returns
// the steady rate.
func process(ctx context.Context, sp *space, concurrency, n int, h asynq.Handler, limit time.Duration) (float64, error) {
	st := newStamper(h, n)
	srv := newServer(sp, concurrency)
	if err := srv.Start(st); err != nil {
		return 0, fmt.Errorf("asynq server: %w", err)
	}
	err := st.wait(ctx, limit)
	srv.Shutdown()
	if err != nil {
		return 0, err
	}
	return st.steadyRate(), nil
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

// noop is asynq's floor: a handler that does nothing.
func noop(context.Context, *asynq.Task) error { return nil }
