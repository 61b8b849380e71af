package tasks

import (
	"testing"
	"time"
)

// The lifecycle metrics count the states orders enter, every series from zero, a state outside
// the known set as "other", and the time to ready in the histogram.
func TestMetricsLifecycle(t *testing.T) {
	m, reg := newTestMetrics(t)
	before := sampleValues(t, reg)
	for _, s := range lifecycleStates {
		if v, ok := before[`cph_purchase_lifecycle_orders_total{state="`+string(s)+`"}`]; !ok || v != 0 {
			t.Errorf("state %s starts at %v (present %v), want 0", s, v, ok)
		}
	}
	m.LifecycleEntered(LifecycleCreating)
	m.LifecycleEntered(LifecycleReady)
	m.LifecycleEntered("nonsense")
	m.ReadyAfter(3 * time.Minute)
	got := sampleValues(t, reg)
	for name, want := range map[string]float64{
		`cph_purchase_lifecycle_orders_total{state="creating"}`: 1,
		`cph_purchase_lifecycle_orders_total{state="ready"}`:    1,
		`cph_purchase_lifecycle_orders_total{state="other"}`:    1,
		`cph_purchase_lifecycle_orders_total{state="failed"}`:   0,
		`cph_purchase_purchase_to_ready_seconds_count`:          1,
		`cph_purchase_purchase_to_ready_seconds_sum`:            180,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
