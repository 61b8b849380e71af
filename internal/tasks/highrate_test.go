package tasks

import (
	"context"
	"testing"
	"time"
)

// TestPipelineBuysUnderAHighRateLimit: a rate limit far above the load (the benchmark's rows 1 and 6
// run at CPH_RATE_LIMIT=1000000) must not stop the worker from buying. stillInSlot (purchase.go)
// used to hold back every call whose posting mark took longer than one slot's interval, 1 µs here,
// so that every call was held back, uncounted, for ever, and nothing was bought.
func TestPipelineBuysUnderAHighRateLimit(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 3, rateLimit: 1_000_000})
	en := p.submit(order("high-rate"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if e, ok, _ := p.ledger.Get(ctx, en.IdempotencyKey); ok && e.State == StateSucceeded {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not bought within 30 s at CPH_RATE_LIMIT=1000000: %d purchase calls", p.sim.Stats().PurchaseCalls)
}
