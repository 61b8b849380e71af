package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/alicebob/miniredis/v2"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/loopback"
)

// embeddedProject is the project id `worker --embedded` uses for orders that name none.
const embeddedProject = "0b1c0000000000000000000000embedded"

// embeddedRateLimit is `worker --embedded`'s CPH_RATE_LIMIT when none is given. The simulator has
// no quota to protect, and at production's default of 5 a second a 2,000-order bulk would take
// almost seven minutes; at 100 it takes 20 seconds.
const embeddedRateLimit = 100

// embedded is what `worker --embedded` runs in-process instead of real services: a miniredis and
// the CPH simulator, both on loopback. It is for trying the system, never for production:
// miniredis keeps everything in memory, and the simulator buys nothing.
type embedded struct {
	redis   *miniredis.Miniredis
	sim     *cphsim.Server
	simHTTP *http.Server
	stop    chan struct{}
	done    chan struct{}
}

// startEmbedded starts the in-process Redis and simulator and points cfg at them. The Redis
// listens on REDIS_URL's address when one is given (see embeddedRedisAddr), else on a free port;
// CPH_RATE_LIMIT, when not given, becomes embeddedRateLimit.
func startEmbedded(cfg *config, simOpts cphsim.Options) (*embedded, error) {
	addr, err := embeddedRedisAddr(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	simOpts.Tokens = append(simOpts.Tokens, hex.EncodeToString(token))

	e := &embedded{redis: miniredis.NewMiniRedis(), sim: cphsim.New(simOpts), stop: make(chan struct{}), done: make(chan struct{})}
	if err := e.redis.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("embedded Redis on %s: %w (unset REDIS_URL for a free port, or pick another)", addr, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.redis.Close()
		return nil, fmt.Errorf("embedded CPH simulator: %w", err)
	}
	e.simHTTP = &http.Server{Handler: e.sim.WithDebug(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.simHTTP.Serve(ln) }()
	go e.advanceClock()

	if cfg.RedisURL == "" {
		cfg.RedisURL = "redis://" + e.redis.Addr() + "/0"
	}
	cfg.Endpoint = "http://" + ln.Addr().String()
	cfg.Token = cph.Secret(hex.EncodeToString(token))
	cfg.TokenFile, cfg.IAMEndpoint, cfg.IAMUsername = "", "", ""
	if cfg.ProjectID == "" {
		cfg.ProjectID = embeddedProject
	}
	if !cfg.RateLimitSet {
		cfg.RateLimit = embeddedRateLimit
	}
	return e, nil
}

// embeddedRedisAddr is where the in-process Redis listens: REDIS_URL's address when it is given,
// so that one fixed URL, exported once, serves `worker --embedded` and `enqueue` alike, else a
// free port. The in-process Redis has no password and listens on loopback only, so REDIS_URL must
// be redis://LOOPBACK:PORT[/DB]; the error never repeats the URL, which may hold a password.
func embeddedRedisAddr(redisURL string) (string, error) {
	if redisURL == "" {
		return "127.0.0.1:0", nil
	}
	u, err := url.Parse(redisURL)
	if err != nil || u.Scheme != "redis" || u.User != nil || u.Port() == "" || !loopback.Host(u.Hostname()) {
		return "", usageError{errors.New("--embedded serves its own Redis at REDIS_URL, which must then be " +
			"redis://127.0.0.1:PORT/0 (loopback, no password); unset REDIS_URL for a free port")}
	}
	return u.Host, nil
}

// announce prints on stdout what to point enqueue at, as variables to export, and the rate limit
// in force, which is not production's unless CPH_RATE_LIMIT says so.
func (e *embedded) announce(w io.Writer, cfg config) {
	fmt.Fprintf(w, "REDIS_URL=%s\nCPH_ENDPOINT=%s\nCPH_RATE_LIMIT=%d\n", cfg.RedisURL, cfg.Endpoint, cfg.RateLimit)
}

// advanceClock moves miniredis's key-expiry clock with real time: miniredis expires keys only when
// told that time has passed, and asynq's leases and our ledger's retention rely on expiry.
func (e *embedded) advanceClock() {
	defer close(e.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			e.redis.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Close stops the simulator and the in-process Redis.
func (e *embedded) Close() error {
	close(e.stop)
	<-e.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := e.simHTTP.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = e.simHTTP.Close()
	}
	e.redis.Close()
	return err
}
