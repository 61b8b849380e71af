package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

// worker is one worker process: an asynq server running the purchase handler, and the HTTP
// endpoints for probes and metrics.
type worker struct {
	cfg config
	log zerolog.Logger
	rdb redis.UniversalClient
	srv *asynq.Server
	// handler is the purchase handler; it serves every task of the queue, so that a task of a
	// foreign type becomes an invalid dead letter instead of retrying forever.
	handler *tasks.Handler
	// sweeper dead-letters orders that asynq archived by itself, without a result.
	sweeper *tasks.Sweeper
	http    *http.Server
	// creds checks the CPH credentials at start and holds the queue while the API refuses them.
	creds *credentials
	// readiness runs the tracking tasks on their own queue; nil when READINESS_TRACKING is off.
	readiness *readinessServer
}

// newWorker wires a worker from a checked configuration.
func newWorker(cfg config, log zerolog.Logger) (*worker, error) {
	opt, err := redisconn.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	tokens, err := cfg.tokenSource()
	if err != nil {
		return nil, err
	}
	rdb := redisconn.NewClient(opt)
	keys := tasks.NewKeys(cfg.ResultsStream)
	limiter := tasks.NewRateLimiter(rdb, keys, cfg.RateLimit)
	api, err := cph.NewClient(cfg.Endpoint, tokens, cph.ClientOptions{
		Timeout: cfg.Timeout, UserAgent: "cph-purchase-worker",
		// A re-send after a refused token is a call the gateway counts: it waits its turn too.
		BeforeResend: func(ctx context.Context) error { _, err := limiter.Wait(ctx); return err },
	})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	hostname, _ := os.Hostname()
	log = log.With().Str("worker", fmt.Sprintf("%s:%d", hostname, os.Getpid())).Logger()
	// Before the ledger is built: LEDGER_MIN_REPLICAS's default depends on what Redis says.
	var durability *redisconn.Durability
	if d, err := checkRedisDurability(rdb, &cfg, log); err == nil {
		durability = &d
	}
	// One operator facade for the worker's Redis, shared by the metrics, the sweeper and the
	// console; the worker closes the client, not the operator.
	op, err := tasks.NewOperator(rdb, tasks.OperatorConfig{Queue: cfg.Queue, ResultsStream: cfg.ResultsStream, MaxRetry: cfg.MaxRetry})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	reg, metrics, err := newMetrics(op, log, durability)
	if err != nil {
		return nil, err
	}
	creds, err := newCredentials(cfg, api, op, reg, log)
	if err != nil {
		return nil, err
	}
	policy := tasks.RetryPolicy{BaseDelay: cfg.RetryBaseDelay, MaxDelay: cfg.RetryMaxDelay}
	readiness, err := newReadinessServer(rdb, cfg, api, tokens, policy, metrics, log)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	handler := tasks.NewHandler(tasks.HandlerConfig{
		API:              api,
		Ledger:           op.Ledger().WithMinReplicas(cfg.MinReplicas),
		RateLimiter:      limiter,
		Queue:            cfg.Queue,
		DefaultProjectID: cfg.ProjectID,
		CallTimeout:      cfg.Timeout,
		ReconcileGrace:   cfg.ReconcileGrace,
		Policy:           cfg.ReconcilePolicy,
		Logger:           log,
		Observer:         metrics,
		Credentials:      creds.watcher,
		Tracking:         readiness.tracking(),
	})
	srv := tasks.NewServer(rdb, tasks.ServerConfig{
		Queue:             cfg.Queue,
		Concurrency:       cfg.Concurrency,
		Retry:             policy,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		TaskCheckInterval: cfg.TaskCheck,
		Logger:            asynqLogger{log.With().Str("component", "asynq").Logger()},
		LogLevel:          asynqLevel(log.GetLevel()),
	})
	sweeper := tasks.NewSweeper(handler, op.Inspector(), op.DeadLetters(), time.Minute)
	w := &worker{cfg: cfg, log: log, rdb: rdb, srv: srv, handler: handler, sweeper: sweeper, creds: creds, readiness: readiness}
	if cfg.HTTPAddr != "" {
		mux := httpMux(rdb, reg, log, creds.ready)
		if err := mountConsole(mux, cfg, op, log); err != nil {
			_ = rdb.Close()
			return nil, err
		}
		w.http = &http.Server{Addr: cfg.HTTPAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	return w, nil
}

// run processes the queue until ctx ends (SIGTERM, SIGINT), then stops taking tasks and lets the
// ones in flight finish within the shutdown timeout; asynq hands back what is still running, and
// the ledger makes sure that a purchase call cut off there is reconciled, not repeated.
func (w *worker) run(ctx context.Context) error {
	defer w.rdb.Close()
	if w.http != nil {
		ln, err := net.Listen("tcp", w.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("HTTP_ADDR %s: %w", w.cfg.HTTPAddr, err)
		}
		go func() {
			if err := w.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				w.log.Error().Err(err).Msg("health endpoint stopped")
			}
		}()
		w.log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz and /metrics")
	}
	if err := w.preflight(ctx); err != nil {
		return err
	}
	if err := w.srv.Start(w.handler); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	w.sweeper.Start()
	watching := w.creds.watch(ctx)
	if err := w.readiness.start(); err != nil {
		w.srv.Shutdown()
		w.sweeper.Shutdown()
		return err
	}
	w.log.Info().Str("queue", w.cfg.Queue).Int("concurrency", w.cfg.Concurrency).Int("rate_limit", w.cfg.RateLimit).
		Int("ledger_min_replicas", w.cfg.MinReplicas).Msg("worker started")
	<-ctx.Done()
	w.log.Info().Dur("shutdown_timeout", w.cfg.ShutdownTimeout).Msg("shutting down: no new tasks; in-flight purchases may finish")
	w.srv.Shutdown()
	w.sweeper.Shutdown()
	w.readiness.shutdown()
	watching()
	if w.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = w.http.Shutdown(sctx)
	}
	w.log.Info().Msg("stopped")
	return nil
}
