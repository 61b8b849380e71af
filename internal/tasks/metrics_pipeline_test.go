package tasks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
)

// Orders bought, throttled and rejected through the whole pipeline leave exactly the counts that
// tell an operator what happened.
func TestPipelineMetrics(t *testing.T) {
	m, reg := newTestMetrics(t)
	p := startPipeline(t, pipelineOptions{maxRetry: 3, observer: m, sim: cphsim.Options{
		Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
			switch {
			case c.ServerName == "metrics-throttled" && c.Seq <= 2:
				return cphsim.Fault{Kind: cphsim.FaultThrottle}
			case c.ServerName == "metrics-rejected":
				return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
			}
			return cphsim.Fault{Kind: cphsim.FaultNone}
		},
	}})
	var keys []string
	for _, name := range []string{"metrics-ok-1", "metrics-ok-2", "metrics-throttled", "metrics-rejected"} {
		keys = append(keys, p.submit(order(name)).IdempotencyKey)
	}
	for _, key := range keys {
		p.wait(key)
	}
	// A copy of a bought order that reaches a worker anyway is a duplicate, with no call.
	payload, _ := json.Marshal(order("metrics-ok-1"))
	p.enqueueRaw(TypePurchase, payload, "metrics-copy")
	p.waitTask("metrics-copy")

	want := map[string]float64{
		`cph_purchase_orders_total{class="",outcome="succeeded"}`:             3,
		`cph_purchase_orders_total{class="",outcome="duplicate"}`:             1,
		`cph_purchase_orders_total{class="rejected",outcome="dead_lettered"}`: 1,
		`cph_purchase_retries_total{kind="throttled"}`:                        2,
		`cph_purchase_api_call_duration_seconds_count{status="200"}`:          3,
		`cph_purchase_api_call_duration_seconds_count{status="429"}`:          2,
		`cph_purchase_api_call_duration_seconds_count{status="400"}`:          1,
		`cph_purchase_rate_limit_wait_seconds_count`:                          6,
	}
	// The handler tells its observer after the ledger records the outcome: poll for the counts.
	var problems []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := sampleValues(t, reg)
		// Sums of durations are whatever the machine took; their counts are checked above.
		for key := range got {
			if strings.Contains(key, "_sum") {
				delete(got, key)
			}
		}
		if problems = sampleMismatches(got, want); len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(problems) > 0 {
		t.Fatalf("metrics after the pipeline:\n%s", strings.Join(problems, "\n"))
	}
	if n := p.sim.Stats().PurchaseCalls; n != 6 {
		t.Fatalf("simulator saw %d purchase calls, want 6 (as the histogram counted)", n)
	}
}
