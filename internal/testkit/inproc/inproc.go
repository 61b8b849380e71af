// Package inproc runs a purchase worker and the CPH simulator in this process, on a Redis of the
// caller's choosing, for the tests and examples of the packages built above internal/tasks (the
// public producer package, the HTTP intake): they see the whole pipeline buy an order without
// building and starting processes. It is imported only by tests and examples, never by
// production code; e2e/ starts the real binaries instead.
package inproc

import (
	"fmt"
	"io"
	"net/http/httptest"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

// Config names the Redis, queue and results stream the worker serves.
type Config struct {
	// RedisURL is in any form REDIS_URL takes.
	RedisURL      string
	Queue         string
	ResultsStream string
	// ProjectID fills the orders that name no project (the worker's CPH_PROJECT_ID).
	ProjectID string
	// Logger receives the handler's warnings and errors; nil discards them.
	Logger io.Writer
}

// Worker is an asynq server running the purchase handler against a simulator served over real
// HTTP on loopback, configured as cmd/worker configures its own but with short retry delays.
type Worker struct {
	// Sim is the simulator, to script faults and count its orders.
	Sim *cphsim.Server
	ts  *httptest.Server
	rdb redis.UniversalClient
	srv *asynq.Server
}

// Start starts a worker on cfg's queue; Close stops it.
func Start(cfg Config) (*Worker, error) {
	opt, err := redisconn.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	w := &Worker{Sim: cphsim.New(cphsim.Options{}), rdb: redisconn.NewClient(opt)}
	w.ts = httptest.NewServer(w.Sim)
	api, err := cph.NewClient(w.ts.URL, cph.StaticToken("inproc-token"), cph.ClientOptions{Timeout: 5 * time.Second})
	if err != nil {
		w.Close()
		return nil, err
	}
	keys := tasks.NewKeys(cfg.ResultsStream)
	logOut := cfg.Logger
	if logOut == nil {
		logOut = io.Discard
	}
	h := tasks.NewHandler(tasks.HandlerConfig{
		API: api, Ledger: tasks.NewLedger(w.rdb, keys, 0), RateLimiter: tasks.NewRateLimiter(w.rdb, keys, 1000),
		Queue: cfg.Queue, DefaultProjectID: cfg.ProjectID, CallTimeout: 5 * time.Second,
		ReconcileGrace: 200 * time.Millisecond, Logger: zerolog.New(logOut).Level(zerolog.WarnLevel),
	})
	w.srv = tasks.NewServer(w.rdb, tasks.ServerConfig{
		Queue: cfg.Queue, Concurrency: 4, ShutdownTimeout: time.Second,
		Retry:                    tasks.RetryPolicy{BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		DelayedTaskCheckInterval: 100 * time.Millisecond,
	})
	if err := w.srv.Start(h); err != nil {
		w.Close()
		return nil, fmt.Errorf("inproc: start the worker: %w", err)
	}
	return w, nil
}

// Close stops the worker and the simulator.
func (w *Worker) Close() {
	if w.srv != nil {
		w.srv.Shutdown()
	}
	w.ts.Close()
	_ = w.rdb.Close()
}
