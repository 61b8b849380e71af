// Command cphsim serves the CPH purchase API simulator (package cphsim) on a TCP address, for the
// demo, staging and tests that run it as a separate process. See cphsim --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line and returns the exit code: 0 served until a signal (or help was
// printed), 1 could not serve, 2 a mistake in the flags or the environment. Errors are one line on
// stderr.
func execute(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stdout)
	switch {
	case errors.Is(err, errHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := run(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "cphsim: %v\n", err)
		return 1
	}
	return 0
}

// shutdownGrace is how long in-flight calls may finish after a signal; hanging calls are then
// cut off, which their clients see as a dropped connection.
const shutdownGrace = 2 * time.Second

// run serves until ctx ends, printing the base URL on stdout once it listens.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sim := cphsim.New(cfg.opts)
	var h http.Handler = sim.WithDebug()
	if cfg.verbose {
		h = logCalls(log, h)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	url := "http://" + ln.Addr().String()
	fmt.Fprintln(stdout, url)
	o := cfg.opts
	log.Info("cphsim listening", "url", url, "latency", o.Latency, "seed", o.Seed,
		"throttle_rate", o.ThrottleRate, "fail_before_rate", o.FailBeforeRate, "fail_after_rate", o.FailAfterRate,
		"hang_rate", o.HangRate, "drop_rate", o.DropRate, "reject_rate", o.RejectRate,
		"late_commit_rate", o.LateCommitRate, "late_commit_after", o.LateCommitAfter, "rate_limit", o.RateLimit,
		"static_tokens", len(o.Tokens), "iam_user", o.IAMUser, "token_ttl", o.TokenTTL)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("cphsim shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close() // cuts hanging calls short
	}
	st := sim.Stats()
	sim.Close() // late commits still pending die with the process; say how many
	log.Info("cphsim stopped", "calls", st.Calls, "purchase_calls", st.PurchaseCalls, "orders", st.Orders,
		"late_commits_cancelled", st.PendingLateCommits,
		"rate_limit_violations", st.RateLimitViolations, "max_purchases_per_second", st.MaxPurchasesPerSecond)
	return nil
}

// logCalls logs each request's method, path, status and duration. It never logs headers, so no
// token reaches the log.
func logCalls(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			log.Info("call", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(begin))
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status; Unwrap lets the simulator still take over the connection.
type statusWriter struct {
	http.ResponseWriter
	status int // 0: nothing written
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
