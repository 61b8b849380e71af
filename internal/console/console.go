// Package console is the operator console: a few server-rendered pages that show what the fleet is
// doing (queue sizes, pending ages, a chart of the last hour, orders in flight, retries, recent
// results), find any order by its task id or idempotency key, and let an operator replay or delete
// dead letters (one, a selection or a whole class) and pause or resume the queue from a browser,
// without writing code or learning the enqueue CLI.
//
// It is an http.Handler served under BasePath. Everything is rendered on the server from
// html/template, with its stylesheet embedded; there is no JavaScript at all (auto-refresh is a
// meta refresh, the chart is inline SVG). Its only state is per process: a CSRF token, the outcomes
// of the last actions (flash banners, under random ids) and the chart's counts. A state-changing
// action is a POST, carrying that token, from the console's own origin; every one that acts on dead
// letters comes from a confirmation page that says what it does and to how many.
package console

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"cphpurchase/internal/tasks"
)

// BasePath is where the console lives on the worker's HTTP_ADDR. Its links are absolute under it,
// so it must be mounted there, next to /healthz and /readyz.
const BasePath = "/console/"

// DefaultRecentResults is how many entries of the results stream the overview shows when
// Config.RecentResults is zero.
const DefaultRecentResults = 50

// Config is what the console reads and acts on. Operator and Auth are required.
type Config struct {
	// Operator is the queue (PURCHASE_QUEUE), the results stream (RESULTS_STREAM) and the dead
	// letters the console shows; it replays dead letters with its retry budget (MAX_RETRY).
	Operator *tasks.Operator
	// RecentResults is how many of the newest results the overview shows (DefaultRecentResults
	// when zero).
	RecentResults int
	Auth          Auth
}

// Console is the operator console's http.Handler.
type Console struct {
	cfg   Config
	op    *tasks.Operator
	csrf  string
	pages *pages
	// flashes are the outcomes of the last actions, which their redirects name.
	flashes *flashes
	// activity counts the results stream's entries per minute, for the overview's chart.
	activity *activity
	// handler is the pages behind the token check and the security headers.
	handler http.Handler
}

// New checks cfg and returns the console. It refuses, with an error that says what to set, to
// serve on an address other than loopback without a token: the console can buy servers (a replay
// is a purchase) and shows every order's payload.
func New(cfg Config) (*Console, error) {
	if cfg.Operator == nil {
		return nil, errors.New("console: an Operator is required")
	}
	if err := cfg.Auth.check(); err != nil {
		return nil, err
	}
	if cfg.RecentResults <= 0 {
		cfg.RecentResults = DefaultRecentResults
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("console: CSRF token: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, op: cfg.Operator, csrf: hex.EncodeToString(token), pages: pages, flashes: newFlashes(), activity: newActivity()}
	c.handler = securityHeaders(cfg.Auth.require(c.routes()))
	return c, nil
}

// routes returns the pages. POSTs are behind CrossOriginProtection (Sec-Fetch-Site / Origin)
// and the CSRF token both (checkForm): the first stops a cross-site form in every current browser,
// the second anything the first lets through (no such headers: an old browser or a non-browser
// client).
func (c *Console) routes() *http.ServeMux {
	cop := http.NewCrossOriginProtection()
	post := func(h http.HandlerFunc) http.Handler { return cop.Handler(h) }
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+BasePath+"{$}", c.overview)
	mux.Handle("GET "+BasePath+"static/", http.StripPrefix(BasePath, http.FileServerFS(staticFS)))
	mux.HandleFunc("GET "+BasePath+"search", c.search)
	mux.HandleFunc("GET "+BasePath+"orders/{id}", c.order)
	mux.HandleFunc("GET "+BasePath+"dead-letters", c.deadLetters)
	mux.HandleFunc("GET "+BasePath+"dead-letters/{id}/{action}", c.confirm)
	mux.Handle("POST "+BasePath+"dead-letters/{id}/{action}", post(c.act))
	mux.HandleFunc("GET "+BasePath+"bulk/{action}", c.confirmBulk)
	mux.Handle("POST "+BasePath+"bulk/{action}", post(c.actBulk))
	mux.HandleFunc("GET "+BasePath+"tasks/{state}", c.delayed)
	mux.HandleFunc("GET "+BasePath+"batches", c.batches)
	mux.Handle("POST "+BasePath+"queue/{action}", post(c.pauseOrResume))
	return mux
}

// ServeHTTP serves the console's pages under BasePath.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// securityHeaders keeps the pages out of frames (a confirmation page under someone else's page is
// clickjacking), out of caches, and away from anything but their own stylesheet.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
