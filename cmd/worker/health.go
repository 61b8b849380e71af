package main

import (
	"context"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// healthMux serves /healthz (the process is alive) and /readyz (it can reach Redis, so it can take
// work). Both stay cheap: probes call them every few seconds.
func healthMux(rdb redis.UniversalClient) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
