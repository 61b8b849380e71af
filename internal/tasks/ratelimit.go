package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// RateLimiter keeps the whole fleet under CPH_RATE_LIMIT purchase calls a second. It is a GCRA
// limiter in Redis (go-redis/redis_rate) on Redis's own clock, shared by every worker process on
// the same Redis, with a burst of one so that calls are spaced evenly rather than bunched at the
// start of each second.
type RateLimiter struct {
	limiter *redis_rate.Limiter
	key     string
	limit   redis_rate.Limit
}

// jitterAllowance is the headroom the limiter leaves for the variable delay between a call's
// admission (on Redis's clock) and its arrival at the API: the ledger's mark, a token, scheduling
// and the network. Spacing calls exactly 1/perSecond apart lets that jitter put perSecond+1 calls
// into one second as the API counts them: the e2e test of two workers at 5/s saw 6 in five runs
// out of six, with arrivals ±10 ms off their 200 ms spacing on loopback. Spreading perSecond calls
// over 1 s + jitterAllowance tolerates 50 ms of jitter for 5% of the throughput.
const jitterAllowance = 50 * time.Millisecond

// NewRateLimiter returns a limiter of perSecond purchase calls a second for the fleet on rdb.
func NewRateLimiter(rdb redis.UniversalClient, keys Keys, perSecond int) *RateLimiter {
	return &RateLimiter{
		limiter: redis_rate.NewLimiter(rdb),
		key:     keys.RateLimit(),
		limit:   redis_rate.Limit{Rate: perSecond, Burst: 1, Period: time.Second + jitterAllowance},
	}
}

// Wait blocks until the fleet may make one more purchase call, or ctx ends. It returns how long it
// waited.
func (r *RateLimiter) Wait(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for {
		res, err := r.limiter.Allow(ctx, r.key, r.limit)
		if err != nil {
			return time.Since(start), fmt.Errorf("rate limiter: %w", err)
		}
		if res.Allowed > 0 {
			return time.Since(start), nil
		}
		t := time.NewTimer(res.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Since(start), fmt.Errorf("rate limiter: %w", ctx.Err())
		case <-t.C:
		}
	}
}
