package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// StreamEntry is one entry of the results stream.
type StreamEntry struct {
	ID             string          `json:"id"`
	IdempotencyKey string          `json:"idempotency_key"`
	Status         string          `json:"status"`
	Result         json.RawMessage `json:"result"`
}

// ReadResults calls fn with each entry of the results stream after from ("" or "0": from the
// start). With follow it then waits for new entries until ctx ends, as `tail -f` does.
func ReadResults(ctx context.Context, rdb redis.UniversalClient, stream, from string, follow bool, fn func(StreamEntry) error) error {
	if from == "" {
		from = "0"
	}
	for {
		streams, err := rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{stream, from},
			Count:   500,
			Block:   blockFor(follow),
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if !follow {
				return nil
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read results stream %s: %w", stream, err)
		}
		n := 0
		for _, s := range streams {
			for _, m := range s.Messages {
				from = m.ID
				n++
				e := StreamEntry{ID: m.ID}
				e.IdempotencyKey, _ = m.Values["idempotency_key"].(string)
				e.Status, _ = m.Values["status"].(string)
				if r, _ := m.Values["result"].(string); r != "" {
					e.Result = json.RawMessage(r)
				}
				if err := fn(e); err != nil {
					return err
				}
			}
		}
		if n == 0 && !follow {
			return nil
		}
	}
}

// blockFor is XREAD's BLOCK: -1 (do not block) for a one-off read, a bounded wait when following
// so that a cancelled context is noticed.
func blockFor(follow bool) time.Duration {
	if follow {
		return 2 * time.Second
	}
	return -1
}
