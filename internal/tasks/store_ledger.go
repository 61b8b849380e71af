package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Ledger is the Redis record per idempotency key that makes a purchase exactly-once:
//
//	(none) → submitting(owner, lease) → succeeded(result) | failed(result)
//
// A worker takes a key with an owner token and a lease before it may call the API; a second holder
// of the same key (asynq re-delivers, and a handler that lost its lease keeps running) is told the
// key is busy. Before each purchase call the owner marks the key "posting"; a mark that no outcome
// has cleared means the order may exist, and whoever takes the key next must reconcile before it
// may call again. Every change is one Lua script, so no two workers can interleave.
type Ledger struct {
	rdb          redis.UniversalClient
	keys         Keys
	ttl          time.Duration
	streamMaxLen int64
	now          func() time.Time
	// minReplicas, when above zero, is how many replicas must hold a posting mark before the
	// purchase call may go out (see WithMinReplicas).
	minReplicas int
}

// LedgerRetention is how long a key is remembered after its last change (CONTRACT.md: 30 days).
const LedgerRetention = 30 * 24 * time.Hour

// ErrLeaseLost means another worker took the key: this one must stop without calling the API.
var ErrLeaseLost = errors.New("ledger: the key is held by another worker")

// NewLedger returns a ledger on rdb. ttl is the retention (LedgerRetention when zero).
func NewLedger(rdb redis.UniversalClient, keys Keys, ttl time.Duration) *Ledger {
	if ttl <= 0 {
		ttl = LedgerRetention
	}
	return &Ledger{rdb: rdb, keys: keys, ttl: ttl, streamMaxLen: 1_000_000, now: time.Now}
}

// Claim is what Acquire found.
type Claim struct {
	// State is "acquired" (the caller now owns the key), "busy" (another worker does, until
	// LeaseUntil), "succeeded" or "failed" (terminal: Result holds the stored result).
	State      string
	Result     []byte
	LeaseUntil time.Time
	// Posting is set when an earlier purchase call's outcome is unknown; PostStarted is when it began.
	Posting     bool
	PostStarted time.Time
	// Attempts counts the purchase calls sent for this key so far.
	Attempts int
	// LastError is the last failure recorded by Release.
	LastError string
}

// Claim states.
const (
	ClaimAcquired  = "acquired"
	ClaimBusy      = "busy"
	ClaimSucceeded = "succeeded"
	ClaimFailed    = "failed"
)

var acquireScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lease_until', 'posting', 'post_started', 'attempts', 'result', 'last_error')
local st = h[1]
if st == 'succeeded' or st == 'failed' then
  return {st, h[7] or '', '0', '', '', h[6] or '0', ''}
end
if h[2] and h[2] ~= ARGV[1] and tonumber(h[3] or '0') > tonumber(ARGV[2]) then
  return {'busy', '', h[3], '', '', h[6] or '0', ''}
end
redis.call('HSET', KEYS[1], 'state', 'submitting', 'owner', ARGV[1], 'lease_until', ARGV[3], 'task_id', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'acquired', '', ARGV[3], h[4] or '', h[5] or '', h[6] or '0', h[8] or ''}
`)

// Acquire takes key for owner for lease, unless another owner holds an unexpired lease or the key
// is already terminal.
func (l *Ledger) Acquire(ctx context.Context, key, owner, taskID string, lease time.Duration) (Claim, error) {
	now := l.now()
	res, err := acquireScript.Run(ctx, l.rdb, []string{l.keys.Ledger(key)},
		owner, now.UnixMilli(), now.Add(lease).UnixMilli(), l.ttl.Milliseconds(), taskID).StringSlice()
	if err != nil {
		return Claim{}, fmt.Errorf("ledger acquire: %w", err)
	}
	c := Claim{State: res[0], Posting: res[3] == "1"}
	if res[1] != "" {
		c.Result = []byte(res[1])
	}
	c.LeaseUntil = msTime(res[2])
	c.PostStarted = msTime(res[4])
	c.Attempts, _ = strconv.Atoi(res[5])
	c.LastError = res[6]
	return c, nil
}

var markPostingScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'posting', '1', 'post_started', ARGV[2], 'lease_until', ARGV[3])
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
`)

// ErrNotReplicated means the posting mark did not reach enough replicas in time: the purchase call
// must not go out, since a failover could lose the mark and let another worker buy again.
var ErrNotReplicated = errors.New("ledger: the posting mark did not reach enough replicas")

// replicaWait bounds the wait for replicas to acknowledge a posting mark.
const replicaWait = time.Second

// WithMinReplicas returns a ledger whose posting marks must reach n replicas (Redis WAIT) before
// MarkPosting succeeds. Redis replicates asynchronously: a master that fails over right after a
// mark was written may lose it, and with it the only record that a purchase call may have placed
// an order. Requiring a replica closes that window for a Sentinel or Cluster setup with replicas.
func (l *Ledger) WithMinReplicas(n int) *Ledger {
	c := *l
	c.minReplicas = n
	return &c
}

// MarkPosting records, before a purchase call, that the call may be about to place an order, and
// extends the owner's lease to cover the call. It returns the number of calls sent for the key,
// this one included, or ErrLeaseLost, or ErrNotReplicated (the mark stays; the caller clears it).
func (l *Ledger) MarkPosting(ctx context.Context, key, owner string, lease time.Duration) (int, error) {
	now := l.now()
	keys := []string{l.keys.Ledger(key)}
	args := []any{owner, now.UnixMilli(), now.Add(lease).UnixMilli()}
	if l.minReplicas <= 0 {
		n, err := markPostingScript.Run(ctx, l.rdb, keys, args...).Int()
		return markPostingResult(n, err)
	}
	// WAIT counts the writes of its own connection: the script and WAIT go down one pipeline, to
	// the master that holds the key.
	node := redis.Cmdable(l.rdb)
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		master, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return 0, fmt.Errorf("ledger mark posting: %w", err)
		}
		node = master
	}
	pipe := node.Pipeline()
	mark := markPostingScript.Eval(ctx, pipe, keys, args...)
	acked := pipe.Do(ctx, "wait", l.minReplicas, replicaWait.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("ledger mark posting: %w", err)
	}
	n, err := markPostingResult(mark.Int())
	if err != nil {
		return n, err
	}
	if got, _ := acked.Int(); got < l.minReplicas {
		return n, fmt.Errorf("%w: %d of %d acknowledged within %s", ErrNotReplicated, got, l.minReplicas, replicaWait)
	}
	return n, nil
}

func markPostingResult(n int, err error) (int, error) {
	if err != nil {
		return 0, fmt.Errorf("ledger mark posting: %w", err)
	}
	if n < 0 {
		return 0, ErrLeaseLost
	}
	return n, nil
}

var clearPostingScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'posting', 'post_started')
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', -1) end
return 1
`)

// ClearPosting records that no order exists for the last call: it provably was not processed, or
// reconciliation proved it placed nothing. refund takes the call back out of the count of
// purchase attempts (a throttled call is nobody's failure).
func (l *Ledger) ClearPosting(ctx context.Context, key, owner string, refund bool) error {
	r := "0"
	if refund {
		r = "1"
	}
	ok, err := clearPostingScript.Run(ctx, l.rdb, []string{l.keys.Ledger(key)}, owner, r).Int()
	if err != nil {
		return fmt.Errorf("ledger clear posting: %w", err)
	}
	if ok == 0 {
		return ErrLeaseLost
	}
	return nil
}

var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_error', ARGV[2]) end
return 1
`)

// Release gives the key up without a terminal outcome, so that the next attempt, on any worker,
// can take it at once. lastErr, when not empty, is kept for `enqueue status` and for the
// dead letter should the retries run out.
func (l *Ledger) Release(ctx context.Context, key, owner, lastErr string) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.keys.Ledger(key)}, owner, lastErr).Err(); err != nil {
		return fmt.Errorf("ledger release: %w", err)
	}
	return nil
}

var succeedScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'succeeded' then
  return {'succeeded', redis.call('HGET', KEYS[1], 'result')}
end
redis.call('HSET', KEYS[1], 'state', 'succeeded', 'result', ARGV[1])
redis.call('HDEL', KEYS[1], 'owner', 'lease_until', 'posting', 'post_started')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'idempotency_key', ARGV[2], 'status', 'succeeded', 'result', ARGV[1])
return {'ok', ARGV[1]}
`)

// Succeed records the key's success and publishes result to the results stream, in one step. It
// checks no owner: an order that exists is a fact, whoever learns of it. When the key had already
// succeeded it publishes nothing and returns the stored result with first false.
func (l *Ledger) Succeed(ctx context.Context, key string, result []byte) (stored []byte, first bool, err error) {
	res, err := succeedScript.Run(ctx, l.rdb, []string{l.keys.Ledger(key), l.keys.Stream()},
		result, key, l.ttl.Milliseconds(), l.streamMaxLen).StringSlice()
	if err != nil {
		return nil, false, fmt.Errorf("ledger succeed: %w", err)
	}
	return []byte(res[1]), res[0] == "ok", nil
}

var failScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'succeeded' or st == 'failed' then
  return {st, redis.call('HGET', KEYS[1], 'result')}
end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return {'lost', ''}
end
redis.call('HSET', KEYS[1], 'state', 'failed', 'result', ARGV[2])
redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'idempotency_key', ARGV[3], 'status', 'dead_lettered', 'result', ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 8))
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
return {'ok', ARGV[2]}
`)

// Fail records the key's failure, publishes result to the results stream (under
// dl.IdempotencyKey) and writes the durable dead letter dl, in one step: an order is never dead-lettered without its record, nor twice in
// one run. owner "" skips the ownership check (an order too broken to be owned). When the key is
// already terminal nothing is written and the stored result comes back with first false.
func (l *Ledger) Fail(ctx context.Context, key, owner string, result []byte, dl DeadLetter) (stored []byte, first bool, err error) {
	args := []any{owner, result, dl.IdempotencyKey, l.ttl.Milliseconds(), l.streamMaxLen, dl.FailedAt.UnixMilli(), dl.TaskID}
	args = append(args, dl.fields()...)
	res, err := failScript.Run(ctx, l.rdb,
		[]string{l.keys.Ledger(key), l.keys.Stream(), l.keys.DeadLetter(dl.TaskID), l.keys.DeadLetterIndex()},
		args...).StringSlice()
	if err != nil {
		return nil, false, fmt.Errorf("ledger fail: %w", err)
	}
	if res[0] == "lost" {
		return nil, false, ErrLeaseLost
	}
	return []byte(res[1]), res[0] == "ok", nil
}

var reopenScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') ~= 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending')
redis.call('HDEL', KEYS[1], 'result')
redis.call('HINCRBY', KEYS[1], 'run', 1)
redis.call('HSET', KEYS[1], 'attempts', 0)
return 1
`)

// Reopen makes a failed key pending again for a replay, with its count of purchase calls back at
// zero: a replay has a fresh budget. A "posting" mark survives: a replayed
// ambiguous order is reconciled before anything is bought.
func (l *Ledger) Reopen(ctx context.Context, key string) error {
	if err := reopenScript.Run(ctx, l.rdb, []string{l.keys.Ledger(key)}).Err(); err != nil {
		return fmt.Errorf("ledger reopen: %w", err)
	}
	return nil
}

// Entry is a key's ledger record as `enqueue status` shows it.
type Entry struct {
	State       string          `json:"state"`
	TaskID      string          `json:"task_id,omitempty"`
	Attempts    int             `json:"purchase_calls"`
	Posting     bool            `json:"outcome_unknown,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	PostStarted *time.Time      `json:"last_call_at,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
}

// Get returns the key's record, or ok false when the ledger has none.
func (l *Ledger) Get(ctx context.Context, key string) (e Entry, ok bool, err error) {
	h, err := l.rdb.HGetAll(ctx, l.keys.Ledger(key)).Result()
	if err != nil {
		return Entry{}, false, fmt.Errorf("ledger get: %w", err)
	}
	if len(h) == 0 {
		return Entry{}, false, nil
	}
	e = Entry{State: h["state"], TaskID: h["task_id"], Posting: h["posting"] == "1", LastError: h["last_error"]}
	e.Attempts, _ = strconv.Atoi(h["attempts"])
	if t := msTime(h["post_started"]); !t.IsZero() {
		e.PostStarted = &t
	}
	if r := h["result"]; r != "" {
		e.Result = json.RawMessage(r)
	}
	return e, true, nil
}

// Seen reports for each key whether the ledger has a record of it, as Get's ok would, with one
// round trip for all of them: what a producer needs to report duplicates of a whole batch.
func (l *Ledger) Seen(ctx context.Context, keys []string) ([]bool, error) {
	redisKeys := make([]string, len(keys))
	for i, k := range keys {
		redisKeys[i] = l.keys.Ledger(k)
	}
	seen, err := existAll(ctx, l.rdb, redisKeys)
	if err != nil {
		return nil, fmt.Errorf("ledger seen: %w", err)
	}
	return seen, nil
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
