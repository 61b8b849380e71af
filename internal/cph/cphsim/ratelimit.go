package cphsim

import (
	"sync"
	"time"
)

// rateLimiter is the fleet-wide limit the real API would enforce: a token bucket refilled at rate
// per second and holding at most burst tokens. Time comes from the caller (Options.Now) so tests
// can step it.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// newRateLimiter returns nil for an unlimited rate. The bucket holds one second's worth (at least
// one call), so a fleet whose limiter allows no more burst than that is never refused.
func newRateLimiter(rate float64) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	burst := max(1, rate)
	return &rateLimiter{rate: rate, burst: burst, tokens: burst}
}

// allow takes a token at now, and reports whether there was one.
func (l *rateLimiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.last = now
	}
	if now.After(l.last) { // a clock that steps back refills nothing
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
	}
	const eps = 1e-9 // calls spaced exactly 1/rate apart must not lose to rounding
	if l.tokens < 1-eps {
		return false
	}
	l.tokens = max(0, l.tokens-1)
	return true
}
