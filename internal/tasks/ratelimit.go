package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RateLimiter keeps the whole fleet under CPH_RATE_LIMIT purchase calls a second. Every worker
// process on the same Redis shares it: GCRA in Redis, on Redis's clock, with a burst of one, that
// reserves each caller the next free slot instead of turning it away to ask again.
//
// # What is guaranteed
//
// Where the limiter decides, exactly: every call that Wait lets through holds a slot, a time on
// Redis's clock (TIME, to the µs); the fleet's slots are at least Interval, (1 s + 10 ms) /
// CPH_RATE_LIMIT, apart, so no second of Redis's clock holds more than CPH_RATE_LIMIT of them; and
// Wait does not return before its caller's slot. While callers wait, each slot follows the last by
// exactly Interval, so none is lost: the fleet runs at 99 % of the limit.
//
// A call reaches the API some time after its slot: the ledger's posting mark, a token, scheduling
// and the network, all of which a starved CPU stretches without bound. That delay varies from
// call to call, and no limiter can take the variation out, so at the API:
//
//   - The calls never run ahead of the limit: counted from any moment at which nothing was
//     reserved, the k-th call arrives at least k-1 intervals later, since delay only makes calls
//     later. Over a stretch of k calls the API sees at most the limit unless the first call's delay
//     exceeded the last one's by more than (k-1) × 10 ms / CPH_RATE_LIMIT.
//   - Within one second the API counts at most CPH_RATE_LIMIT+1 calls while the delays of the
//     calls around it differ by less than Interval (202 ms at 5/s, 20.2 ms at 50/s), and at most
//     CPH_RATE_LIMIT while they differ by less than 10 ms: that, and the bound above, is what the
//     10 ms of headroom buy; no headroom would make it a bound. An API that allows a second's
//     worth of burst (a token bucket, as cphsim models it) refuses nothing while the delays differ
//     by less than (CPH_RATE_LIMIT-1)/CPH_RATE_LIMIT s.
//
// A slot whose caller gives up (its context ends first) goes unused: errors cost throughput, never
// the limit. Losing the key (a Redis restarted without persistence, a failover that drops the last
// writes) forgets the slots reserved ahead, so calls can overlap for as long as those reach ahead:
// at most the fleet's handlers × Interval.
type RateLimiter struct {
	rdb      redis.UniversalClient
	key      string
	interval time.Duration // a whole number of µs: the limiter's resolution
}

// rateHeadroom stretches the second over which CPH_RATE_LIMIT slots are spread, so that the rate
// the API sees over a stretch of calls stays below the limit although their delays differ (see
// RateLimiter). It costs 1 % of the throughput. The exact bound is on the slots and needs none.
const rateHeadroom = 10 * time.Millisecond

// NewRateLimiter returns a limiter of perSecond purchase calls a second for the fleet on rdb.
func NewRateLimiter(rdb redis.UniversalClient, keys Keys, perSecond int) *RateLimiter {
	return newRateLimiter(rdb, keys.RateLimit(), perSecond)
}

// newRateLimiter returns a limiter of perSecond calls a second for the fleet on rdb, on key.
func newRateLimiter(rdb redis.UniversalClient, key string, perSecond int) *RateLimiter {
	perSecond = max(perSecond, 1)
	period := (time.Second + rateHeadroom).Microseconds()
	intervalUS := max(1, (period+int64(perSecond)-1)/int64(perSecond)) // rounded up: never faster
	return &RateLimiter{
		rdb:      rdb,
		key:      key,
		interval: time.Duration(intervalUS) * time.Microsecond,
	}
}

// Interval is the least time between two slots of the fleet.
func (r *RateLimiter) Interval() time.Duration { return r.interval }

// Wait blocks until the caller's slot, or until ctx ends. It returns how long it waited. A caller
// whose slot would come after ctx's deadline reserves nothing and gets an error wrapping
// context.DeadlineExceeded at once, rather than waiting for a deadline it cannot make.
func (r *RateLimiter) Wait(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := r.wait(ctx)
	return time.Since(start), err
}

// wait is Wait, returning the reservation it waited for.
func (r *RateLimiter) wait(ctx context.Context) (reservation, error) {
	res, err := r.reserve(ctx)
	if err != nil {
		return res, fmt.Errorf("rate limiter: %w", err)
	}
	wait := res.slot.Sub(res.now)
	if !res.reserved {
		return res, fmt.Errorf("rate limiter: the fleet's next free slot is %s away, past the deadline: %w",
			wait.Round(time.Millisecond), context.DeadlineExceeded)
	}
	if wait <= 0 {
		return res, nil
	}
	// Timed from the reply, which left Redis after res.now: the caller wakes at its slot or later.
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return res, fmt.Errorf("rate limiter: giving up a slot %s away: %w", wait.Round(time.Millisecond), ctx.Err())
	case <-t.C:
		return res, nil
	}
}

// reservation is what reserveScript answered, on Redis's clock.
type reservation struct {
	reserved bool
	slot     time.Time // the caller's slot; when not reserved, the one it would have had
	now      time.Time // Redis's TIME when the script ran
}

// rateEpoch is the epoch of the limiter key's times (go-redis/redis_rate's, which keeps them in
// the 15 digits that a double holds to the µs).
var rateEpoch = time.Unix(1483228800, 0) // 2017-01-01T00:00:00Z

// reserve reserves the fleet's next free slot, unless it is further away than ctx's deadline.
func (r *RateLimiter) reserve(ctx context.Context) (reservation, error) {
	if err := ctx.Err(); err != nil {
		return reservation{}, err
	}
	maxWait := int64(-1)
	if deadline, ok := ctx.Deadline(); ok {
		if maxWait = time.Until(deadline).Microseconds(); maxWait < 0 {
			return reservation{}, context.DeadlineExceeded
		}
	}
	v, err := reserveScript.Run(ctx, r.rdb, []string{r.key}, r.interval.Microseconds(), maxWait).Int64Slice()
	if err != nil {
		return reservation{}, err
	}
	if len(v) != 3 {
		return reservation{}, fmt.Errorf("reserve script answered %v", v)
	}
	at := func(us int64) time.Time { return rateEpoch.Add(time.Duration(us) * time.Microsecond) }
	return reservation{reserved: v[0] == 1, slot: at(v[1]), now: at(v[2])}, nil
}
