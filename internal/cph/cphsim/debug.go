package cphsim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// DebugPrefix is where WithDebug serves the debug routes. No CPH or IAM path starts with it.
const DebugPrefix = "/_sim/"

// WithDebug returns a handler that serves the debug routes under DebugPrefix and passes every
// other request to s. The debug routes give a test that runs cphsim as a separate process what
// the methods give a test in the same process:
//
//	GET  /_sim/stats                 Stats
//	GET  /_sim/orders[?server_name=] Orders, or OrdersFor when server_name is given
//	GET  /_sim/calls                 Calls
//	POST /_sim/expire-tokens         ExpireTokens
//	POST /_sim/down, /_sim/up        SetDown(true), SetDown(false)
//	POST /_sim/reset                 Reset
//	POST /_sim/refuse-credentials, /_sim/accept-credentials  RefuseCredentials(true), RefuseCredentials(false)
//	POST /_sim/pay?order_id=         PayOrder
//	POST /_sim/delete-server?server_id=  DeleteServer
//
// GETs answer 200 with JSON, POSTs 204 (404 for an order or server id the simulator does not know). They work while the API is down, are not recorded as
// calls and get no latency.
func (s *Server) WithDebug() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, DebugPrefix) {
			s.ServeHTTP(w, r)
			return
		}
		s.serveDebug(w, r)
	})
}

func (s *Server) serveDebug(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, DebugPrefix)
	if r.Method == http.MethodGet {
		switch name {
		case "stats":
			writeDebugJSON(w, s.Stats())
			return
		case "orders":
			if n := r.URL.Query().Get("server_name"); n != "" {
				writeDebugJSON(w, s.OrdersFor(n))
			} else {
				writeDebugJSON(w, s.Orders())
			}
			return
		case "calls":
			writeDebugJSON(w, s.Calls())
			return
		}
	}
	if r.Method == http.MethodPost {
		byID := map[string]func() error{
			"pay":           func() error { return s.PayOrder(r.URL.Query().Get("order_id")) },
			"delete-server": func() error { return s.DeleteServer(r.URL.Query().Get("server_id")) },
		}[name]
		if byID != nil {
			if err := byID(); err != nil {
				writeDebugError(w, http.StatusNotFound, err.Error())
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		action := map[string]func(){
			"expire-tokens":      s.ExpireTokens,
			"down":               func() { s.SetDown(true) },
			"up":                 func() { s.SetDown(false) },
			"reset":              s.Reset,
			"refuse-credentials": func() { s.RefuseCredentials(true) },
			"accept-credentials": func() { s.RefuseCredentials(false) },
		}[name]
		if action != nil {
			action()
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeDebugError(w, http.StatusNotFound, "no debug route "+r.Method+" "+r.URL.Path)
}

func writeDebugError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeDebugJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
