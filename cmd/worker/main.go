// Command worker processes purchase orders from the queue: it validates each order, buys the CPH
// servers exactly once under a fleet-wide rate limit, publishes one terminal result per order and
// dead-letters what cannot succeed. See the README for configuration and operation.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"cphpurchase/internal/buildinfo"
	"cphpurchase/internal/cph/cphsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// go-redis logs through one process-wide logger: set here, where the process starts, so that
	// its lines (dial retries while Redis is away) are JSON like the worker's own.
	redis.SetLogger(redisLogger{zerolog.New(os.Stderr).Hook(millisTimestamp{})})
	os.Exit(execute(ctx, os.Args[1:], os.Stdout, os.Stderr, osLookup))
}

// execute runs the command line and returns the exit code: 0 done, 1 failed, 2 bad usage or
// configuration.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cmd, err := newRootCmd(stdout, stderr, lookup)
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		var f failure
		if errors.As(err, &f) {
			return 1
		}
		return 2 // a configuration mistake, or cobra's own: an unknown flag or command
	}
	return 0
}

// usageError is a configuration or command-line mistake: exit code 2.
type usageError struct{ error }

// failure is an error of the work itself (Redis lost, the demo failed): exit code 1.
type failure struct{ error }

// runE adapts a command's work to cobra: an error that is not a usageError is a failure.
func runE(work func(cmd *cobra.Command) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		err := work(cmd)
		var u usageError
		if err == nil || errors.As(err, &u) {
			return err
		}
		return failure{err}
	}
}

func newRootCmd(stdout, stderr io.Writer, lookup func(string) (string, bool)) (*cobra.Command, error) {
	var cfg config
	root := &cobra.Command{
		Use:   "worker",
		Short: "Process CPH purchase orders from the queue, exactly once per order",
		Long: `worker processes purchase orders from the asynq queue: it validates each order, calls
POST /v2/{project_id}/cloud-phone/servers under a fleet-wide rate limit, retries what is safe to
retry, publishes one terminal result per order to the results stream and dead-letters what cannot
succeed. Every setting is an environment variable and a flag of the same meaning; flags win.`,
		Example: `  # Against real services
  REDIS_URL=redis://127.0.0.1:6379/0 CPH_ENDPOINT=https://cph.cn-east-3.myhuaweicloud.com \
    CPH_PROJECT_ID=0b1c... CPH_TOKEN_FILE=/run/secrets/cph-token worker

  # Try it with nothing installed: in-process Redis and CPH simulator
  worker --embedded

  # The whole story in under a minute
  worker demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			return serve(cmd.Context(), cfg, stdout, stderr, cphsim.Options{})
		}),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := bindFlags(root.Flags(), &cfg, lookup); err != nil {
		return nil, err
	}
	root.AddCommand(newDemoCmd(stdout, stderr))
	buildinfo.AddTo(root)
	return root, nil
}

// serve runs one worker until ctx ends.
func serve(ctx context.Context, cfg config, stdout, stderr io.Writer, simOpts cphsim.Options) error {
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return usageError{err}
	}
	if cfg.Embedded {
		emb, err := startEmbedded(&cfg, simOpts)
		if err != nil {
			return err
		}
		defer emb.Close()
		emb.announce(stdout, cfg)
		log.Warn().Str("redis_url", cfg.RedisURL).Str("cph_endpoint", cfg.Endpoint).Int("rate_limit", cfg.RateLimit).
			Msg("embedded mode: in-process Redis and CPH simulator, for trying the system, never for production; point enqueue at this REDIS_URL")
	}
	if err := cfg.check(); err != nil {
		return usageError{err}
	}
	w, err := newWorker(cfg, log)
	if err != nil {
		return usageError{err}
	}
	return w.run(ctx)
}
