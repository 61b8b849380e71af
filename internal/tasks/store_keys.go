package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/redis/go-redis/v9"
)

// The store is the set of files named store_*.go: every Redis key of ours (this file), every Lua
// script (store_scripts.go), the ledger (store_ledger.go), the dead letters and the results stream.
// The pipeline (handler, sweeper, producer, replay) reaches Redis only through them.

// Keys names every Redis key of ours, in one place, as asynq's internal/base does for its own.
//
// Every key carries the results stream's name as a Redis Cluster hash tag, so the ledger, the dead
// letters, the claimed-order index, the name locks and the stream live in one slot and one Lua
// script can change them together: the ledger's "succeeded", the order's claim and the stream's
// single succeeded entry are written atomically or not at all. The fleet buys at most
// CPH_RATE_LIMIT orders a second, so one slot is never the bottleneck.
type Keys struct {
	stream string
	tag    string
}

// NewKeys returns the key names for the given results stream (RESULTS_STREAM).
func NewKeys(resultsStream string) Keys {
	return Keys{stream: resultsStream, tag: "{" + resultsStream + "}"}
}

// Stream is the results stream: one entry per terminal result.
func (k Keys) Stream() string { return k.stream }

// Ledger is the hash that records one idempotency key's purchase: state, owner, attempts, result.
// The idempotency key is hashed so that any key (up to 128 bytes, any characters) makes a tidy name.
func (k Keys) Ledger(idempotencyKey string) string {
	return k.tag + ":ledger:" + digest(idempotencyKey)
}

// OrderClaim is the string key that says which idempotency key an order id belongs to. It is
// written in the same script as the key's success, so an order id is never reported by two keys,
// and reconciliation never takes an order that another key already holds.
func (k Keys) OrderClaim(orderID string) string { return k.tag + ":order:" + digest(orderID) }

// NameLock is the string key held by the one idempotency key whose unresolved purchase call
// creates a server of this name in this project. See Ledger.MarkPosting.
func (k Keys) NameLock(projectID, serverName string) string {
	return k.tag + ":name:" + digest(projectID+"\x00"+serverName)
}

// DeadLetter is the durable dead-letter record of one task: asynq's archive trims itself at 10,000
// tasks, this record is never trimmed.
func (k Keys) DeadLetter(taskID string) string { return k.tag + ":dlq:" + taskID }

// DeadLetterIndex is a sorted set of dead-lettered task ids, scored by the time they failed.
func (k Keys) DeadLetterIndex() string { return k.tag + ":dlq" }

// CredentialHold is the string key, holding the reason, that marks a pause of queue made because
// the CPH API refused the workers' credentials (CredentialWatcher): a pause that a worker whose
// credentials work again may lift, unlike an operator's.
func (k Keys) CredentialHold(queue string) string { return k.tag + ":credhold:" + queue }

// RateLimit is the key of the fleet-wide purchase rate limiter. Its "rate:" prefix is the one
// go-redis/redis_rate put before the name it was given, kept so that workers of an earlier version
// share the limit with these during a rolling deploy.
func (k Keys) RateLimit() string { return "rate:" + k.tag + ":ratelimit:purchase" }

// Readiness is the hash that follows one idempotency key's order after its purchase, until its
// servers and phones are usable (store_readiness.go).
func (k Keys) Readiness(idempotencyKey string) string {
	return k.tag + ":readiness:" + digest(idempotencyKey)
}

// ReadinessStream is the stream of terminal readiness events, one per bought order: a stream of its
// own beside the results stream, whose promise (one terminal purchase result per order) it leaves
// as it is. Its name is derived from the results stream's, in the same hash slot.
func (k Keys) ReadinessStream() string { return k.tag + ":readiness" }

// ReadinessRateLimit is the key of the fleet-wide limiter of the calls that follow orders to
// readiness, a budget apart from the purchases' RateLimit.
func (k Keys) ReadinessRateLimit() string { return "rate:" + k.tag + ":ratelimit:readiness" }

// Batch is the set of the idempotency keys of one named batch (enqueue bulk --batch NAME).
func (k Keys) Batch(name string) string { return k.tag + ":batch:" + digest(name) }

// Batches is the sorted set of batch names, scored by when each was first recorded (ms).
func (k Keys) Batches() string { return k.tag + ":batches" }

// digest is a short, stable, printable form of s.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// existAll reports, in one pipelined round trip, which of the ids' Redis keys (key(id)) exist.
func existAll(ctx context.Context, rdb redis.UniversalClient, ids []string, key func(string) string) ([]bool, error) {
	cmds := make([]*redis.IntCmd, len(ids))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Exists(ctx, key(id))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	exist := make([]bool, len(ids))
	for i, c := range cmds {
		exist[i] = c.Val() > 0
	}
	return exist, nil
}

// getAll returns, in one pipelined round trip, the string value of each id's Redis key (key(id)),
// "" when it is absent.
func getAll(ctx context.Context, rdb redis.UniversalClient, ids []string, key func(string) string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, key(id))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	vals := make([]string, len(ids))
	for i, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		vals[i] = c.Val()
	}
	return vals, nil
}

// asynqPendingKey is asynq's list of the queue's pending task ids (internal/base.PendingKey in
// asynq v0.26).
func asynqPendingKey(queue string) string { return "asynq:{" + queue + "}:pending" }

// asynqTaskKeyPrefix is what asynq puts before a task id to name the task's hash
// (internal/base.TaskKeyPrefix in asynq v0.26).
func asynqTaskKeyPrefix(queue string) string { return "asynq:{" + queue + "}:t:" }
