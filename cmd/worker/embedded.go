package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/alicebob/miniredis/v2"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
)

// embeddedProject is the project id `worker --embedded` uses for orders that name none.
const embeddedProject = "0b1c0000000000000000000000embedded"

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

// startEmbedded starts the in-process Redis and simulator and points cfg at them.
func startEmbedded(cfg *config, simOpts cphsim.Options) (*embedded, error) {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	simOpts.Tokens = append(simOpts.Tokens, hex.EncodeToString(token))

	e := &embedded{redis: miniredis.NewMiniRedis(), sim: cphsim.New(simOpts), stop: make(chan struct{}), done: make(chan struct{})}
	if err := e.redis.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.redis.Close()
		return nil, fmt.Errorf("embedded CPH simulator: %w", err)
	}
	e.simHTTP = &http.Server{Handler: e.sim.WithDebug(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.simHTTP.Serve(ln) }()
	go e.advanceClock()

	cfg.RedisURL = "redis://" + e.redis.Addr() + "/0"
	cfg.Endpoint = "http://" + ln.Addr().String()
	cfg.Token = cph.Secret(hex.EncodeToString(token))
	cfg.TokenFile, cfg.IAMEndpoint, cfg.IAMUsername = "", "", ""
	if cfg.ProjectID == "" {
		cfg.ProjectID = embeddedProject
	}
	return e, nil
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
