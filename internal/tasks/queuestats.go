package tasks

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// DefaultQueueStatsEvery is how long one reading of the queue and the dead letters serves scrapes.
const DefaultQueueStatsEvery = 10 * time.Second

// queueStatsTimeout bounds the dead-letter count of one refresh; asynq's GetQueueInfo takes no
// context and is bounded by the Redis client's own read timeout.
const queueStatsTimeout = 5 * time.Second

// QueueStats is a Prometheus collector of our queue's task counts and latency (asynq's
// Inspector.GetQueueInfo) and of the durable dead letters (DeadLetters.Count), read from Redis at
// most once per interval however often it is scraped: every Prometheus server, and every replica's
// scrape, would otherwise run asynq's stats script against the shared Redis.
//
// We write this small collector instead of wrapping asynq's own (asynq/x/metrics): that one lists
// every queue on the Redis and runs GetQueueInfo for each on every scrape, other teams' queues
// included, and it is a separate module, last released in 2021, that would bring go-redis v8 in
// beside our v9. A cache around it would bound how often it runs, but not what it reads; ours
// reads one queue and the dead-letter index, and exposes only what an operator of this queue needs.
type QueueStats struct {
	cfg QueueStatsConfig
	now func() time.Time

	tasks, latency, paused, deadLetters, up *prometheus.Desc

	mu   sync.Mutex // held through a refresh, so concurrent scrapes share one reading
	snap queueSnapshot
}

// queueSnapshot is one reading of Redis.
type queueSnapshot struct {
	at   time.Time
	info *asynq.QueueInfo // nil when the reading failed
	dead int64
}

// QueueStatsConfig wires a QueueStats.
type QueueStatsConfig struct {
	Inspector   *asynq.Inspector
	DeadLetters *DeadLetters
	// Queue is the one queue to report (PURCHASE_QUEUE).
	Queue string
	// Every is how long one reading serves scrapes; zero means DefaultQueueStatsEvery.
	Every time.Duration
	// Logger is told when a reading fails, at most once per Every.
	Logger zerolog.Logger
}

// FleetWideHelp ends the help of every gauge that is a reading of the shared Redis rather than a
// count of the process: each worker reports the same value, so a sum over the fleet multiplies it.
const FleetWideHelp = "Fleet-wide: every worker reports the same value read from Redis; aggregate with max, not sum."

// NewQueueStats returns the collector; register it on the worker's registry.
func NewQueueStats(cfg QueueStatsConfig) *QueueStats {
	if cfg.Every <= 0 {
		cfg.Every = DefaultQueueStatsEvery
	}
	constLabels := prometheus.Labels{"queue": cfg.Queue}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(MetricsNamespace, "", name), help, labels, constLabels)
	}
	return &QueueStats{
		cfg: cfg, now: time.Now,
		tasks:       desc("queue_tasks", "Tasks in the purchase queue by asynq state (pending, active, scheduled, retry, archived, completed). "+FleetWideHelp, "state"),
		latency:     desc("queue_latency_seconds", "Age of the oldest pending task in the purchase queue. "+FleetWideHelp),
		paused:      desc("queue_paused", "1 when the purchase queue is paused. "+FleetWideHelp),
		deadLetters: desc("dead_letters", "Durable dead-letter records waiting for an operator (enqueue dlq list). "+FleetWideHelp),
		up:          desc("queue_stats_up", "1 when the last reading of the queue and dead letters from Redis succeeded; the other queue metrics are absent when it did not."),
	}
}

// Describe implements prometheus.Collector.
func (s *QueueStats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.tasks, s.latency, s.paused, s.deadLetters, s.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector from the cached reading, refreshing it first when it is
// older than the interval. A failed reading is cached too, so a Redis outage is not hammered by
// scrapes; it shows as queue_stats_up 0 rather than as stale numbers.
func (s *QueueStats) Collect(ch chan<- prometheus.Metric) {
	snap := s.snapshot()
	if snap.info == nil {
		ch <- prometheus.MustNewConstMetric(s.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(s.up, prometheus.GaugeValue, 1)
	info := snap.info
	for _, st := range []struct {
		state string
		n     int
	}{
		{"pending", info.Pending}, {"active", info.Active}, {"scheduled", info.Scheduled},
		{"retry", info.Retry}, {"archived", info.Archived}, {"completed", info.Completed},
	} {
		ch <- prometheus.MustNewConstMetric(s.tasks, prometheus.GaugeValue, float64(st.n), st.state)
	}
	ch <- prometheus.MustNewConstMetric(s.latency, prometheus.GaugeValue, info.Latency.Seconds())
	paused := 0.0
	if info.Paused {
		paused = 1
	}
	ch <- prometheus.MustNewConstMetric(s.paused, prometheus.GaugeValue, paused)
	ch <- prometheus.MustNewConstMetric(s.deadLetters, prometheus.GaugeValue, float64(snap.dead))
}

// snapshot returns the cached reading, taking a new one when it is older than the interval.
func (s *QueueStats) snapshot() queueSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.snap.at.IsZero() && now.Sub(s.snap.at) < s.cfg.Every {
		return s.snap
	}
	s.snap = queueSnapshot{at: now}
	info, dead, err := s.read()
	if err != nil {
		s.cfg.Logger.Warn().Err(err).Msg("metrics: could not read the queue's stats from Redis")
		return s.snap
	}
	s.snap.info, s.snap.dead = info, dead
	return s.snap
}

// read takes one reading of the queue and the dead letters.
func (s *QueueStats) read() (*asynq.QueueInfo, int64, error) {
	info, err := s.queueInfo()
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueStatsTimeout)
	defer cancel()
	dead, err := s.cfg.DeadLetters.Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	return info, dead, nil
}

// queueInfo reads the queue's stats. A queue that no task was ever enqueued to does not exist for
// asynq yet; it is empty, not an error.
func (s *QueueStats) queueInfo() (*asynq.QueueInfo, error) {
	info, err := queueInfo(s.cfg.Inspector, s.cfg.Queue)
	switch {
	case err != nil:
		return nil, fmt.Errorf("queue %s stats: %w", s.cfg.Queue, err)
	case info == nil:
		return &asynq.QueueInfo{Queue: s.cfg.Queue}, nil
	}
	return info, nil
}

// queueInfo reads queue's stats from asynq; nil, and no error, when the queue does not exist for
// asynq yet (no task was ever enqueued to it). asynq's GetQueueInfo says so with an error that
// does not wrap asynq.ErrQueueNotFound, so the queue is looked for in asynq's list of queues.
func queueInfo(insp *asynq.Inspector, queue string) (*asynq.QueueInfo, error) {
	info, err := insp.GetQueueInfo(queue)
	if err == nil {
		return info, nil
	}
	queues, qerr := insp.Queues()
	if qerr == nil && !slices.Contains(queues, queue) {
		return nil, nil
	}
	return nil, err
}
