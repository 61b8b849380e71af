package tasks

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
)

// TestRateLimiterLeavesHeadroomForJitter drives the limiter greedily on a frozen, stepped Redis
// clock and checks that no window of one second plus the jitter allowance admits more than the
// limit: calls that reach the API up to that much later or earlier than admitted still count at
// most perSecond in any one second there.
func TestRateLimiterLeavesHeadroomForJitter(t *testing.T) {
	for _, perSecond := range []int{1, 5, 20} {
		m := miniredis.RunT(t)
		rdb := NewRedisClient(asynq.RedisClientOpt{Addr: m.Addr()})
		defer rdb.Close()
		r := NewRateLimiter(rdb, NewKeys("rate-test"), perSecond)
		start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		var admitted []time.Time
		for now := start; now.Before(start.Add(3 * time.Second)); now = now.Add(time.Millisecond) {
			m.SetTime(now)
			res, err := r.limiter.Allow(context.Background(), r.key, r.limit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed > 0 {
				admitted = append(admitted, now)
			}
		}
		window := time.Second + jitterAllowance - time.Millisecond
		for i := range admitted {
			n := 0
			for _, at := range admitted[i:] {
				if at.Sub(admitted[i]) <= window {
					n++
				}
			}
			if n > perSecond {
				t.Fatalf("%d/s: %d calls admitted within %s from %s", perSecond, n, window, admitted[i].Sub(start))
			}
		}
		if min := 3 * perSecond * 9 / 10; len(admitted) < min {
			t.Fatalf("%d/s: only %d calls admitted in 3 s, want at least %d", perSecond, len(admitted), min)
		}
	}
}
