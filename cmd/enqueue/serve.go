package main

import (
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/intake"
	"cphpurchase/producer"
)

const serveLong = `Serve the HTTP intake: producers in any language submit purchase orders, batches of orders,
and read an order's status or wait for its result, in JSON over HTTP. The routes, their answers and
every error are described by the OpenAPI document the intake serves at /v1/openapi.json.

  POST /v1/orders            one order; its key in the body or the Idempotency-Key header
  POST /v1/orders:batch      {"name", "orders": [...]}, all or nothing, as bulk
  GET  /v1/orders/{key}      status; ?wait=30s long-polls for the result (at most 60s)
  GET  /v1/openapi.json, /healthz, /readyz (Redis reachable), /metrics

The intake is a producer: it needs REDIS_URL (and the queue settings the workers use), never the
CPH credentials. On loopback (the default address) anyone who can reach the port may submit;
bound anywhere else it refuses to start unless INTAKE_TOKEN or INTAKE_TOKEN_FILE (one token a line,
read again when the file changes) is set, and then every /v1/orders route needs one of them as
Authorization: Bearer TOKEN. INTAKE_TOKEN has no flag: a flag shows in ps.

It logs JSON lines on stderr, one a request (never a header, so never a token). On SIGTERM or
SIGINT it stops accepting, answers the long polls with what they know, and lets the requests in
flight finish within SHUTDOWN_TIMEOUT; a batch being enqueued is enqueued to its end.

Settings (the flag wins):
  INTAKE_ADDR        --addr               default 127.0.0.1:8480
  INTAKE_TOKEN                            a bearer token clients must send
  INTAKE_TOKEN_FILE  --token-file         a file of bearer tokens, one a line
  SHUTDOWN_TIMEOUT   --shutdown-timeout   default 30s
  LOG_LEVEL          --log-level          debug, info, warn, error; default info
  LOG_FORMAT         --log-format         json or console; default json`

const serveExample = `  # On this machine only, no token needed
  enqueue serve
  curl -sS -X POST localhost:8480/v1/orders -H 'Content-Type: application/json' -d @order.json

  # For other machines: with tokens, on every interface
  INTAKE_TOKEN_FILE=/run/secrets/intake-tokens enqueue serve --addr 0.0.0.0:8480`

// serveSettings are serve's own settings, beside the persistent ones.
type serveSettings struct {
	addr, tokenFile     string
	shutdown            time.Duration
	logLevel, logFormat string
}

func (a *app) serveCmd() *cobra.Command {
	var s serveSettings
	cmd := &cobra.Command{
		Use:     "serve [--addr HOST:PORT] [--token-file FILE]",
		Short:   "Serve the HTTP intake of purchase orders (OpenAPI at /v1/openapi.json)",
		Long:    serveLong,
		Example: serveExample,
		Args:    noArgs,
		RunE: operation(func(cmd *cobra.Command, _ []string) error {
			if err := s.resolve(cmd.Flags(), a.getenv); err != nil {
				return invalidInput(err)
			}
			return a.serve(cmd, s)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&s.addr, "addr", "127.0.0.1:8480", "address to listen on; beyond loopback a token is required (env INTAKE_ADDR)")
	f.StringVar(&s.tokenFile, "token-file", "", "file of bearer tokens, one a line, read again when it changes (env INTAKE_TOKEN_FILE)")
	f.DurationVar(&s.shutdown, "shutdown-timeout", intake.DefaultShutdownTimeout, "on SIGTERM, how long requests in flight may finish (env SHUTDOWN_TIMEOUT)")
	f.StringVar(&s.logLevel, "log-level", "info", "debug, info, warn or error (env LOG_LEVEL)")
	f.StringVar(&s.logFormat, "log-format", "json", "json, or console for people (env LOG_FORMAT)")
	return cmd
}

// resolve fills every setting whose flag was not given from its environment variable; an empty
// variable counts as unset. Errors name the variable or flag.
func (s *serveSettings) resolve(fs *pflag.FlagSet, getenv func(string) string) error {
	for _, e := range []struct {
		flag, env string
		dst       *string
	}{
		{"addr", "INTAKE_ADDR", &s.addr},
		{"token-file", "INTAKE_TOKEN_FILE", &s.tokenFile},
		{"log-level", "LOG_LEVEL", &s.logLevel},
		{"log-format", "LOG_FORMAT", &s.logFormat},
	} {
		if v := getenv(e.env); v != "" && !fs.Changed(e.flag) {
			*e.dst = v
		}
	}
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" && !fs.Changed("shutdown-timeout") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("SHUTDOWN_TIMEOUT must be a duration such as 30s, got %q", v)
		}
		s.shutdown = d
	}
	if s.shutdown <= 0 {
		return fmt.Errorf("the shutdown timeout must be positive, got %s", s.shutdown)
	}
	if s.logFormat != "json" && s.logFormat != "console" {
		return fmt.Errorf("LOG_FORMAT must be json or console, got %q", s.logFormat)
	}
	if _, err := zerolog.ParseLevel(s.logLevel); err != nil || s.logLevel == "" {
		return fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", s.logLevel)
	}
	return nil
}

// serve runs the intake until the command's context ends (SIGTERM, SIGINT). A Redis that does
// not answer at start is no error: /readyz says so until it does, as the worker's.
func (a *app) serve(cmd *cobra.Command, s serveSettings) error {
	ctx := cmd.Context()
	if a.cfg.redisURL == "" {
		return invalidInput(fmt.Errorf("REDIS_URL is not set: set it or --redis-url to the workers' Redis"))
	}
	var out zerolog.LevelWriter = zerolog.MultiLevelWriter(a.stderr)
	if s.logFormat == "console" {
		out = zerolog.MultiLevelWriter(zerolog.ConsoleWriter{Out: a.stderr, TimeFormat: "15:04:05.000", NoColor: true})
	}
	level, _ := zerolog.ParseLevel(s.logLevel)
	log := zerolog.New(out).Level(level).With().Timestamp().Str("component", "intake").Logger()

	token := a.getenv("INTAKE_TOKEN")
	tokens, err := intake.NewTokens(ctx, cph.Secret(token), s.tokenFile)
	if err != nil {
		return invalidInput(fmt.Errorf("INTAKE_TOKEN_FILE: %w", err))
	}
	p, err := producer.New(a.cfg.redisURL, producer.WithQueue(a.cfg.queue), producer.WithResultsStream(a.cfg.resultsStream),
		producer.WithMaxRetry(a.cfg.maxRetry), producer.WithProjectID(a.cfg.projectID))
	if err != nil {
		return invalidInput(err)
	}
	defer p.Close()
	srv, err := intake.New(intake.Config{Producer: p, Addr: s.addr, Tokens: tokens, Logger: log, ShutdownTimeout: s.shutdown})
	if err != nil {
		return invalidInput(err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return failed(fmt.Errorf("INTAKE_ADDR %s: %w", s.addr, err))
	}
	if err := p.Ping(ctx); err != nil {
		log.Warn().Err(err).Msg("Redis is not reachable yet; /readyz answers 503 until it is")
	}
	log.Info().Str("addr", ln.Addr().String()).Str("queue", a.cfg.queue).Bool("tokens_required", token != "" || s.tokenFile != "").
		Msg("serving the intake: /v1/orders, /v1/openapi.json, /healthz, /readyz, /metrics")
	if err := srv.Serve(ctx, ln); err != nil {
		return failed(err)
	}
	log.Info().Msg("stopped")
	return nil
}
