package main

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
)

// readinessServer is the worker's readiness tracking: tasks.Tracking, and the asynq server that
// runs it on the tracking queue, apart from the purchases so that a thousand orders being created
// never hold a purchase handler. A nil *readinessServer is tracking switched off.
type readinessServer struct {
	t   *tasks.Tracking
	srv *asynq.Server
	log zerolog.Logger
}

// newReadinessServer wires the tracking of cfg, or returns nil when READINESS_TRACKING is off. The
// lifecycle calls go through api and a fleet-wide limiter of their own (READINESS_RATE_LIMIT);
// the payment of orders without auto-pay through a BSS client on BSS_ENDPOINT (the simulator's
// endpoint with --embedded), with the same credentials.
func newReadinessServer(rdb redis.UniversalClient, cfg config, api *cph.Client, tokens cph.TokenSource, policy tasks.RetryPolicy, obs tasks.LifecycleObserver, log zerolog.Logger) (*readinessServer, error) {
	if cfg.ReadinessTracking == "off" {
		log.Info().Msg("readiness tracking is off (READINESS_TRACKING): bought orders are not followed to usable phones")
		return nil, nil
	}
	keys := tasks.NewKeys(cfg.ResultsStream)
	rate := cfg.ReadinessRateLimit
	if rate == 0 {
		rate = tasks.DefaultReadinessRateLimit
	}
	limiter := tasks.NewReadinessRateLimiter(rdb, keys, rate)
	tcfg := tasks.TrackingConfig{
		API: api, Redis: rdb, Keys: keys, Queue: tasks.TrackingQueue(cfg.Queue), RateLimiter: limiter,
		Deadline: cfg.ReadinessDeadline, FirstCheck: cfg.ReadinessFirstCheck, MaxInterval: cfg.ReadinessMaxInterval,
		Logger: log.With().Str("component", "readiness").Logger(), Observer: obs,
	}
	bss := cfg.BSSEndpoint
	if bss == "" && cfg.Embedded {
		bss = cfg.Endpoint // the simulator serves BSS's order details too
	}
	if bss != "" {
		c, err := cph.NewClient(bss, tokens, cph.ClientOptions{Timeout: cfg.Timeout, UserAgent: "cph-purchase-worker"})
		if err != nil {
			return nil, fmt.Errorf("BSS_ENDPOINT: %w", err)
		}
		tcfg.BSS = c
	} else {
		log.Info().Msg("BSS_ENDPOINT is not set: an order without auto-pay counts as awaiting payment while the API does not know its servers")
	}
	return &readinessServer{
		t: tasks.NewTracking(tcfg),
		srv: tasks.NewServer(rdb, tasks.ServerConfig{
			Queue: tcfg.Queue, Concurrency: tasks.ReadinessConcurrency, Retry: policy,
			// A look is due minutes apart: polling once a second instead of TASK_CHECK_INTERVAL costs nothing.
			ShutdownTimeout: cfg.ShutdownTimeout, TaskCheckInterval: time.Second,
			Logger: asynqLogger{log.With().Str("component", "asynq-readiness").Logger()}, LogLevel: asynqLevel(log.GetLevel()),
		}),
		log: log,
	}, nil
}

// tracking is what the purchase handler schedules on; nil when tracking is off.
func (r *readinessServer) tracking() *tasks.Tracking {
	if r == nil {
		return nil
	}
	return r.t
}

func (r *readinessServer) start() error {
	if r == nil {
		return nil
	}
	if err := r.srv.Start(r.t); err != nil {
		return fmt.Errorf("start readiness tracking: %w", err)
	}
	return nil
}

func (r *readinessServer) shutdown() {
	if r != nil {
		r.srv.Shutdown()
	}
}
