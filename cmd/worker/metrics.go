package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/buildinfo"
	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

// newMetrics builds the worker's own registry: the handler's purchase metrics, the queue and
// dead-letter collector, the ledger Redis's durability, the build, and Go's and the process's collectors. Its
// own, not Prometheus's global one, so that the worker exposes exactly what it registered and
// nothing a library slipped in. durability is the reading taken at start, nil when there was none.
func newMetrics(op *tasks.Operator, log zerolog.Logger, durability *redisconn.Durability) (*prometheus.Registry, *tasks.Metrics, error) {
	reg := prometheus.NewRegistry()
	m, err := tasks.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	stats := tasks.NewQueueStats(tasks.QueueStatsConfig{
		Inspector:   op.Inspector(),
		DeadLetters: op.DeadLetters(),
		Queue:       op.Queue(),
		Logger:      log,
	})
	dur := newDurabilityCollector(op.Redis(), log, durability)
	for _, c := range []prometheus.Collector{stats, dur, buildInfoGauge(buildinfo.Read()), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return reg, m, nil
}

// buildInfoGauge is cph_purchase_build_info: always 1, its labels naming the build, so that
// `count by (version, revision) (cph_purchase_build_info)` follows a rollout, and its absence
// means that no worker is scraped.
func buildInfoGauge(info buildinfo.Info) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: tasks.MetricsNamespace, Name: "build_info",
		Help:        "Always 1, labelled with the worker's build: module version, VCS revision (empty when the build recorded none) and Go version.",
		ConstLabels: prometheus.Labels{"version": info.Version, "revision": info.Revision, "goversion": info.GoVersion},
	})
	g.Set(1)
	return g
}

// httpMux serves the probes and /metrics on HTTP_ADDR. A scrape that meets a failing collector
// still gets every other metric, and the failure is logged. ready are /readyz's checks beyond Redis.
func httpMux(rdb redis.UniversalClient, reg *prometheus.Registry, log zerolog.Logger, ready ...func() error) *http.ServeMux {
	mux := healthMux(rdb, ready...)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

// promLogger lets promhttp report gathering errors through the worker's logger.
type promLogger struct{ log zerolog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn().Msg(fmt.Sprint(v...)) }

// durabilityEvery is how long one reading of the ledger Redis's durability serves scrapes. Its
// configuration seldom changes; its replicas may come and go, and half a minute is soon enough to
// see that.
const durabilityEvery = 30 * time.Second

// durabilityCollector exports how durable the ledger's Redis is, re-read at most every
// durabilityEvery however often it is scraped:
//
//	cph_purchase_ledger_redis_persistence  1 append-only file; 0 a restart can lose ledger writes
//	                                       (nothing persisted, or RDB snapshots only); -1 unknown
//	cph_purchase_ledger_redis_replicas     replicas connected to the master (the fewest of a
//	                                       Cluster's masters); -1 unknown
//
// A reading that fails (Redis away) keeps the last one: Redis's configuration did not change
// because the worker could not reach it. Until a first reading succeeds both are -1.
type durabilityCollector struct {
	rdb                   redis.UniversalClient
	log                   zerolog.Logger
	now                   func() time.Time
	persistence, replicas *prometheus.Desc

	mu sync.Mutex // held through a refresh, so concurrent scrapes share one reading
	at time.Time  // of the last attempt; zero: none yet
	d  redisconn.Durability
}

func newDurabilityCollector(rdb redis.UniversalClient, log zerolog.Logger, initial *redisconn.Durability) *durabilityCollector {
	c := &durabilityCollector{
		rdb: rdb, log: log, now: time.Now,
		persistence: prometheus.NewDesc(prometheus.BuildFQName(tasks.MetricsNamespace, "ledger_redis", "persistence"),
			"1 when the ledger's Redis keeps an append-only file (appendonly yes); 0 when a restart of Redis can lose ledger writes (nothing persisted, or RDB snapshots only); -1 when Redis does not say (CONFIG refused). "+tasks.FleetWideHelp, nil, nil),
		replicas: prometheus.NewDesc(prometheus.BuildFQName(tasks.MetricsNamespace, "ledger_redis", "replicas"),
			"Replicas connected to the ledger's Redis master (the fewest of a Cluster's masters); -1 when unknown. Compare with LEDGER_MIN_REPLICAS. "+tasks.FleetWideHelp, nil, nil),
		d: redisconn.Durability{Replicas: -1},
	}
	if initial != nil {
		c.d, c.at = *initial, c.now()
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *durabilityCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.persistence
	ch <- c.replicas
}

// Collect implements prometheus.Collector.
func (c *durabilityCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.reading()
	ch <- prometheus.MustNewConstMetric(c.persistence, prometheus.GaugeValue, persistenceValue(d.Persistence))
	ch <- prometheus.MustNewConstMetric(c.replicas, prometheus.GaugeValue, float64(d.Replicas))
}

func (c *durabilityCollector) reading() redisconn.Durability {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.at.IsZero() && now.Sub(c.at) < durabilityEvery {
		return c.d
	}
	c.at = now
	ctx, cancel := context.WithTimeout(context.Background(), durabilityTimeout)
	defer cancel()
	d, err := redisconn.Inspect(ctx, c.rdb)
	if err != nil {
		c.log.Debug().Err(err).Msg("metrics: could not read the ledger Redis's durability; keeping the last reading")
		return c.d
	}
	c.d = d
	return d
}

// persistenceValue is cph_purchase_ledger_redis_persistence's value for p.
func persistenceValue(p redisconn.Persistence) float64 {
	switch p {
	case redisconn.PersistenceAOF:
		return 1
	case redisconn.PersistenceNone, redisconn.PersistenceSnapshot:
		return 0
	}
	return -1
}
