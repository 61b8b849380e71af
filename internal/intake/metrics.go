package intake

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// metrics are the intake's own, on a registry of its own:
//
//	cph_purchase_intake_requests_total{route,code}          requests answered, by route and status
//	cph_purchase_intake_request_duration_seconds{route}     how long they took, long polls included
//
// route is the route's pattern ("POST /v1/orders", "GET /v1/orders/{key...}", "other"), never
// a path, a key or a token. Go's and the process's collectors are there too.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cph_purchase_intake_requests_total",
			Help: "HTTP requests the intake answered, by route pattern and status code (499: the client left first).",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cph_purchase_intake_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern; long polls last up to their wait.",
			// From a cheap status read to the longest long poll.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("intake: register metrics: %w", err)
		}
	}
	return m, nil
}

// handler serves /metrics from reg.
func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// instrument counts and times every request by the route mux matched, and logs one line for
// each: method, route, status, duration. Headers are never logged: they carry the token.
func (m *metrics) instrument(mux *http.ServeMux, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(rec, r) // sets r.Pattern to the route it matched
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		took := time.Since(start)
		m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		m.duration.WithLabelValues(route).Observe(took.Seconds())
		log.Info().Str("method", r.Method).Str("route", route).Int("status", rec.status).
			Dur("duration", took).Str("remote", r.RemoteAddr).Msg("request")
	})
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	if code == statusClientClosed { // nobody to send it to
		return
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
