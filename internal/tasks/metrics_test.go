package tasks

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func newTestMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// sampleValues flattens what reg exposes into "name{label="value",...}" → value; a histogram
// gives its name_count and name_sum.
func sampleValues(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := labelString(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[f.GetName()+labels] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[f.GetName()+labels] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[f.GetName()+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"+labels] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func labelString(pairs []*dto.LabelPair) string {
	if len(pairs) == 0 {
		return ""
	}
	parts := make([]string, 0, len(pairs))
	for _, p := range pairs {
		parts = append(parts, p.GetName()+`="`+p.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestMetricsCountObserverCalls(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name  string
		calls func(o Observer)
		// want lists every sample expected to be non-zero; every other sample must be zero.
		want map[string]float64
	}{
		{
			name:  "nothing happened",
			calls: func(Observer) {},
			want:  map[string]float64{},
		},
		{
			name: "bought at once",
			calls: func(o Observer) {
				o.RateLimitWait(5 * ms)
				o.PurchaseCall(120*ms, 200)
				o.Outcome("succeeded", "")
			},
			want: map[string]float64{
				`cph_purchase_orders_total{class="",outcome="succeeded"}`:    1,
				`cph_purchase_rate_limit_wait_seconds_count`:                 1,
				`cph_purchase_rate_limit_wait_seconds_sum`:                   0.005,
				`cph_purchase_api_call_duration_seconds_count{status="200"}`: 1,
				`cph_purchase_api_call_duration_seconds_sum{status="200"}`:   0.12,
			},
		},
		{
			name: "throttled twice, then bought",
			calls: func(o Observer) {
				for range 2 {
					o.RateLimitWait(0)
					o.PurchaseCall(10*ms, 429)
					o.Outcome("throttled", "")
				}
				o.RateLimitWait(0)
				o.PurchaseCall(30*ms, 200)
				o.Outcome("succeeded", "")
			},
			want: map[string]float64{
				`cph_purchase_orders_total{class="",outcome="succeeded"}`:    1,
				`cph_purchase_retries_total{kind="throttled"}`:               2,
				`cph_purchase_rate_limit_wait_seconds_count`:                 3,
				`cph_purchase_api_call_duration_seconds_count{status="429"}`: 2,
				`cph_purchase_api_call_duration_seconds_sum{status="429"}`:   0.02,
				`cph_purchase_api_call_duration_seconds_count{status="200"}`: 1,
				`cph_purchase_api_call_duration_seconds_sum{status="200"}`:   0.03,
			},
		},
		{
			name: "copies meet in the ledger, then find the order bought",
			calls: func(o Observer) {
				o.Outcome("busy", "")
				o.Outcome("busy", "")
				o.Outcome("duplicate", "")
			},
			want: map[string]float64{
				`cph_purchase_retries_total{kind="busy"}`:                 2,
				`cph_purchase_ledger_conflicts_total`:                     2,
				`cph_purchase_orders_total{class="",outcome="duplicate"}`: 1,
			},
		},
		{
			name: "no answer, then reconciled as found",
			calls: func(o Observer) {
				o.PurchaseCall(2*time.Second, 0)
				o.Outcome("retry", "ambiguous")
				o.Reconciled(true)
				o.Outcome("succeeded", "")
			},
			want: map[string]float64{
				`cph_purchase_api_call_duration_seconds_count{status="none"}`: 1,
				`cph_purchase_api_call_duration_seconds_sum{status="none"}`:   2,
				`cph_purchase_retries_total{kind="counted"}`:                  1,
				`cph_purchase_reconciliations_total{result="found"}`:          1,
				`cph_purchase_orders_total{class="",outcome="succeeded"}`:     1,
			},
		},
		{
			name: "not found yet, waiting, then not found and bought",
			calls: func(o Observer) {
				o.Reconciled(false)
				o.Outcome("waiting", "")
				o.Reconciled(false)
				o.PurchaseCall(50*ms, 200)
				o.Outcome("succeeded", "")
			},
			want: map[string]float64{
				`cph_purchase_reconciliations_total{result="not_found"}`:     2,
				`cph_purchase_retries_total{kind="waiting"}`:                 1,
				`cph_purchase_api_call_duration_seconds_count{status="200"}`: 1,
				`cph_purchase_api_call_duration_seconds_sum{status="200"}`:   0.05,
				`cph_purchase_orders_total{class="",outcome="succeeded"}`:    1,
			},
		},
		{
			name: "dead letters by class",
			calls: func(o Observer) {
				o.Outcome("dead_lettered", "invalid")
				o.PurchaseCall(40*ms, 400)
				o.Outcome("dead_lettered", "rejected")
				o.PurchaseCall(40*ms, 503)
				o.Outcome("retry", "")
				o.PurchaseCall(40*ms, 503)
				o.Outcome("dead_lettered", "exhausted")
			},
			want: map[string]float64{
				`cph_purchase_orders_total{class="invalid",outcome="dead_lettered"}`:   1,
				`cph_purchase_orders_total{class="rejected",outcome="dead_lettered"}`:  1,
				`cph_purchase_orders_total{class="exhausted",outcome="dead_lettered"}`: 1,
				`cph_purchase_retries_total{kind="counted"}`:                           1,
				`cph_purchase_api_call_duration_seconds_count{status="400"}`:           1,
				`cph_purchase_api_call_duration_seconds_sum{status="400"}`:             0.04,
				`cph_purchase_api_call_duration_seconds_count{status="503"}`:           2,
				`cph_purchase_api_call_duration_seconds_sum{status="503"}`:             0.08,
			},
		},
		{
			name: "words outside the known sets never become labels",
			calls: func(o Observer) {
				o.Outcome("row-17/tok-SECRET", "tok-SECRET")
				o.Outcome("dead_lettered", "https://u:p4ss@host")
				o.PurchaseCall(ms, 42)
			},
			want: map[string]float64{
				`cph_purchase_orders_total{class="other",outcome="other"}`:         1,
				`cph_purchase_orders_total{class="other",outcome="dead_lettered"}`: 1,
				`cph_purchase_api_call_duration_seconds_count{status="none"}`:      1,
				`cph_purchase_api_call_duration_seconds_sum{status="none"}`:        0.001,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newTestMetrics(t)
			tc.calls(m)
			got := sampleValues(t, reg)
			for _, problem := range sampleMismatches(got, tc.want) {
				t.Error(problem)
			}
			for key := range got {
				if strings.Contains(key, "SECRET") || strings.Contains(key, "p4ss") {
					t.Errorf("a label carries caller text: %s", key)
				}
			}
		})
	}
}

// sampleMismatches lists how got differs from want: every sample in want must be there with its
// value, and every other sample must be zero.
func sampleMismatches(got, want map[string]float64) []string {
	var out []string
	for key, w := range want {
		v, ok := got[key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: missing", key))
		case math.Abs(v-w) > 1e-9:
			out = append(out, fmt.Sprintf("%s = %v, want %v", key, v, w))
		}
	}
	for key, v := range got {
		if _, listed := want[key]; !listed && v != 0 {
			out = append(out, fmt.Sprintf("%s = %v, want 0", key, v))
		}
	}
	slices.Sort(out)
	return out
}

// Every series that can exist is there from the start, at zero, so that rate() and alerts see
// the first event.
func TestMetricsSeriesStartAtZero(t *testing.T) {
	m, reg := newTestMetrics(t)
	for _, tc := range []struct {
		c    prometheus.Collector
		want int
	}{
		{m.orders, 7}, // succeeded, duplicate, and dead_lettered × 5 classes
		{m.retries, 4},
		{m.reconciliations, 2},
		{m.ledgerConflicts, 1},
		{m.rateLimitWait, 1},
	} {
		if n := testutil.CollectAndCount(tc.c); n != tc.want {
			t.Errorf("%T: %d series, want %d", tc.c, n, tc.want)
		}
	}
	if v := testutil.ToFloat64(m.orders.WithLabelValues("dead_lettered", "ambiguous")); v != 0 {
		t.Errorf("ambiguous dead letters = %v before anything happened", v)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

func TestMetricsPurchaseCallBuckets(t *testing.T) {
	m, _ := newTestMetrics(t)
	m.PurchaseCall(7*time.Millisecond, 201)
	m.PurchaseCall(45*time.Second, 201)
	m.PurchaseCall(2*time.Minute, 201)
	want := `
# HELP cph_purchase_api_call_duration_seconds Duration of purchase calls to the CPH API, by HTTP status (none: no answer).
# TYPE cph_purchase_api_call_duration_seconds histogram
cph_purchase_api_call_duration_seconds_bucket{status="201",le="0.01"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="0.025"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="0.05"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="0.1"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="0.25"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="0.5"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="1"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="2.5"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="5"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="10"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="20"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="30"} 1
cph_purchase_api_call_duration_seconds_bucket{status="201",le="60"} 2
cph_purchase_api_call_duration_seconds_bucket{status="201",le="+Inf"} 3
cph_purchase_api_call_duration_seconds_sum{status="201"} 165.007
cph_purchase_api_call_duration_seconds_count{status="201"} 3
`
	if err := testutil.CollectAndCompare(m.purchaseCalls, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// Registering twice on one registry fails loudly instead of exposing two sets of counters.
func TestMetricsRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("second registration succeeded")
	}
}
