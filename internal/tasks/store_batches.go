package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// batchAddChunk is how many keys one SADD carries.
const batchAddChunk = 1000

// addToBatch records keys as members of batch name (Keys.Batch, a set: a key added twice counts
// once) and the batch in the index of batches (Keys.Batches), in one round trip. Batches are kept
// LedgerRetention after their last addition.
func addToBatch(ctx context.Context, rdb redis.UniversalClient, keys Keys, name string, members []string, now time.Time) error {
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for lo := 0; lo < len(members); lo += batchAddChunk {
			chunk := members[lo:min(lo+batchAddChunk, len(members))]
			args := make([]any, len(chunk))
			for i, k := range chunk {
				args[i] = k
			}
			p.SAdd(ctx, keys.Batch(name), args...)
		}
		p.PExpire(ctx, keys.Batch(name), LedgerRetention)
		p.ZAddNX(ctx, keys.Batches(), redis.Z{Score: float64(now.UnixMilli()), Member: name})
		p.PExpire(ctx, keys.Batches(), LedgerRetention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record batch %q: %w", name, err)
	}
	return nil
}

// batchMembers returns the keys of batch name, none when there is no such batch.
func batchMembers(ctx context.Context, rdb redis.UniversalClient, keys Keys, name string) ([]string, error) {
	members, err := rdb.SMembers(ctx, keys.Batch(name)).Result()
	if err != nil {
		return nil, fmt.Errorf("read batch %q: %w", name, err)
	}
	return members, nil
}

// memberState is what the ledger and the lifecycle records say of one key.
type memberState struct {
	ledger    LedgerState
	lifecycle LifecycleState
	// class is the dead letter's class of a failed key; reason why its lifecycle failed or timed out.
	class  ErrorClass
	reason string
}

// memberStates reads, for each key, its ledger state and its lifecycle state in one round trip,
// then the dead-letter class and lifecycle reason of the keys that ended otherwise in one more.
func memberStates(ctx context.Context, rdb redis.UniversalClient, keys Keys, members []string) ([]memberState, error) {
	ledger := make([]*redis.StringCmd, len(members))
	life := make([]*redis.StringCmd, len(members))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range members {
			ledger[i] = p.HGet(ctx, keys.Ledger(k), "state")
			life[i] = p.HGet(ctx, keys.Readiness(k), "state")
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read batch states: %w", err)
	}
	out := make([]memberState, len(members))
	details := map[int]*redis.StringCmd{}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range members {
			out[i] = memberState{ledger: LedgerState(ledger[i].Val()), lifecycle: LifecycleState(life[i].Val())}
			switch {
			case out[i].ledger == StateFailed:
				details[i] = p.HGet(ctx, keys.Ledger(k), "result")
			case out[i].lifecycle == LifecycleFailed || out[i].lifecycle == LifecycleTimedOut:
				details[i] = p.HGet(ctx, keys.Readiness(k), "record")
			}
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read batch states: %w", err)
	}
	for i, c := range details {
		if out[i].ledger == StateFailed {
			var r Result
			if json.Unmarshal([]byte(c.Val()), &r) == nil && r.Error != nil {
				out[i].class = r.Error.Class
			}
			continue
		}
		var r Readiness
		if json.Unmarshal([]byte(c.Val()), &r) == nil {
			out[i].reason = r.Reason
		}
	}
	return out, nil
}

// batchNames returns the names of the newest batches, at most limit, newest first, with when each
// was first recorded (Keys.Batches).
func batchNames(ctx context.Context, rdb redis.UniversalClient, keys Keys, limit int) ([]string, []time.Time, error) {
	zs, err := rdb.ZRevRangeWithScores(ctx, keys.Batches(), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("list batches: %w", err)
	}
	names, at := make([]string, len(zs)), make([]time.Time, len(zs))
	for i, z := range zs {
		names[i], _ = z.Member.(string)
		at[i] = time.UnixMilli(int64(z.Score))
	}
	return names, at, nil
}
