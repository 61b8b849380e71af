package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ErrNotFound means there is no such dead letter, task or key.
var ErrNotFound = errors.New("not found")

// notFound is an error that reads as its own sentence and matches ErrNotFound, so that a caller can
// tell "there is none" from a failure without the message changing.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == ErrNotFound }

// Operator is the one handle the operator's tools hold on the purchase queue: the `enqueue`
// commands, the console, the demo and the benchmarks. Like river.Client for River, it owns what
// they share, built once from one Redis client and one OperatorConfig: our key names, the ledger,
// the dead letters, asynq's client and inspector, and the Producer. It offers what an operator
// does to orders: Status, FindDeadLetter, ListDeadLetters, Replay, Discard, Await, and Pause,
// Unpause and Paused of the purchase queue; Producer enqueues.
//
// The worker's own pieces (the Handler and its ledger's durability, the Sweeper, the metrics) are
// not part of it. An Operator is safe for concurrent use.
type Operator struct {
	rdb      redis.UniversalClient
	cfg      OperatorConfig
	keys     Keys
	ledger   *Ledger
	dls      *DeadLetters
	insp     *asynq.Inspector
	client   *asynq.Client
	producer *Producer
}

// OperatorConfig names the queue and the results stream an Operator works on, and what the orders
// it enqueues and replays carry.
type OperatorConfig struct {
	// Queue is the asynq queue of purchase orders (PURCHASE_QUEUE); required.
	Queue string
	// ResultsStream is the Redis stream of terminal results (RESULTS_STREAM), which also names
	// every Redis key of ours; required.
	ResultsStream string
	// MaxRetry is the retry budget of the orders the operator enqueues and replays (MAX_RETRY);
	// it travels with each task.
	MaxRetry int
	// Retention keeps a finished task, and its result, in asynq for this long (24h when zero).
	Retention time.Duration
}

// NewOperator returns the operator of cfg's queue on rdb. The operator takes rdb over: Close
// closes it. A host that shares rdb with other users (the worker, whose console has an Operator)
// does not call Close, and closes rdb itself.
func NewOperator(rdb redis.UniversalClient, cfg OperatorConfig) (*Operator, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("operator: a Redis client is required")
	case cfg.Queue == "" || cfg.ResultsStream == "":
		return nil, errors.New("operator: the queue and the results stream must be named")
	case cfg.MaxRetry < 0:
		return nil, fmt.Errorf("operator: the retry budget must be at least 0, got %d", cfg.MaxRetry)
	}
	keys := NewKeys(cfg.ResultsStream)
	o := &Operator{
		rdb:    rdb,
		cfg:    cfg,
		keys:   keys,
		ledger: NewLedger(rdb, keys, 0),
		dls:    NewDeadLetters(rdb, keys),
		insp:   asynq.NewInspectorFromRedisClient(rdb),
		client: asynq.NewClientFromRedisClient(rdb),
	}
	o.producer = NewProducer(ProducerConfig{
		Client:    o.client,
		Ledger:    o.ledger,
		Inspector: o.insp,
		Queue:     cfg.Queue,
		MaxRetry:  cfg.MaxRetry,
		Retention: cfg.Retention,
	})
	return o, nil
}

// Close closes the Redis client the operator was built from; asynq's client and inspector share it.
func (o *Operator) Close() error { return o.rdb.Close() }

// Producer enqueues purchase orders on the queue, with the operator's retry budget.
func (o *Operator) Producer() *Producer { return o.producer }

// Queue is the asynq queue of purchase orders.
func (o *Operator) Queue() string { return o.cfg.Queue }

// ResultsStream is the Redis stream of terminal results.
func (o *Operator) ResultsStream() string { return o.keys.Stream() }

// Redis is the Redis client the operator works on, for what it does not offer itself (reading the
// results stream).
func (o *Operator) Redis() redis.UniversalClient { return o.rdb }

// Ledger is the ledger of idempotency keys.
func (o *Operator) Ledger() *Ledger { return o.ledger }

// DeadLetters is the store of dead-letter records. Work them through the operator (FindDeadLetter,
// ListDeadLetters, Replay, Discard), which also keeps asynq's archive in step.
func (o *Operator) DeadLetters() *DeadLetters { return o.dls }

// Inspector is asynq's inspector of the queue, for what the operator does not offer itself.
func (o *Operator) Inspector() *asynq.Inspector { return o.insp }

// Client is asynq's client, for tasks that are no purchase order of the Producer's making.
func (o *Operator) Client() *asynq.Client { return o.client }

// awaitPollEvery is how often Await reads the ledger: fast enough to feel immediate, one cheap
// HGETALL a poll.
const awaitPollEvery = 200 * time.Millisecond

// AwaitQueued is the state Await reports while the ledger does not know the key: the order is on
// the queue, and no worker has taken it yet.
const AwaitQueued = "queued, not taken by a worker yet"

// Await waits until the order of idempotency key key has its terminal result and returns the
// ledger's record of it, or ctx's error when ctx ends first. After each reading that finds no
// result it calls report (when not nil) with the state it waits in: AwaitQueued, or the ledger's
// state. The ledger is read rather than asynq: it keeps the result for 30 days, asynq only for the
// task's retention. A replay reopens a failed key, and a reopened key has no result, so a result
// that is there is the current run's.
func (o *Operator) Await(ctx context.Context, key string, report func(state string)) (Entry, error) {
	tick := time.NewTicker(awaitPollEvery)
	defer tick.Stop()
	for {
		e, ok, err := o.ledger.Get(ctx, key)
		if ctx.Err() != nil {
			return e, ctx.Err()
		}
		if err != nil {
			return e, err
		}
		if ok && e.Ended() {
			return e, nil
		}
		if report != nil {
			state := AwaitQueued
			if ok {
				state = string(e.State)
			}
			report(state)
		}
		select {
		case <-ctx.Done():
			return e, ctx.Err()
		case <-tick.C:
		}
	}
}

// QueueInfo reads asynq's stats of the queue (its tasks by state, its latency, whether it is
// paused). It returns nil, and no error, while the queue does not exist for asynq: nothing was
// ever enqueued to it.
func (o *Operator) QueueInfo() (*asynq.QueueInfo, error) { return queueInfo(o.insp, o.cfg.Queue) }

// Pause stops the workers from taking orders off the queue; the orders in flight finish. Pausing a
// paused queue is no error.
func (o *Operator) Pause(ctx context.Context) error {
	if err := o.insp.PauseQueue(o.cfg.Queue); err != nil {
		if paused, perr := o.Paused(ctx); perr == nil && paused {
			return nil
		}
		return fmt.Errorf("pause queue %s: %w", o.cfg.Queue, err)
	}
	return nil
}

// Unpause lets the workers take orders off the queue again. Unpausing a queue that is not paused
// is no error.
func (o *Operator) Unpause(ctx context.Context) error {
	if err := o.insp.UnpauseQueue(o.cfg.Queue); err != nil {
		if paused, perr := o.Paused(ctx); perr == nil && !paused {
			return nil
		}
		return fmt.Errorf("unpause queue %s: %w", o.cfg.Queue, err)
	}
	return nil
}

// Paused reports whether the queue is paused. It reads asynq's own pause flag, the key that
// Inspector.PauseQueue sets and GetQueueInfo reads (asynq's base.PausedKey), because GetQueueInfo
// does not know a queue that nothing was ever enqueued to, even a paused one.
func (o *Operator) Paused(ctx context.Context) (bool, error) {
	n, err := o.rdb.Exists(ctx, asynqPausedKey(o.cfg.Queue)).Result()
	if err != nil {
		return false, fmt.Errorf("queue %s paused: %w", o.cfg.Queue, err)
	}
	return n > 0, nil
}

// asynqPausedKey is asynq's pause flag of queue (internal/base.PausedKey in asynq v0.26).
func asynqPausedKey(queue string) string { return "asynq:{" + queue + "}:paused" }
