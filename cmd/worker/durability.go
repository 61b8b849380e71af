package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/redisconn"
)

// durabilityTimeout bounds the reading of the Redis's durability at start: a Redis that does not
// answer delays the start by at most this, and the worker starts anyway (it is not ready until
// Redis answers).
const durabilityTimeout = 5 * time.Second

// checkRedisDurability reads at start how durable the ledger's Redis is, says in the log what a
// restart or a failover of it could lose and what to configure, and applies LEDGER_MIN_REPLICAS's
// default to cfg. It returns the reading (unknown, and the error, when Redis could not be read).
//
// The ledger in Redis is what keeps an order from being bought twice: a posting mark written
// before each purchase call is the only record that the call may have placed an order. A Redis
// that loses writes on a restart or a failover loses exactly those.
func checkRedisDurability(rdb redis.UniversalClient, cfg *config, log zerolog.Logger) (redisconn.Durability, error) {
	ctx, cancel := context.WithTimeout(context.Background(), durabilityTimeout)
	defer cancel()
	d, err := redisconn.Inspect(ctx, rdb)
	if err != nil {
		log.Warn().Err(err).Int("ledger_min_replicas", cfg.MinReplicas).
			Msg("could not read the ledger Redis's persistence and replication (Redis not reachable yet?); LEDGER_MIN_REPLICAS stays as configured")
		return d, err
	}
	n, derived := ledgerMinReplicas(cfg.MinReplicas, cfg.MinReplicasSet, d)
	cfg.MinReplicas = n
	logDurability(log, d, *cfg, derived)
	return d, nil
}

// ledgerMinReplicas decides LEDGER_MIN_REPLICAS: as configured when it was given (0 included);
// otherwise 1 when the ledger's Redis is a master with at least one replica connected (on a
// Cluster, every master), so that a failover cannot lose a posting mark that no replica had; else
// as configured. derived tells that the value came from Redis.
func ledgerMinReplicas(configured int, explicit bool, d redisconn.Durability) (n int, derived bool) {
	if explicit || d.Role != "master" || d.Replicas < 1 || configured >= 1 {
		return configured, false
	}
	return 1, true
}

// What the worker says about a Redis that keeps too little. The words matter more than the
// levels: an operator reading one warning should know what can go wrong and what to set.
const (
	msgNoPersistence = "the ledger's Redis persists nothing (appendonly no, save \"\"): a restart of Redis forgets the ledger. " +
		"Keys with a purchase call in flight lose the record that an order may exist, and duplicates of orders already bought may buy again. " +
		"Configure appendonly yes with appendfsync everysec; for failover, replicas with LEDGER_MIN_REPLICAS=1"
	msgSnapshotOnly = "the ledger's Redis persists only RDB snapshots (save), no append-only file: a restart of Redis loses the ledger's writes since the last snapshot. " +
		"Keys with a purchase call in flight then lose the record that an order may exist, and duplicates of orders bought since may buy again. " +
		"Configure appendonly yes with appendfsync everysec; for failover, replicas with LEDGER_MIN_REPLICAS=1"
	msgUnknownPersistence = "the ledger's Redis does not let the worker read its persistence (CONFIG is refused, as on most managed Redis): " +
		"make sure it keeps an append-only file (appendonly yes, appendfsync everysec), or a restart of Redis may let orders be bought twice"
	msgEviction = "the ledger's Redis may evict keys under memory pressure (maxmemory-policy is not noeviction): ledger records expire after their retention, so volatile-* policies pick them too, " +
		"and an evicted record of a bought order lets a duplicate buy again. Configure maxmemory-policy noeviction"
	msgFsyncNo         = "the ledger's Redis writes its append-only file with appendfsync no: the kernel decides when it reaches the disk, and a crash of the machine loses up to about 30 s of ledger writes. Configure appendfsync everysec"
	msgDefaultReplicas = "LEDGER_MIN_REPLICAS is not set and the ledger's Redis is a master with a replica connected: it defaults to 1. " +
		"Each posting mark must reach a replica before its purchase call goes out, so that a failover cannot lose it; set LEDGER_MIN_REPLICAS=0 not to wait"
	msgTooFewReplicas = "LEDGER_MIN_REPLICAS asks for more replicas than the ledger's Redis has connected: no purchase call goes out (orders wait, uncounted) until enough replicas are connected"
)

// logDurability writes what checkRedisDurability found: one line with the reading, and a warning
// for each way in which the Redis may lose ledger writes.
func logDurability(log zerolog.Logger, d redisconn.Durability, cfg config, derived bool) {
	ev := func(e *zerolog.Event) *zerolog.Event {
		return e.Str("persistence", d.Persistence.String()).Str("appendfsync", d.AppendFsync).
			Str("maxmemory_policy", d.EvictionPolicy).Str("role", d.Role).Int("replicas", d.Replicas).
			Int("masters", d.Masters).Int("ledger_min_replicas", cfg.MinReplicas)
	}
	switch d.Persistence {
	case redisconn.PersistenceNone:
		ev(log.Warn()).Msg(msgNoPersistence)
	case redisconn.PersistenceSnapshot:
		ev(log.Warn()).Msg(msgSnapshotOnly)
	case redisconn.PersistenceUnknown:
		ev(log.Info()).Msg(msgUnknownPersistence)
	case redisconn.PersistenceAOF:
		if d.AppendFsync == "no" {
			ev(log.Warn()).Msg(msgFsyncNo)
		}
	}
	if d.EvictionPolicy != "" && d.EvictionPolicy != "noeviction" {
		ev(log.Warn()).Msg(msgEviction)
	}
	switch {
	case derived:
		ev(log.Info()).Msg(msgDefaultReplicas)
	case d.Replicas >= 0 && cfg.MinReplicas > d.Replicas:
		ev(log.Warn()).Msg(msgTooFewReplicas)
	}
	ev(log.Info()).Msg("ledger Redis durability")
}
