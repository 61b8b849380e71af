package tasks

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/redisconn"
)

// frozenLimiter is a limiter on a miniredis whose clock stands still until the test moves it.
func frozenLimiter(t *testing.T, perSecond int) (*RateLimiter, *miniredis.Miniredis, redis.UniversalClient) {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redisconn.NewClient(asynq.RedisClientOpt{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return NewRateLimiter(rdb, NewKeys("rate-test"), perSecond), m, rdb
}

// rateT0 is a time on the µs, as Redis's TIME gives it.
var rateT0 = time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)

func mustReserve(t *testing.T, r *RateLimiter) reservation {
	t.Helper()
	res, err := r.reserve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.reserved {
		t.Fatalf("nothing reserved: %+v", res)
	}
	return res
}

// The interval spreads perSecond slots over a little more than a second, so no second holds more.
func TestRateLimiterInterval(t *testing.T) {
	for perSecond, want := range map[int]time.Duration{
		1: 1010 * time.Millisecond, 3: 336667 * time.Microsecond, 5: 202 * time.Millisecond,
		50: 20200 * time.Microsecond, 1000: 1010 * time.Microsecond, 2_000_000: time.Microsecond,
	} {
		r := NewRateLimiter(nil, NewKeys("rate-test"), perSecond)
		if got := r.Interval(); got != want {
			t.Errorf("%d/s: interval %s, want %s", perSecond, got, want)
		}
		if perSecond <= 1_000_000 && time.Duration(perSecond)*r.Interval() <= time.Second {
			t.Errorf("%d/s: %d intervals of %s fit in a second", perSecond, perSecond, r.Interval())
		}
	}
}

// On a stopped clock: callers take consecutive slots one interval apart, each waiting for its
// own; a caller that comes while slots are reserved gets the next free one; an idle limiter
// banks nothing.
func TestRateLimiterReservesConsecutiveSlots(t *testing.T) {
	for _, perSecond := range []int{1, 3, 5, 50, 1000} {
		r, m, _ := frozenLimiter(t, perSecond)
		iv := r.Interval()
		m.SetTime(rateT0)
		for i := range 4 {
			res := mustReserve(t, r)
			if want := rateT0.Add(time.Duration(i) * iv); !res.slot.Equal(want) || !res.now.Equal(rateT0) {
				t.Fatalf("%d/s: caller %d at t0: slot t0%+v, now t0%+v; want slot t0%+v",
					perSecond, i, res.slot.Sub(rateT0), res.now.Sub(rateT0), want.Sub(rateT0))
			}
		}
		m.SetTime(rateT0.Add(iv / 2))
		if res := mustReserve(t, r); !res.slot.Equal(rateT0.Add(4 * iv)) {
			t.Fatalf("%d/s: caller at t0+%s: slot t0%+v, want t0+%s", perSecond, iv/2, res.slot.Sub(rateT0), 4*iv)
		}
		idle := rateT0.Add(10*iv + 7*time.Microsecond)
		m.SetTime(idle)
		for i := range 2 {
			if res := mustReserve(t, r); !res.slot.Equal(idle.Add(time.Duration(i) * iv)) {
				t.Fatalf("%d/s: caller %d after idling: slot t0%+v, want t0%+v",
					perSecond, i, res.slot.Sub(rateT0), idle.Add(time.Duration(i)*iv).Sub(rateT0))
			}
		}
	}
}

// A caller whose slot would come after its deadline takes nothing; one whose context ends while
// it waits leaves its slot unused.
func TestRateLimiterDeadlines(t *testing.T) {
	r, m, _ := frozenLimiter(t, 1)
	iv := r.Interval()
	m.SetTime(rateT0)
	mustReserve(t, r) // t0; the next free slot is t0+iv, 1.01 s away on the stopped clock

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := r.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slot past the deadline: %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := r.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v, want Canceled", err)
	}
	if res := mustReserve(t, r); !res.slot.Equal(rateT0.Add(iv)) {
		t.Fatalf("after two callers that reserved nothing: slot t0%+v, want t0+%s", res.slot.Sub(rateT0), iv)
	}

	for range 60 { // the next free slot is a minute away
		mustReserve(t, r)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if _, err := r.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v, want Canceled", err)
	}
	if res := mustReserve(t, r); !res.slot.Equal(rateT0.Add(63 * iv)) {
		t.Fatalf("after a caller gave up its slot: slot t0%+v, want t0+%s (its slot stays taken)", res.slot.Sub(rateT0), 63*iv)
	}
}

// During a rolling deploy workers of the previous version, with go-redis/redis_rate's GCRA of
// burst 1 on the same key, and these share one limit: each waits for the other's slots.
func TestRateLimiterSharesTheKeyWithRedisRate(t *testing.T) {
	r, m, rdb := frozenLimiter(t, 5)
	iv := r.Interval()
	old := redis_rate.NewLimiter(rdb)
	oldLimit := redis_rate.Limit{Rate: 5, Burst: 1, Period: 1050 * time.Millisecond}
	oldKey := strings.TrimPrefix(NewKeys("rate-test").RateLimit(), "rate:") // redis_rate adds it
	allow := func() *redis_rate.Result {
		t.Helper()
		res, err := old.Allow(context.Background(), oldKey, oldLimit)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	m.SetTime(rateT0)
	mustReserve(t, r) // t0
	mustReserve(t, r) // t0+iv: the next free slot is t0+2iv
	m.SetTime(rateT0.Add(iv))
	if res := allow(); res.Allowed != 0 || (res.RetryAfter-iv).Abs() > time.Microsecond {
		t.Fatalf("redis_rate at t0+iv: %+v, want turned away for %s", res, iv)
	}
	at := rateT0.Add(2*iv + time.Microsecond) // a µs late: redis_rate's floats may miss t0+2iv itself
	m.SetTime(at)
	if res := allow(); res.Allowed != 1 {
		t.Fatalf("redis_rate at t0+2iv: %+v, want allowed", res)
	}
	want := at.Add(210 * time.Millisecond) // redis_rate's interval: 1.05 s / 5
	if res := mustReserve(t, r); res.slot.Before(want) || res.slot.After(want.Add(time.Microsecond)) {
		t.Fatalf("after redis_rate's call at t0+2iv: slot t0%+v, want t0%+v", res.slot.Sub(rateT0), want.Sub(rateT0))
	}
}

// admission is one call let through by Wait: its reservation, and when Wait returned.
type admission struct {
	reservation
	returned time.Time
}

// admitConcurrently makes calls calls through Wait from workers limiters (one Redis client each,
// as worker processes have) of handlers goroutines each, and returns them in slot order.
func admitConcurrently(t testing.TB, tr *testRedis, perSecond, workers, handlers, calls int) []admission {
	var left atomic.Int64
	left.Store(int64(calls))
	var mu sync.Mutex
	admitted := make([]admission, 0, calls)
	var wg sync.WaitGroup
	for range workers {
		rdb := redisconn.NewClient(tr.opt)
		defer rdb.Close()
		r := NewRateLimiter(rdb, tr.keys, perSecond)
		for range handlers {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					res, err := r.wait(context.Background())
					returned := time.Now()
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					admitted = append(admitted, admission{res, returned})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	slices.SortFunc(admitted, func(a, b admission) int { return a.slot.Compare(b.slot) })
	return admitted
}

// redisClockIsLocal reports whether Redis's TIME reads this machine's clock, so that slots and
// local times compare.
func redisClockIsLocal(t *testing.T, rdb redis.UniversalClient) bool {
	before := time.Now().Truncate(time.Microsecond)
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return !now.Before(before) && !now.After(time.Now())
}

// The guarantee, checked exactly on Redis's clock with three limiters of ten callers each: no
// second holds more than perSecond slots, no caller goes before its slot, and while callers wait
// no slot goes unused: each follows the last by exactly one interval, whatever the callers' timing.
func TestRateLimiterAdmissionsNeverExceedTheLimit(t *testing.T) {
	const perSecond, calls = 50, 120
	tr := newTestRedis(t)
	iv := NewRateLimiter(tr.rdb, tr.keys, perSecond).Interval()
	admitted := admitConcurrently(t, tr, perSecond, 3, 10, calls)
	if len(admitted) != calls {
		t.Fatalf("%d calls admitted, want %d", len(admitted), calls)
	}

	if first := admitted[0]; !first.slot.Equal(first.now) {
		t.Errorf("the first caller on an idle limiter waited %s", first.slot.Sub(first.now))
	}
	for i := 1; i < len(admitted); i++ {
		prev, a := admitted[i-1], admitted[i]
		if want := maxTime(prev.slot.Add(iv), a.now); !a.slot.Equal(want) {
			t.Errorf("slot %d: %s after slot %d, reserved %s before it; want %s after it",
				i, a.slot.Sub(prev.slot), i-1, a.slot.Sub(a.now), want.Sub(prev.slot))
		}
	}
	lo := 0
	for hi := range admitted {
		for admitted[hi].slot.Sub(admitted[lo].slot) > time.Second {
			lo++
		}
		if n := hi - lo + 1; n > perSecond {
			t.Fatalf("%d slots within one second, from %s to %s", n, admitted[lo].slot, admitted[hi].slot)
		}
	}
	if redisClockIsLocal(t, tr.rdb) {
		// Wall clocks: allow for the OS slewing this one by a little while a caller sleeps.
		const slew = time.Millisecond
		for i, a := range admitted {
			if a.returned.Before(a.slot.Add(-slew)) {
				t.Errorf("caller of slot %d went %s before its slot", i, a.slot.Sub(a.returned))
			}
		}
	} else {
		t.Log("Redis's clock is not this machine's: not comparing slots with local times")
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// BenchmarkRateLimiter is the fleet of README "Performance" row 5 without the rest of the
// pipeline: three limiters (worker processes) of ten callers (handlers) each at 50 calls a second,
// calling Wait back to back. calls/s is measured between the first and the last return from Wait,
// as the bench measures arrivals at the API; %limit is that against 50/s. b.N is the number of
// calls, so run it with a count:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench RateLimiter -benchtime 250x ./internal/tasks/
func BenchmarkRateLimiter(b *testing.B) {
	const perSecond = 50
	tr := newTestRedis(b)
	b.ResetTimer()
	admitted := admitConcurrently(b, tr, perSecond, 3, 10, b.N)
	b.StopTimer()
	if len(admitted) < 2 {
		return
	}
	slices.SortFunc(admitted, func(a, b admission) int { return a.returned.Compare(b.returned) })
	rate := float64(len(admitted)-1) / admitted[len(admitted)-1].returned.Sub(admitted[0].returned).Seconds()
	b.ReportMetric(rate, "calls/s")
	b.ReportMetric(100*rate/perSecond, "%limit")
}
