package bench

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/tasks"
)

// space is one row's corner of the shared Redis: an asynq queue, a results stream, and our keys
// under the stream's hash tag. Everything a row writes is in its space, and cleanup removes the
// space and nothing else.
type space struct {
	rdb    redis.UniversalClient
	queue  string
	stream string
	keys   tasks.Keys
}

// newSpace returns the space named for this run and tag.
func (r *run) newSpace(tag string) *space {
	name := fmt.Sprintf("bench-%s-%s", r.id, tag)
	stream := fmt.Sprintf("bench:%s:%s:results", r.id, tag)
	return &space{rdb: r.rdb, queue: name, stream: stream, keys: tasks.NewKeys(stream)}
}

// ledger is the space's ledger, as a worker on this space would have it.
func (s *space) ledger() *tasks.Ledger { return tasks.NewLedger(s.rdb, s.keys, 0) }

// operator is the space's operator, as `enqueue` on this space would have it, with the retry
// budget of benchmark orders. It shares the run's Redis client: it is not closed.
func (s *space) operator() (*tasks.Operator, error) {
	return tasks.NewOperator(s.rdb, tasks.OperatorConfig{Queue: s.queue, ResultsStream: s.stream, MaxRetry: bulkMaxRetry})
}

// cleanup deletes the space's keys (ours, and asynq's for its queue and for the readiness queue
// that worker processes on it run) a page at a time, and unregisters both queues. It is best effort: a key left behind costs memory, not correctness.
func (s *space) cleanup(ctx context.Context) {
	// The rate limiter's key starts with "rate:" (Keys.RateLimit); it also expires by itself.
	for _, pattern := range []string{"{" + s.stream + "}*", "rate:{" + s.stream + "}*", s.stream,
		"asynq:{" + s.queue + "}*", "asynq:{" + tasks.TrackingQueue(s.queue) + "}*"} {
		var cursor uint64
		for range 1_000_000 { // bounded: a page per call, far more pages than any run makes
			keys, next, err := s.rdb.Scan(ctx, cursor, pattern, 2000).Result()
			if err != nil {
				break
			}
			if len(keys) > 0 {
				s.rdb.Unlink(ctx, keys...)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	s.rdb.SRem(ctx, "asynq:queues", s.queue, tasks.TrackingQueue(s.queue))
}
