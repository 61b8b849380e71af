package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

// settings is the configuration every command shares. Each setting is an environment variable of
// docs/contract.md and a persistent flag of the same meaning; the flag wins.
type settings struct {
	redisURL      string
	queue         string
	resultsStream string
	maxRetry      int
	projectID     string
}

// Defaults of docs/contract.md.
const (
	defaultQueue    = "cph-purchase"
	defaultStream   = "cph:purchase:results"
	defaultMaxRetry = 10
)

// register defines the persistent flags. Their defaults are the built-in ones, never the
// environment's: --help must not print a REDIS_URL with its password.
func (s *settings) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.redisURL, "redis-url", "", "Redis: redis://[user:pass@]host:port/db, rediss://, redis-sentinel://, redis-cluster:// (env REDIS_URL)")
	fs.StringVar(&s.queue, "queue", defaultQueue, "asynq queue of purchase orders (env PURCHASE_QUEUE)")
	fs.StringVar(&s.resultsStream, "results-stream", defaultStream, "Redis stream of terminal results (env RESULTS_STREAM)")
	fs.IntVar(&s.maxRetry, "max-retry", defaultMaxRetry, "retries before an order is dead-lettered; the budget travels with the task (env MAX_RETRY)")
	fs.StringVar(&s.projectID, "project-id", "", "project for orders that have no project_id; an order's own project_id wins (env CPH_PROJECT_ID)")
}

// resolve fills every setting whose flag was not given from its environment variable, and checks
// the result. Empty variables count as unset. Errors name the variable or flag, never a URL.
func (s *settings) resolve(fs *pflag.FlagSet, getenv func(string) string) error {
	fromEnv := func(flag, env string) (string, bool) {
		if fs.Changed(flag) {
			return "", false
		}
		v := getenv(env)
		return v, v != ""
	}
	for _, e := range []struct {
		flag, env string
		dst       *string
	}{
		{"redis-url", "REDIS_URL", &s.redisURL},
		{"queue", "PURCHASE_QUEUE", &s.queue},
		{"results-stream", "RESULTS_STREAM", &s.resultsStream},
		{"project-id", "CPH_PROJECT_ID", &s.projectID},
	} {
		if v, ok := fromEnv(e.flag, e.env); ok {
			*e.dst = v
		}
	}
	if v, ok := fromEnv("max-retry", "MAX_RETRY"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("MAX_RETRY must be a whole number of at least 0, got %q", v)
		}
		s.maxRetry = n
	}
	switch {
	case s.maxRetry < 0:
		return fmt.Errorf("--max-retry must be at least 0, got %d", s.maxRetry)
	case s.queue == "":
		return errors.New("the queue name (--queue, PURCHASE_QUEUE) must not be empty")
	case s.resultsStream == "":
		return errors.New("the results stream (--results-stream, RESULTS_STREAM) must not be empty")
	}
	return nil
}

// pingTimeout bounds the first contact with Redis, so that an unreachable one fails in seconds.
const pingTimeout = 15 * time.Second

// connect opens Redis, checks that it answers, and returns the operator that the commands that
// touch Redis share. Only they open it, so that validate and --help work with no Redis at all. A
// missing or malformed URL, or a database the Redis does not have, is invalid input (exit 2); a
// Redis that does not answer is a failure (exit 1). redisconn.ParseURL's errors never repeat the
// URL, which may carry a password, and neither do these.
func (s *settings) connect(ctx context.Context) (*tasks.Operator, error) {
	if s.redisURL == "" {
		return nil, invalidInput(errors.New("REDIS_URL is not set: set it or --redis-url to redis://host:port/db, " +
			"or run `worker --embedded`, which prints one to use"))
	}
	opt, err := redisconn.ParseURL(s.redisURL)
	if err != nil {
		return nil, invalidInput(err)
	}
	rdb := redisconn.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		if redisconn.NoSuchDatabase(err) {
			return nil, invalidInput(fmt.Errorf("REDIS_URL names a database this Redis does not have (%w): use one below its `databases` setting, e.g. /0", err))
		}
		return nil, failed(fmt.Errorf("cannot reach Redis: %w", err))
	}
	op, err := tasks.NewOperator(rdb, tasks.OperatorConfig{Queue: s.queue, ResultsStream: s.resultsStream, MaxRetry: s.maxRetry})
	if err != nil {
		_ = rdb.Close()
		return nil, invalidInput(err)
	}
	return op, nil
}

// withOperator opens Redis for fn, the part of a command that needs it, and closes it after.
func (a *app) withOperator(cmd *cobra.Command, fn func(context.Context, *tasks.Operator) error) error {
	ctx := cmd.Context()
	op, err := a.cfg.connect(ctx)
	if err != nil {
		return err
	}
	defer op.Close()
	return fn(ctx, op)
}

// quietRedis stops go-redis from logging its dial retries to stderr: an unreachable Redis is
// reported once, as the command's own one-line error. go-redis's logger is process-wide, so only
// main (and the tests' TestMain) set it, before anything else runs.
func quietRedis() { redis.SetLogger(discardLogger{}) }

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}
