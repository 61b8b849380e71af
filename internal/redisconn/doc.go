// Package redisconn connects to the Redis that holds the queue and the ledger: it turns REDIS_URL
// into asynq's connection options (ParseURL), opens the one go-redis client that asynq and the
// ledger share (NewClient), and reads how durable that Redis is (Inspect).
//
// The names are chosen for the call site. The package name already says Redis, so the functions
// do not repeat it (redisconn.ParseRedisURL would stutter). ParseURL rather than a bare Parse,
// because what it parses is a URL, and because it reads like go-redis's own redis.ParseURL, which
// it stands in for: that one knows neither the Sentinel and Cluster forms nor asynq's options.
// NewClient mirrors redis.NewClient for the same reason.
//
// The package sits below internal/tasks and the commands: it imports asynq and go-redis, never
// anything of this module, so that cmd/worker, cmd/enqueue, the benchmarks and the tests all use
// it without pulling the purchase logic in.
package redisconn
