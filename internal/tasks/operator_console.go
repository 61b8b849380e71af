package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeadLetterClasses are the classes of dead letters, in the order an operator reads them.
func DeadLetterClasses() []ErrorClass {
	return []ErrorClass{ClassInvalid, ClassRejected, ClassAuth, ClassExhausted, ClassAmbiguous}
}

// DeadLetterRef names one dead letter: enough to filter, count and page the dead letters without
// reading their records.
type DeadLetterRef struct {
	TaskID   string
	Class    ErrorClass
	FailedAt time.Time
}

// deadLetterRefBatch is how many dead letters' classes DeadLetterRefs reads in one round trip.
const deadLetterRefBatch = 500

// DeadLetterRefs lists every dead letter, newest first, with its class and the time it failed:
// the index with scores, and one field of each record in pipelined batches, so that the console
// can count the dead letters by class and page through one class without reading every payload.
// A record that goes while it reads is left out.
func (o *Operator) DeadLetterRefs(ctx context.Context) ([]DeadLetterRef, error) {
	index, err := o.rdb.ZRevRangeWithScores(ctx, o.keys.DeadLetterIndex(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out := make([]DeadLetterRef, 0, len(index))
	for start := 0; start < len(index); start += deadLetterRefBatch {
		batch := index[start:min(start+deadLetterRefBatch, len(index))]
		classes := make([]*redis.StringCmd, len(batch))
		if _, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, z := range batch {
				classes[i] = p.HGet(ctx, o.keys.DeadLetter(z.Member.(string)), "class")
			}
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read dead-letter classes: %w", err)
		}
		for i, z := range batch {
			class, err := classes[i].Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read dead-letter classes: %w", err)
			}
			out = append(out, DeadLetterRef{TaskID: z.Member.(string), Class: ErrorClass(class), FailedAt: time.UnixMilli(int64(z.Score)).UTC()})
		}
	}
	return out, nil
}

// PendingAges counts the pending tasks of the queue by how long they have waited: older[i] is how
// many have waited at least bounds[i], of total. bounds go from the shortest to the longest.
//
// asynq keeps its pending list in order of arrival (a task is pushed at its head when it is
// enqueued, or when a retry or a schedule comes due, with the time in its "pending_since"), so each
// count is a binary search of the list: a few reads, however long the queue.
func (o *Operator) PendingAges(ctx context.Context, now time.Time, bounds []time.Duration) (total int64, older []int64, err error) {
	args := make([]any, 0, len(bounds)+1)
	args = append(args, asynqTaskKeyPrefix(o.cfg.Queue))
	for _, b := range bounds {
		args = append(args, now.Add(-b).UnixNano())
	}
	res, err := pendingAgesScript.Run(ctx, o.rdb, []string{asynqPendingKey(o.cfg.Queue)}, args...).Int64Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("queue %s pending ages: %w", o.cfg.Queue, err)
	}
	return res[0], res[1:], nil
}
