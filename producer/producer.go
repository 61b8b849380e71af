// Package producer lets another Go service put purchase orders for Huawei Cloud Phone Host
// servers on the queue that the workers serve, and follow them: enqueue one order or many, read an
// order's status, wait for its result. It is the Go form of docs/contract.md: the same purchase
// order, the same validation and field errors, the same duplicates and conflicts as the `enqueue`
// CLI and the HTTP intake (`enqueue serve`), which is built on this package.
//
// Everything a producer would otherwise have to get exactly right by hand — the task type, the
// payload's shape, the task id derived from the idempotency key, the retry budget, the queue — is
// done here, and an order is validated before anything is enqueued. Its API holds only its own
// types and the standard library's: the module's internal packages can change without breaking a
// service that imports it.
package producer

import (
	"context"
	"fmt"
	"time"

	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

// The defaults of docs/contract.md, the same as the workers' and the CLI's.
const (
	DefaultQueue         = "cph-purchase"
	DefaultResultsStream = "cph:purchase:results"
	DefaultMaxRetry      = 10
)

// batchConcurrency is how many enqueues EnqueueMany keeps in flight, as `enqueue bulk` does: each
// is a Redis round trip, so a few dozen hide the latency without crowding a shared Redis.
const batchConcurrency = 32

// Client submits orders to one queue on one Redis. It is safe for concurrent use; make one and
// share it, and Close it when done.
type Client struct {
	op        *tasks.Operator
	projectID string
}

// Option changes a setting of New.
type Option func(*settings)

type settings struct {
	queue, stream, projectID string
	maxRetry                 int
}

// WithQueue names the asynq queue the workers serve (their PURCHASE_QUEUE); DefaultQueue
// otherwise.
func WithQueue(name string) Option { return func(s *settings) { s.queue = name } }

// WithResultsStream names the workers' results stream (RESULTS_STREAM), which also names every
// Redis key of theirs, the ledger that knows duplicates and conflicts included;
// DefaultResultsStream otherwise.
func WithResultsStream(name string) Option { return func(s *settings) { s.stream = name } }

// WithMaxRetry sets the retry budget the orders carry (MAX_RETRY): counted retries before an
// order is dead-lettered. It travels with each task, so it is the producer's to choose, at least
// 0; DefaultMaxRetry otherwise.
func WithMaxRetry(n int) Option { return func(s *settings) { s.maxRetry = n } }

// WithProjectID fills project_id in the orders that carry none (CPH_PROJECT_ID); an order that
// names its project keeps it.
func WithProjectID(id string) Option { return func(s *settings) { s.projectID = id } }

// New returns a client of the Redis at redisURL, in any form REDIS_URL takes (redis://,
// rediss://, redis-sentinel://, redis-cluster://; docs/contract.md). It does not dial: the first
// call does, and Ping checks that Redis answers. Its errors never repeat the URL, which may carry
// a password.
func New(redisURL string, opts ...Option) (*Client, error) {
	s := settings{queue: DefaultQueue, stream: DefaultResultsStream, maxRetry: DefaultMaxRetry}
	for _, o := range opts {
		o(&s)
	}
	opt, err := redisconn.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	op, err := tasks.NewOperator(redisconn.NewClient(opt), tasks.OperatorConfig{
		Queue: s.queue, ResultsStream: s.stream, MaxRetry: s.maxRetry,
	})
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &Client{op: op, projectID: s.projectID}, nil
}

// Close closes the client's Redis connections.
func (c *Client) Close() error { return c.op.Close() }

// pingTimeout bounds Ping when ctx has no deadline, so that an unreachable Redis fails in seconds.
const pingTimeout = 5 * time.Second

// Ping checks that Redis answers: what a service's readiness probe asks before it takes orders.
func (c *Client) Ping(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pingTimeout)
		defer cancel()
	}
	if err := c.op.Redis().Ping(ctx).Err(); err != nil {
		return fmt.Errorf("producer: Redis does not answer: %w", err)
	}
	return nil
}

// Queue is the queue the client enqueues to.
func (c *Client) Queue() string { return c.op.Queue() }
