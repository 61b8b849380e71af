package main

import (
	"context"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// healthMux serves /healthz (the process is alive) and /readyz (it can reach Redis, and each of
// ready says nil, so it can take work; a check's error is the reason /readyz gives). Both stay
// cheap: probes call them every few seconds.
func healthMux(rdb redis.UniversalClient, ready ...func() error) *http.ServeMux {
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
		for _, check := range ready {
			if err := check(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
