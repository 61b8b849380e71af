package tasks

import (
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ServerConfig is what NewServer needs. Zero values take the worker's defaults.
type ServerConfig struct {
	// Queue is the purchase queue (PURCHASE_QUEUE).
	Queue string
	// Concurrency is the handlers of the process (WORKER_CONCURRENCY); 10 when zero.
	Concurrency int
	// Retry spaces the attempts (RETRY_BASE_DELAY, RETRY_MAX_DELAY).
	Retry RetryPolicy
	// TaskCheckInterval is how often an idle worker looks for orders (TASK_CHECK_INTERVAL);
	// DefaultTaskCheckInterval when zero.
	TaskCheckInterval time.Duration
	// DelayedTaskCheckInterval is how often retries and waits due are moved back to the queue;
	// one second when zero, so they come back on time rather than up to 5 s (asynq's default) late.
	DelayedTaskCheckInterval time.Duration
	// ShutdownTimeout is how long in-flight purchases may finish on shutdown (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// Logger and LogLevel are asynq's own; nil and zero: asynq's logger at fatal level only.
	Logger   asynq.Logger
	LogLevel asynq.LogLevel
}

// DefaultTaskCheckInterval is TASK_CHECK_INTERVAL's default: how long an idle worker waits before
// it looks at the queue again. asynq polls rather than blocks, and sleeps between half and one and
// a half intervals; its own 1 s would make an order on an idle queue wait up to 1.5 s to be picked
// up. 50 ms keeps that under 75 ms for 20 cheap polls a second per idle worker process. Zero, as
// in a configuration built in code, means this default.
const DefaultTaskCheckInterval = 50 * time.Millisecond

// NewServer returns the asynq server that runs the purchase handler on rdb. It is the one place
// where the retry contract meets asynq: IsFailure lets a retry that is nobody's failure (a busy
// key, a throttled call, a wait for reconciliation) come back without spending the order's budget,
// and the retry policy honours the delay a failure asks for. Every program that hosts the handler
// (worker, demo, bench, tests) builds its server here.
func NewServer(rdb redis.UniversalClient, cfg ServerConfig) *asynq.Server {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if cfg.TaskCheckInterval <= 0 {
		cfg.TaskCheckInterval = DefaultTaskCheckInterval
	}
	if cfg.DelayedTaskCheckInterval <= 0 {
		cfg.DelayedTaskCheckInterval = time.Second
	}
	if cfg.LogLevel == 0 && cfg.Logger == nil {
		cfg.LogLevel = asynq.FatalLevel
	}
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   map[string]int{cfg.Queue: 1},
		RetryDelayFunc:           cfg.Retry.Delay,
		IsFailure:                IsFailure,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		Logger:                   cfg.Logger,
		LogLevel:                 cfg.LogLevel,
	})
}
