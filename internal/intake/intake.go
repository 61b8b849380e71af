// Package intake is the HTTP intake of purchase orders, served by `enqueue serve`: producers in
// any language submit orders, batches of orders, read an order's status and long-poll for its
// result, in JSON over HTTP, as docs/contract.md and the OpenAPI document openapi.json (served at
// /v1/openapi.json) describe. It is a producer process: it needs the workers' Redis and never the
// CPH credentials, and it scales apart from the workers.
//
// It speaks through the public producer package, so that the Go package and the HTTP API accept,
// refuse and report exactly alike.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"cphpurchase/internal/loopback"
	"cphpurchase/producer"
)

// Producer is what the intake does with orders: the public producer package's Client. Tests stand
// in for it to hold a batch mid-flight.
type Producer interface {
	Enqueue(ctx context.Context, o producer.Order) (producer.Submission, error)
	EnqueueMany(ctx context.Context, orders []producer.Order) (producer.BatchResult, error)
	EnqueueBatch(ctx context.Context, name string, orders []producer.Order) (producer.BatchResult, error)
	Status(ctx context.Context, key string) (producer.Status, error)
	Wait(ctx context.Context, key string) (*producer.Result, error)
	Ping(ctx context.Context) error
}

// Limits of one request, documented in docs/contract.md and the OpenAPI document.
const (
	// MaxOrderBytes bounds the body of POST /v1/orders: the contract's limit of one order.
	MaxOrderBytes = 64 << 10
	// MaxBatchBytes bounds the body of POST /v1/orders:batch.
	MaxBatchBytes = 16 << 20
	// MaxBatchOrders bounds the orders of one batch.
	MaxBatchOrders = 10_000
	// MaxWait bounds the long poll of GET /v1/orders/{key}?wait=.
	MaxWait = 60 * time.Second
)

// Timeouts of the HTTP server. A write may take as long as the longest long poll, and then some
// for the largest batch; a slow client cannot hold a connection longer than that.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = MaxWait + time.Minute
	idleTimeout       = 2 * time.Minute
	// DefaultShutdownTimeout is how long in-flight requests may finish on shutdown.
	DefaultShutdownTimeout = 30 * time.Second
)

// Config wires a Server.
type Config struct {
	Producer Producer
	// Addr is the address the intake listens on (INTAKE_ADDR). Beyond loopback, Tokens must be
	// set: anyone who can reach the port could otherwise buy servers.
	Addr   string
	Tokens *Tokens
	Logger zerolog.Logger
	// ShutdownTimeout is how long in-flight requests may finish once Serve's context ends;
	// DefaultShutdownTimeout when zero.
	ShutdownTimeout time.Duration
}

// Server is the intake: its routes, its authentication, its metrics.
type Server struct {
	cfg     Config
	handler http.Handler
	metrics *metrics
	// draining ends when shutdown begins: long polls then answer with what they know instead of
	// holding the shutdown up for as long as they were asked to wait.
	draining  context.Context
	stopWaits context.CancelFunc
	registry  *prometheus.Registry
}

// New returns the intake of cfg. It refuses an address beyond loopback without tokens.
func New(cfg Config) (*Server, error) {
	if cfg.Producer == nil {
		return nil, errors.New("intake: a producer is required")
	}
	if !cfg.Tokens.configured() && !loopback.Addr(cfg.Addr) {
		return nil, fmt.Errorf("intake: INTAKE_ADDR %q is reachable beyond this machine: set INTAKE_TOKEN or INTAKE_TOKEN_FILE (clients then send it as a bearer token), or bind INTAKE_ADDR to 127.0.0.1", cfg.Addr)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	s := &Server{cfg: cfg, registry: prometheus.NewRegistry()}
	var err error
	if s.metrics, err = newMetrics(s.registry); err != nil {
		return nil, err
	}
	s.draining, s.stopWaits = context.WithCancel(context.Background())
	s.handler = s.metrics.instrument(s.routes(), cfg.Logger)
	return s, nil
}

// routes maps each route of the OpenAPI document to its handler. The orders' routes require a
// token when tokens are configured; the probes, the metrics and the document itself stay open,
// as the worker's do, for kubelets, scrapers and client generators.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	auth := s.cfg.Tokens.require
	mux.Handle("POST /v1/orders", auth(http.HandlerFunc(s.submit)))
	mux.Handle("POST /v1/orders:batch", auth(http.HandlerFunc(s.submitBatch)))
	mux.Handle("GET /v1/orders/{key...}", auth(http.HandlerFunc(s.status)))
	mux.HandleFunc("GET /v1/openapi.json", serveDocument)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", s.metrics.handler(s.registry))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, &problem{Status: http.StatusNotFound, Code: codeNotFound,
			Detail: fmt.Sprintf("no route %s %s: the routes are in /v1/openapi.json", r.Method, r.URL.Path)})
	})
	return mux
}

// Handler is the intake's http.Handler, for a server of the caller's (tests use httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops accepting, answers the
// long polls with what they know, and lets every other request in flight finish (a batch is
// enqueued to its end) within the shutdown timeout. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		// net/http reports what it refused (a TLS handshake, a malformed request) here.
		ErrorLog: log.New(s.cfg.Logger.With().Str("component", "http").Logger(), "", 0),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("intake: %w", err)
	case <-ctx.Done():
	}
	s.cfg.Logger.Info().Dur("shutdown_timeout", s.cfg.ShutdownTimeout).Msg("shutting down: no new requests; requests in flight may finish")
	s.stopWaits()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("intake: requests still in flight after %s were cut off: %w", s.cfg.ShutdownTimeout, err)
	}
	return nil
}

// ready answers /readyz: 200 while Redis answers, so that a load balancer sends orders only to an
// intake that can enqueue them.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.cfg.Producer.Ping(ctx); err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("redis unreachable\n"))
		return
	}
	writeText(w, "ok\n")
}
