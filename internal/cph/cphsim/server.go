package cphsim

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Server is the simulated CPH and IAM API. It is an http.Handler: serve it with net/http or
// httptest. All methods are safe for concurrent use.
type Server struct {
	opts  Options
	rates faultRates
	down  atomic.Bool
	// refuseAuth makes every credential wrong (RefuseCredentials).
	refuseAuth atomic.Bool
	tokens     *tokenStore
	limit      *rateLimiter // nil: unlimited
	store      *store
	rec        *recorder
	late       *lateCommits
}

// New returns a simulator with opts. It panics when opts.Validate fails: a broken option is a
// mistake in the test or the wiring, and the command line validates before calling New.
func New(opts Options) *Server {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	opts = opts.withDefaults()
	return &Server{
		opts:   opts,
		rates:  newFaultRates(opts),
		tokens: newTokenStore(opts),
		limit:  newRateLimiter(opts.RateLimit),
		store:  newStore(),
		rec:    newRecorder(),
		late:   newLateCommits(),
	}
}

// SetDown switches the in-handler outage: while down, every API request has its connection closed
// without a response. (An outage at the listener, with connections refused, is the caller's.)
// The debug routes of WithDebug keep working so that a test can bring the API back.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// ServeHTTP routes the API calls; anything else is the gateway's 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{w: w, r: r, call: Call{Time: s.opts.Now(), Method: r.Method, Path: r.URL.Path, RequestID: newID()}}
	invalid := false
	defer func() { // also runs when drop aborts the handler
		s.rec.add(x.call, invalid)
		if x.dropped != nil {
			x.dropped.Close()
		}
	}()

	if s.down.Load() {
		x.drop()
		return
	}
	if !sleep(r.Context(), s.opts.Latency) {
		return // the client gave up during the latency: nobody to answer
	}
	switch route, project, id := parseRoute(r.Method, r.URL.Path); route {
	case routePurchase:
		invalid = s.purchase(x, project)
	case routeList:
		s.list(x, project)
	case routeGet:
		s.get(x, project, id)
	case routePhones:
		s.listPhones(x, project)
	case routeOrder:
		s.orderDetails(x, id)
	case routeToken:
		s.issueToken(x)
	default:
		x.fail(http.StatusNotFound, codeNoSuchAPI, "The API does not exist or has not been published in the environment")
	}
}

type route int

const (
	routeUnknown route = iota
	routePurchase
	routeList
	routeGet
	routeToken
	routePhones // GET /v1/{project_id}/cloud-phone/phones
	routeOrder  // BSS: GET /v2/orders/customer-orders/details/{order_id}
)

// parseRoute matches method and path against the API, by hand: the gateway answers a wrong
// method with the same 404 as an unknown path, which http.ServeMux would answer with 405.
func parseRoute(method, path string) (r route, project, serverID string) {
	if path == "/v3/auth/tokens" {
		if method == http.MethodPost {
			return routeToken, "", ""
		}
		return routeUnknown, "", ""
	}
	p := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(p) == 5 && p[0] == "v2" && p[1] == "orders" && p[2] == "customer-orders" && p[3] == "details" && p[4] != "" && method == http.MethodGet {
		return routeOrder, "", p[4]
	}
	if len(p) == 4 && p[0] == "v1" && p[1] != "" && p[2] == "cloud-phone" && p[3] == "phones" && method == http.MethodGet {
		return routePhones, p[1], ""
	}
	if len(p) < 4 || p[1] == "" || p[2] != "cloud-phone" || p[3] != "servers" {
		return routeUnknown, "", ""
	}
	switch {
	case len(p) == 4 && p[0] == "v2" && method == http.MethodPost:
		return routePurchase, p[1], ""
	case len(p) == 4 && p[0] == "v1" && method == http.MethodGet:
		return routeList, p[1], ""
	case len(p) == 5 && p[0] == "v1" && p[4] != "" && method == http.MethodGet:
		return routeGet, p[1], p[4]
	}
	return routeUnknown, "", ""
}

// sleep waits d, or less when ctx ends first; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
