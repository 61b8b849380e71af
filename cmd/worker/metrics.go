package main

import (
	"fmt"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/tasks"
)

// newMetrics builds the worker's own registry: the handler's purchase metrics, the queue and
// dead-letter collector, and Go's and the process's collectors. Its own, not Prometheus's global
// one, so that the worker exposes exactly what it registered and nothing a library slipped in.
func newMetrics(rdb redis.UniversalClient, keys tasks.Keys, queue string, log zerolog.Logger) (*prometheus.Registry, *tasks.Metrics, error) {
	reg := prometheus.NewRegistry()
	m, err := tasks.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	stats := tasks.NewQueueStats(tasks.QueueStatsConfig{
		Inspector:   asynq.NewInspectorFromRedisClient(rdb),
		DeadLetters: tasks.NewDeadLetters(rdb, keys),
		Queue:       queue,
		Logger:      log,
	})
	for _, c := range []prometheus.Collector{stats, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return reg, m, nil
}

// httpMux serves the probes and /metrics on HTTP_ADDR. A scrape that meets a failing collector
// still gets every other metric, and the failure is logged.
func httpMux(rdb redis.UniversalClient, reg *prometheus.Registry, log zerolog.Logger) *http.ServeMux {
	mux := healthMux(rdb)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

// promLogger lets promhttp report gathering errors through the worker's logger.
type promLogger struct{ log zerolog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn().Msg(fmt.Sprint(v...)) }
