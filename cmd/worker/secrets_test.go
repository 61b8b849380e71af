package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// TestSecretsNeverLeak runs the whole pipeline with known secrets — an IAM password, the tokens
// IAM issues, a static token, a Redis password — through success, rejection, a lost answer,
// throttling, token expiry and an invalid order, with debug logging, and then searches every log
// line, every Redis key and value, every result and every metric for them: zero hits.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		iamPassword   = "iam-PW-3d9f1a77c2"
		redisPassword = "redis-PW-81b2e4c6d0"
		staticToken   = "static-TOKEN-5e7a9c1b3d"
	)
	for _, mode := range []string{"iam", "static"} {
		t.Run(mode, func(t *testing.T) {
			mr := miniredis.RunT(t)
			mr.RequireAuth(redisPassword)
			sim := cphsim.New(cphsim.Options{
				IAMUser: "ops", IAMPassword: iamPassword, IAMDomain: "acme", Tokens: []string{staticToken},
				RetryAfter: time.Second, Decide: secretsScript,
			})
			issued := &tokenRecorder{}
			ts := httptest.NewServer(issued.wrap(sim))
			t.Cleanup(ts.Close)

			var logs testkit.SyncBuffer
			cfg := config{
				RedisURL: "redis://:" + redisPassword + "@" + mr.Addr() + "/0", Endpoint: ts.URL,
				ProjectID: "0b1c00000000000000000000secrets", RateLimit: 100, Timeout: 2 * time.Second,
				Concurrency: 4, Queue: "cph-purchase", RetryBaseDelay: 50 * time.Millisecond, RetryMaxDelay: time.Second,
				ResultsStream: "cph:purchase:results", HTTPAddr: "127.0.0.1:0", LogLevel: "debug", LogFormat: "json",
				ShutdownTimeout: time.Second, ReconcileGrace: 200 * time.Millisecond,
			}
			if mode == "iam" {
				cfg.IAMEndpoint, cfg.IAMUsername, cfg.IAMPassword, cfg.IAMDomain = ts.URL, "ops", cph.Secret(iamPassword), "acme"
			} else {
				cfg.Token = cph.Secret(staticToken)
			}
			if err := cfg.check(); err != nil {
				t.Fatal(err)
			}
			log, _ := newLogger(&logs, cfg.LogLevel, cfg.LogFormat)
			w, err := newWorker(cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.srv.Start(w.handler); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.srv.Shutdown(); _ = w.rdb.Close() })
			metricsServer := httptest.NewServer(w.http.Handler)
			t.Cleanup(metricsServer.Close)

			ctx := context.Background()
			op, err := tasks.NewOperator(w.rdb, tasks.OperatorConfig{Queue: cfg.Queue, ResultsStream: cfg.ResultsStream, MaxRetry: 3})
			if err != nil {
				t.Fatal(err)
			}
			producer := op.Producer()
			var keys []string
			submit := func(name string) {
				o := demoOrder(name, 1)
				o.ProjectID = cfg.ProjectID
				if _, err := producer.Enqueue(ctx, o); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, o.Key())
			}
			for _, name := range []string{"sec-ok", "sec-arrears", "sec-lost", "sec-throttled"} {
				submit(name)
			}
			if err := waitTerminal(ctx, op, keys, time.Minute); err != nil {
				t.Fatal(err)
			}
			if mode == "iam" {
				sim.ExpireTokens() // the next call is refused and the token refreshed
			}
			submit("sec-after-expiry")
			bad := demoOrder("sec-invalid", 11)
			payload, _ := json.Marshal(bad)
			if _, err := op.Client().Enqueue(asynq.NewTask(tasks.TypePurchase, payload), asynq.Queue(cfg.Queue)); err != nil {
				t.Fatal(err)
			}
			if err := waitTerminal(ctx, op, keys, time.Minute); err != nil {
				t.Fatal(err)
			}
			if mode == "iam" && len(issued.all()) < 2 {
				t.Fatalf("IAM issued %d tokens, want a refresh after expiry", len(issued.all()))
			}

			secrets := append([]string{iamPassword, redisPassword, staticToken}, issued.all()...)
			where := map[string]string{
				"logs":    logs.String(),
				"redis":   dumpRedis(t, w.rdb),
				"metrics": httpGet(t, metricsServer.URL+"/metrics"),
			}
			if !strings.Contains(where["redis"], `"reconciled":true`) || !strings.Contains(where["redis"], `"class":"rejected"`) ||
				!strings.Contains(where["logs"], "sec-lost") {
				t.Fatal("the dump does not hold what the run did: the search below would prove nothing")
			}
			for place, text := range where {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s contains the secret %.6s…", place, s)
					}
				}
			}
		})
	}
}

// secretsScript makes the simulator take the orders through every path.
func secretsScript(c cphsim.PurchaseCall) cphsim.Fault {
	switch {
	case c.ServerName == "sec-arrears":
		return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
	case c.ServerName == "sec-lost" && c.Seq == 1:
		return cphsim.Fault{Kind: cphsim.FaultDropAfterCommit}
	case c.ServerName == "sec-throttled" && c.Seq == 1:
		return cphsim.Fault{Kind: cphsim.FaultThrottle}
	}
	return cphsim.Fault{Kind: cphsim.FaultNone}
}

// tokenRecorder remembers every token IAM issued, so the test can look for them.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (r *tokenRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(headerSpy{w, r}, req)
	})
}

func (r *tokenRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

type headerSpy struct {
	http.ResponseWriter
	r *tokenRecorder
}

func (s headerSpy) WriteHeader(code int) {
	if tok := s.Header().Get("X-Subject-Token"); tok != "" {
		s.r.mu.Lock()
		s.r.tokens = append(s.r.tokens, tok)
		s.r.mu.Unlock()
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets the simulator hijack connections through the spy.
func (s headerSpy) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// dumpRedis renders every key and value of the database as text.
func dumpRedis(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, _ := rdb.Type(ctx, k).Result()
		var v any
		switch typ {
		case "string":
			v, _ = rdb.Get(ctx, k).Result()
		case "hash":
			v, _ = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, _ = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, _ = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, _ = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, _ = rdb.XRange(ctx, k, "-", "+").Result()
		}
		fmt.Fprintf(&b, "%s %s %v\n", typ, k, v)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
