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
//	(none) → submitting(owner, lease) → succeeded(result) | failed(result) → pending (replay) → …
//
// A delivery takes a key with an owner token and a lease before it may call the API; a second
// holder of the same key (asynq re-delivers, and a handler that lost its lease keeps running) is
// told the key is busy. Before each purchase call the owner marks the key "posting"; a mark that no
// outcome has cleared means the order may exist, and whoever takes the key next must reconcile
// before it may call again. Every change is one Lua script (store_scripts.go) on Redis's clock.
type Ledger struct {
	rdb          redis.UniversalClient
	keys         Keys
	ttl          time.Duration
	streamMaxLen int64
	// minReplicas, when above zero, is how many replicas must hold a posting mark before the
	// purchase call may go out (see WithMinReplicas).
	minReplicas int
}

// LedgerRetention is how long a key whose outcome is known is remembered after its last change
// (the contract's 30 days). A key whose outcome is unknown is kept until it is known.
const LedgerRetention = 30 * 24 * time.Hour

// LedgerState is the state of an idempotency key in the ledger.
type LedgerState string

// Ledger states.
const (
	// StatePending: reopened for a replay, not taken since.
	StatePending LedgerState = "pending"
	// StateSubmitting: a delivery took the key; the order may be bought, or being bought.
	StateSubmitting LedgerState = "submitting"
	// StateSucceeded: bought; the result is stored. Terminal.
	StateSucceeded LedgerState = "succeeded"
	// StateFailed: dead-lettered in this run; the result is stored. Terminal until a replay.
	StateFailed LedgerState = "failed"
)

// Errors of the ledger.
var (
	// ErrLeaseLost means another delivery took the key: this one must stop without calling the API.
	ErrLeaseLost = errors.New("ledger: the key is held by another worker")
	// ErrNotReplicated means the posting mark did not reach enough replicas in time: the purchase
	// call must not go out, since a failover could lose the mark and let another worker buy again.
	ErrNotReplicated = errors.New("ledger: the posting mark did not reach enough replicas")
)

// NameBusyError means another idempotency key's purchase call for the same (project, server name)
// has no known outcome yet: calling now would make two orders that reconciliation cannot tell
// apart. The caller waits, uncounted, for up to Wait.
type NameBusyError struct{ Wait time.Duration }

func (e *NameBusyError) Error() string {
	return fmt.Sprintf("another order with this server name has a purchase call whose outcome is not known yet; waiting up to %s", e.Wait.Round(time.Millisecond))
}

// OrderClaimedError means reconciliation found an order that another key claimed first.
type OrderClaimedError struct{ OrderID, Holder string }

func (e *OrderClaimedError) Error() string {
	return fmt.Sprintf("order %s is claimed by idempotency key %q", e.OrderID, e.Holder)
}

// NewLedger returns a ledger on rdb. ttl is the retention (LedgerRetention when zero).
func NewLedger(rdb redis.UniversalClient, keys Keys, ttl time.Duration) *Ledger {
	if ttl <= 0 {
		ttl = LedgerRetention
	}
	return &Ledger{rdb: rdb, keys: keys, ttl: ttl, streamMaxLen: 1_000_000}
}

// WithMinReplicas returns a ledger whose posting marks must reach n replicas (Redis WAIT) before
// MarkPosting succeeds. Redis replicates asynchronously: a master that fails over right after a
// mark was written may lose it, and with it the only record that a purchase call may have placed
// an order. Requiring a replica closes that window for a Sentinel or Cluster setup with replicas.
func (l *Ledger) WithMinReplicas(n int) *Ledger {
	c := *l
	c.minReplicas = n
	return &c
}

// Retention is how long a key whose outcome is known is remembered.
func (l *Ledger) Retention() time.Duration { return l.ttl }

// Hold names an owner's hold on an idempotency key and the name locks its purchase calls take.
type Hold struct {
	Key   string // the idempotency key
	Owner string // the delivery's owner token
	// ProjectID and ServerNames, the names of the servers the purchase creates, pick the name
	// locks (Keys.NameLock).
	ProjectID   string
	ServerNames []string
}

// keysWithNames is keys followed by the hold's name locks.
func (l *Ledger) keysWithNames(h Hold, keys ...string) []string {
	for _, n := range h.ServerNames {
		keys = append(keys, l.keys.NameLock(h.ProjectID, n))
	}
	return keys
}

// AcquireArgs is what Acquire needs.
type AcquireArgs struct {
	Hold
	TaskID string
	// Fingerprint identifies the purchase (Order.Fingerprint); a key first taken with another
	// fingerprint is a conflict. Empty skips the check.
	Fingerprint string
	Lease       time.Duration
	// SkipReopened refuses a key reopened for a replay and not taken since (the sweeper's view of
	// an archived task that a replay has just replaced).
	SkipReopened bool
	// Post, when set, lets Acquire set the posting mark of the key's next call in the same step
	// (see PostArgs).
	Post *PostArgs
}

// PostArgs lets Acquire set the posting mark in the step that takes the key, where nothing else
// has to come first: the key has no unknown outcome to reconcile and has sent no more than
// MaxCalls calls, no other key holds one of its names, and Limiter, when set, has a slot free at
// once, which it reserves. Otherwise Acquire only takes the key (Claim.Posted is 0) and the caller
// goes step by step. A ledger that waits for replicas (WithMinReplicas) never does this: its mark
// must be confirmed by WAIT on its own; nor with a limiter on another Redis than the ledger's.
type PostArgs struct {
	PostingArgs
	MaxCalls int
	Limiter  *RateLimiter
}

// ClaimState is what Acquire found.
type ClaimState string

// Claim states.
const (
	ClaimAcquired  ClaimState = "acquired"  // the caller now owns the key
	ClaimBusy      ClaimState = "busy"      // another delivery does, until LeaseUntil
	ClaimSucceeded ClaimState = "succeeded" // terminal: Result holds the stored result
	ClaimFailed    ClaimState = "failed"    // terminal in this run: Result holds the stored result
	ClaimConflict  ClaimState = "conflict"  // the key was first taken for a different purchase
	ClaimReopened  ClaimState = "reopened"  // refused: reopened for a replay (SkipReopened)
)

// Claim is what Acquire found. Times are Redis's.
type Claim struct {
	State      ClaimState
	Result     []byte
	LeaseUntil time.Time
	// Now is Redis's clock when the script ran: compare LeaseUntil and the call times with it,
	// never with the worker's clock.
	Now time.Time
	// Unresolved is set when an earlier purchase call's outcome is unknown.
	Unresolved *Unresolved
	// Attempts counts the purchase calls sent for this key so far in this run.
	Attempts int
	// LastError is the last failure recorded by Release.
	LastError string
	// Posted, when Acquire was given PostArgs, is the number of calls sent for the key with the
	// one just marked, or 0 when no mark was set.
	Posted int
	// NamesBusy is set when Acquire was given PostArgs and did not mark because another key's
	// call for one of the names is unresolved.
	NamesBusy *NameBusyError
}

// Unresolved is a purchase call whose outcome is unknown: the order may exist.
type Unresolved struct {
	// Started is when the call's posting mark was set, Ends the call's deadline (Redis's clock).
	Started time.Time `json:"call_started"`
	Ends    time.Time `json:"call_deadline"`
	// NoRebuy is set when the key was replayed from an ambiguous dead letter: reconciliation may
	// find the order, but not finding it proves nothing that long after.
	NoRebuy bool `json:"-"`
}

// Acquire takes a key for an owner for a lease, unless another owner holds an unexpired lease,
// the key is terminal, or it was first taken for a different purchase.
func (l *Ledger) Acquire(ctx context.Context, a AcquireArgs) (Claim, error) {
	skip := ""
	if a.SkipReopened {
		skip = "1"
	}
	args := []any{a.Owner, a.Lease.Milliseconds(), l.ttl.Milliseconds(), a.TaskID, a.Fingerprint, skip}
	var res []string
	var err error
	if p := a.Post; p != nil && l.minReplicas <= 0 && (p.Limiter == nil || p.Limiter.rdb == l.rdb) {
		rateKey, interval := l.keys.RateLimit(), "" // the key is not touched without an interval
		if p.Limiter != nil {
			rateKey, interval = p.Limiter.key, strconv.FormatInt(p.Limiter.interval.Microseconds(), 10)
		}
		args = append(args, a.Key, p.CallTimeout.Milliseconds(), p.Lease.Milliseconds(), p.NameHold.Milliseconds(), p.MaxCalls, interval)
		res, err = acquirePostScript.Run(ctx, l.rdb, l.keysWithNames(a.Hold, l.keys.Ledger(a.Key), rateKey), args...).StringSlice()
	} else {
		res, err = acquireScript.Run(ctx, l.rdb, []string{l.keys.Ledger(a.Key)}, args...).StringSlice()
	}
	if err != nil {
		return Claim{}, fmt.Errorf("ledger acquire: %w", err)
	}
	c := Claim{State: ClaimState(res[0]), LeaseUntil: msTime(res[2]), Now: msTime(res[3]), LastError: res[8]}
	if res[1] != "" {
		c.Result = []byte(res[1])
	}
	if res[4] == "1" {
		u := &Unresolved{Started: msTime(res[5]), Ends: msTime(res[6]), NoRebuy: res[9] == "never"}
		c.Unresolved = u
	}
	c.Attempts, _ = strconv.Atoi(res[7])
	if len(res) == 12 {
		c.Posted, _ = strconv.Atoi(res[10])
		if res[11] != "" {
			c.NamesBusy = nameBusy(res[11])
		}
	}
	return c, nil
}

// PostingArgs is what MarkPosting needs beyond the hold.
type PostingArgs struct {
	// CallTimeout bounds the purchase call: its deadline is recorded as the end of its window.
	CallTimeout time.Duration
	// Lease is the owner's lease from now, covering the call.
	Lease time.Duration
	// NameHold is how long the name lock holds if nobody clears it: the call's whole
	// reconciliation window (the call, the grace, and the margin for the API's clock).
	NameHold time.Duration
}

// MarkPosting records, before a purchase call, that the call may be about to place an order,
// extends the owner's lease to cover the call, and takes the name lock of every server name the
// order creates in its project. It returns the number of calls sent for the key, this one included, or
// ErrLeaseLost, a *NameBusyError, or ErrNotReplicated (the mark stays; the caller clears it).
//
// The name lock is what makes attribution sound: CPH server names are not unique and the API has
// no client token, so reconciliation can only tell orders apart by time. While one key's call is
// unresolved, no other key calls for an order that creates a server of any of the same names, so
// an unclaimed order with those names created inside the call's window is this key's. Orders
// that share no server name ("web-0001" and "web-0002", one server each) run side by side; "web"
// of two servers and "web-0001" of one, which would both create a "web-0001", take turns.
func (l *Ledger) MarkPosting(ctx context.Context, h Hold, a PostingArgs) (int, error) {
	keys := l.keysWithNames(h, l.keys.Ledger(h.Key))
	args := []any{h.Owner, h.Key, a.CallTimeout.Milliseconds(), a.Lease.Milliseconds(), a.NameHold.Milliseconds()}
	if l.minReplicas <= 0 {
		res, err := markPostingScript.Run(ctx, l.rdb, keys, args...).StringSlice()
		return markPostingResult(res, err)
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
	n, err := markPostingResult(mark.StringSlice())
	if err != nil {
		return n, err
	}
	if got, _ := acked.Int(); got < l.minReplicas {
		return n, fmt.Errorf("%w: %d of %d acknowledged within %s", ErrNotReplicated, got, l.minReplicas, replicaWait)
	}
	return n, nil
}

// nameBusy reads the name locks' wait (ms) that a script answered.
func nameBusy(ms string) *NameBusyError {
	n, _ := strconv.ParseInt(ms, 10, 64)
	return &NameBusyError{Wait: time.Duration(max(n, 0)) * time.Millisecond}
}

// replicaWait bounds the wait for replicas to acknowledge a posting mark.
const replicaWait = time.Second

func markPostingResult(res []string, err error) (int, error) {
	if err != nil {
		return 0, fmt.Errorf("ledger mark posting: %w", err)
	}
	switch res[0] {
	case "lost":
		return 0, ErrLeaseLost
	case "name_busy":
		return 0, nameBusy(res[1])
	}
	n, _ := strconv.Atoi(res[1])
	return n, nil
}

// ClearArgs is what ClearPosting needs beyond the hold.
type ClearArgs struct {
	// Refund takes the call back out of the count of purchase calls (a throttled call is nobody's
	// failure).
	Refund bool
	// Grace, when above zero, clears the mark only once the call's deadline plus Grace has passed
	// on Redis's clock: reconciliation's "not found" proves nothing before. Otherwise the clear
	// returns a *GraceError saying how long is left.
	Grace time.Duration
	// CallTimeout stands in for the deadline of a mark written before deadlines were recorded.
	CallTimeout time.Duration
	// NameLinger, when above zero, keeps the name lock that long instead of freeing it: after a
	// proven absence the window's far edge (the API clock's margin) must still pass before another
	// key's window may begin, or an order of this key committed at the edge would fall in both.
	NameLinger time.Duration
}

// GraceError means ClearPosting was asked too early: the call's servers may still appear.
type GraceError struct{ Left time.Duration }

func (e *GraceError) Error() string {
	return fmt.Sprintf("not found yet, but the order could still appear for another %s", e.Left.Round(time.Second))
}

// ClearPosting records that the last purchase call placed no order: it provably was not processed,
// or reconciliation proved it placed nothing. It frees the name lock.
func (l *Ledger) ClearPosting(ctx context.Context, h Hold, a ClearArgs) error {
	refund, grace, linger := "0", "", ""
	if a.Refund {
		refund = "1"
	}
	if a.Grace > 0 {
		grace = strconv.FormatInt(a.Grace.Milliseconds(), 10)
	}
	if a.NameLinger > 0 {
		linger = strconv.FormatInt(a.NameLinger.Milliseconds(), 10)
	}
	res, err := clearPostingScript.Run(ctx, l.rdb, l.keysWithNames(h, l.keys.Ledger(h.Key)),
		h.Owner, refund, h.Key, grace, l.ttl.Milliseconds(), a.CallTimeout.Milliseconds(), linger).StringSlice()
	if err != nil {
		return fmt.Errorf("ledger clear posting: %w", err)
	}
	switch res[0] {
	case "lost":
		return ErrLeaseLost
	case "early":
		ms, _ := strconv.ParseInt(res[1], 10, 64)
		return &GraceError{Left: time.Duration(ms) * time.Millisecond}
	}
	return nil
}

// Release gives the key up without a terminal outcome, so that the next attempt, on any worker,
// can take it at once. lastErr, when not empty, is kept for `enqueue status` and for the
// dead letter should the retries run out.
func (l *Ledger) Release(ctx context.Context, h Hold, lastErr string) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.keys.Ledger(h.Key)}, h.Owner, lastErr).Err(); err != nil {
		return fmt.Errorf("ledger release: %w", err)
	}
	return nil
}

// Success is what Succeed records.
type Success struct {
	Hold    // the owner is not checked: an order that exists is a fact, whoever learns of it
	OrderID string
	Result  []byte
	// Reconciled is set when the order was found in the server list rather than in the purchase
	// call's answer: then it is taken only if no other key claimed it first (*OrderClaimedError).
	Reconciled bool
}

// Succeed records the key's success, claims its order id and publishes the result to the results
// stream, in one step. When the key had already succeeded it publishes nothing and returns the
// stored result with first false. takenFrom is set when a purchase call's own answer took over an
// order that another key had claimed (which means that key's claim was wrong).
func (l *Ledger) Succeed(ctx context.Context, s Success) (stored []byte, first bool, takenFrom string, err error) {
	reconciled := "0"
	if s.Reconciled {
		reconciled = "1"
	}
	res, err := succeedScript.Run(ctx, l.rdb,
		l.keysWithNames(s.Hold, l.keys.Ledger(s.Key), l.keys.Stream(), l.keys.OrderClaim(s.OrderID)),
		s.Result, s.Key, l.ttl.Milliseconds(), l.streamMaxLen, reconciled).StringSlice()
	if err != nil {
		return nil, false, "", fmt.Errorf("ledger succeed: %w", err)
	}
	switch res[0] {
	case "claimed":
		return nil, false, "", &OrderClaimedError{OrderID: s.OrderID, Holder: res[2]}
	case "succeeded":
		return []byte(res[1]), false, "", nil
	}
	return []byte(res[1]), true, res[2], nil
}

// Failure is what Fail records.
type Failure struct {
	// LedgerKey is the key the failure is recorded under (an invalid order's is its task's).
	LedgerKey string
	// Owner is checked unless empty (an order too broken to be owned).
	Owner      string
	Result     []byte
	DeadLetter DeadLetter
}

// Fail records the key's failure, publishes the result to the results stream (under the dead
// letter's idempotency key) and writes the durable dead letter, in one step: an order is never
// dead-lettered without its record, nor twice in one run. When the key is already terminal nothing
// is written and the stored result comes back with first false.
func (l *Ledger) Fail(ctx context.Context, f Failure) (stored []byte, first bool, err error) {
	dl := f.DeadLetter
	args := []any{f.Owner, f.Result, dl.IdempotencyKey, l.ttl.Milliseconds(), l.streamMaxLen, dl.TaskID}
	args = append(args, dl.fields()...)
	res, err := failScript.Run(ctx, l.rdb,
		[]string{l.keys.Ledger(f.LedgerKey), l.keys.Stream(), l.keys.DeadLetter(dl.TaskID), l.keys.DeadLetterIndex()},
		args...).StringSlice()
	if err != nil {
		return nil, false, fmt.Errorf("ledger fail: %w", err)
	}
	if res[0] == "lost" {
		return nil, false, ErrLeaseLost
	}
	return []byte(res[1]), res[0] == "ok", nil
}

// Reopening is what Reopen needs.
type Reopening struct {
	Key string
	// Unresolved, from the dead letter, is restored when the ledger no longer has the key: an
	// unknown outcome is reconciled before anything is bought, however long ago it was.
	Unresolved *Unresolved
	// Rebuy says the operator checked that the unresolved call placed no order: the key may buy.
	Rebuy bool
}

// Reopen makes a failed key pending again for a replay, with its count of purchase calls back at
// zero: a replay has a fresh budget. An unknown outcome survives (or is restored from the dead
// letter): a replayed ambiguous order is reconciled first, and is not bought again when its order
// is not found, unless the operator says so (Rebuy).
func (l *Ledger) Reopen(ctx context.Context, r Reopening) error {
	started, ends := "", ""
	if u := r.Unresolved; u != nil && !u.Started.IsZero() {
		started = strconv.FormatInt(u.Started.UnixMilli(), 10)
		if !u.Ends.IsZero() { // else: a mark from before deadlines were recorded, read as CallTimeout long
			ends = strconv.FormatInt(u.Ends.UnixMilli(), 10)
		}
	}
	rebuy := "0"
	if r.Rebuy {
		rebuy = "1"
	}
	if err := reopenScript.Run(ctx, l.rdb, []string{l.keys.Ledger(r.Key)}, started, ends, rebuy, l.ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("ledger reopen: %w", err)
	}
	return nil
}

// Claimed returns, for each order id, the idempotency key that claimed it ("" for none), in one
// round trip.
func (l *Ledger) Claimed(ctx context.Context, orderIDs []string) ([]string, error) {
	holders, err := getAll(ctx, l.rdb, orderIDs, l.keys.OrderClaim)
	if err != nil {
		return nil, fmt.Errorf("ledger claimed orders: %w", err)
	}
	return holders, nil
}

// Entry is a key's ledger record as `enqueue status` shows it.
type Entry struct {
	State       LedgerState     `json:"state"`
	TaskID      string          `json:"task_id,omitempty"`
	Attempts    int             `json:"purchase_calls"`
	Posting     bool            `json:"outcome_unknown,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	PostStarted *time.Time      `json:"last_call_at,omitempty"`
	Fingerprint string          `json:"fingerprint,omitempty"`
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
	e = Entry{State: LedgerState(h["state"]), TaskID: h["task_id"], Posting: h["posting"] == "1", LastError: h["last_error"], Fingerprint: h["fp"]}
	e.Attempts, _ = strconv.Atoi(h["attempts"])
	if t := msTime(h["post_started"]); !t.IsZero() {
		e.PostStarted = &t
	}
	if r := h["result"]; r != "" {
		e.Result = json.RawMessage(r)
	}
	return e, true, nil
}

// Fingerprints returns, for each key, whether the ledger has a record of it and the fingerprint of
// the purchase it was first taken for ("" when unknown), with one round trip for all of them:
// what a producer needs to report the duplicates and conflicts of a whole batch.
func (l *Ledger) Fingerprints(ctx context.Context, keys []string) (seen []bool, fps []string, err error) {
	cmds := make([]*redis.SliceCmd, len(keys))
	if _, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, l.keys.Ledger(k), "state", "fp")
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("ledger fingerprints: %w", err)
	}
	seen, fps = make([]bool, len(keys)), make([]string, len(keys))
	for i, c := range cmds {
		v := c.Val()
		state, _ := v[0].(string)
		fp, _ := v[1].(string)
		seen[i], fps[i] = state != "", fp
	}
	return seen, fps, nil
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
