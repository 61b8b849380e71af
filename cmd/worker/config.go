package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
)

// config is the worker's configuration: the environment of docs/contract.md, each variable also a
// flag of the same meaning; a flag given on the command line wins.
type config struct {
	RedisURL        string
	Endpoint        string
	ProjectID       string
	Token           cph.Secret
	TokenFile       string
	IAMEndpoint     string
	IAMUsername     string
	IAMPassword     cph.Secret
	IAMDomain       string
	RateLimit       int
	Timeout         time.Duration
	Concurrency     int
	TaskCheck       time.Duration
	Queue           string
	RetryBaseDelay  time.Duration
	RetryMaxDelay   time.Duration
	ResultsStream   string
	HTTPAddr        string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	ReconcileGrace  time.Duration
	// ReconcilePolicy is RECONCILE_POLICY: whether an order is bought again once its unanswered
	// call is proven to have placed nothing.
	ReconcilePolicy tasks.RebuyPolicy
	// MinReplicas is LEDGER_MIN_REPLICAS; MinReplicasSet tells that it was given (in the
	// environment or as a flag, 0 included). When it was not, the worker starts with 1 on a
	// Redis master that has a replica connected (ledgerMinReplicas).
	MinReplicas    int
	MinReplicasSet bool
	// RateLimitSet tells that CPH_RATE_LIMIT was given; when it was not, `worker --embedded` uses
	// a rate suited to trying things (embeddedRateLimit) instead of production's default.
	RateLimitSet bool
	Embedded     bool
	// ConsoleToken guards the operator console on HTTP_ADDR; MaxRetry is the budget it replays with.
	ConsoleToken cph.Secret
	MaxRetry     int
	// Readiness tracking (READINESS_*): following each bought order until its phones are usable;
	// BSSEndpoint is where the payment of orders without auto-pay is read.
	ReadinessTracking    string
	ReadinessDeadline    time.Duration
	ReadinessFirstCheck  time.Duration
	ReadinessMaxInterval time.Duration
	ReadinessRateLimit   int
	BSSEndpoint          string
}

// env reads environment variables into defaults, remembering the first malformed one.
type env struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (e *env) str(name, def string) string {
	if v, ok := e.lookup(name); ok && v != "" {
		return v
	}
	return def
}

func (e *env) int(name string, def int) int {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a whole number", name, v))
		return def
	}
	return n
}

func (e *env) duration(name string, def time.Duration) time.Duration {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a duration (e.g. 30s, 5m)", name, v))
		return def
	}
	return d
}

// secretValue is a pflag.Value for a secret: --help and errors never show it.
type secretValue struct{ s *cph.Secret }

func (v secretValue) String() string     { return v.s.String() }
func (v secretValue) Set(s string) error { *v.s = cph.Secret(s); return nil }
func (v secretValue) Type() string       { return "string" }

// redisURLValue is REDIS_URL as a flag whose printed value (the default --help shows, taken from
// the environment) has its password masked: a URL may carry the Redis password.
type redisURLValue struct{ s *string }

func (v redisURLValue) String() string {
	if u, err := url.Parse(*v.s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return *v.s
}
func (v redisURLValue) Set(s string) error { *v.s = s; return nil }
func (v redisURLValue) Type() string       { return "string" }

// explicitInt is a pflag.Value for an int whose default depends on more than the environment: it
// records that the flag was given, so that an explicit value (0 included) wins over the default.
type explicitInt struct {
	n   *int
	set *bool
}

func (v explicitInt) String() string { return strconv.Itoa(*v.n) }
func (v explicitInt) Type() string   { return "int" }
func (v explicitInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.n, *v.set = n, true
	return nil
}

// policyValue is RECONCILE_POLICY as a flag.
type policyValue struct{ p *tasks.RebuyPolicy }

func (v policyValue) String() string { return string(*v.p) }
func (v policyValue) Type() string   { return "rebuy|never" }
func (v policyValue) Set(s string) error {
	p, err := tasks.ParseRebuyPolicy(s)
	if err != nil {
		return err
	}
	*v.p = p
	return nil
}

// bindFlags defines the flags on fs with defaults from the environment.
func bindFlags(fs *pflag.FlagSet, c *config, lookup func(string) (string, bool)) error {
	e := &env{lookup: lookup}
	c.RedisURL = e.str("REDIS_URL", "")
	fs.Var(redisURLValue{&c.RedisURL}, "redis-url", "Redis, as redis://[user:pass@]host:port/db, rediss://, redis-sentinel:// or redis-cluster:// (REDIS_URL)")
	fs.StringVar(&c.Endpoint, "cph-endpoint", e.str("CPH_ENDPOINT", ""), "base URL of the CPH API (CPH_ENDPOINT)")
	fs.StringVar(&c.ProjectID, "project-id", e.str("CPH_PROJECT_ID", ""), "project of orders that name none; scope of IAM tokens (CPH_PROJECT_ID)")
	c.Token = cph.Secret(e.str("CPH_TOKEN", ""))
	fs.Var(secretValue{&c.Token}, "cph-token", "a static X-Auth-Token; prefer the environment, a flag shows in ps (CPH_TOKEN)")
	fs.StringVar(&c.TokenFile, "cph-token-file", e.str("CPH_TOKEN_FILE", ""), "file holding the X-Auth-Token, re-read when it changes (CPH_TOKEN_FILE)")
	fs.StringVar(&c.IAMEndpoint, "iam-endpoint", e.str("IAM_ENDPOINT", ""), "IAM endpoint to obtain and refresh tokens (IAM_ENDPOINT)")
	fs.StringVar(&c.IAMUsername, "iam-username", e.str("IAM_USERNAME", ""), "IAM user name (IAM_USERNAME)")
	c.IAMPassword = cph.Secret(e.str("IAM_PASSWORD", ""))
	fs.Var(secretValue{&c.IAMPassword}, "iam-password", "IAM password; prefer the environment (IAM_PASSWORD)")
	fs.StringVar(&c.IAMDomain, "iam-domain", e.str("IAM_DOMAIN", ""), "IAM account (domain) name (IAM_DOMAIN)")
	c.RateLimit, c.RateLimitSet = e.int("CPH_RATE_LIMIT", 5), e.str("CPH_RATE_LIMIT", "") != ""
	fs.Var(explicitInt{&c.RateLimit, &c.RateLimitSet}, "rate-limit", "purchase calls per second, summed over every worker on this Redis; "+
		"with --embedded and not given: "+strconv.Itoa(embeddedRateLimit)+" (CPH_RATE_LIMIT)")
	fs.DurationVar(&c.Timeout, "timeout", e.duration("CPH_TIMEOUT", 30*time.Second), "timeout of one purchase call (CPH_TIMEOUT)")
	fs.IntVar(&c.Concurrency, "concurrency", e.int("WORKER_CONCURRENCY", 10), "handlers in this process (WORKER_CONCURRENCY)")
	fs.DurationVar(&c.TaskCheck, "task-check-interval", e.duration("TASK_CHECK_INTERVAL", tasks.DefaultTaskCheckInterval), "how often an idle worker looks for new orders; an order waits up to 1.5 times this to be picked up (TASK_CHECK_INTERVAL)")
	fs.StringVar(&c.Queue, "queue", e.str("PURCHASE_QUEUE", "cph-purchase"), "asynq queue (PURCHASE_QUEUE)")
	fs.DurationVar(&c.RetryBaseDelay, "retry-base-delay", e.duration("RETRY_BASE_DELAY", time.Second), "first backoff between attempts (RETRY_BASE_DELAY)")
	fs.DurationVar(&c.RetryMaxDelay, "retry-max-delay", e.duration("RETRY_MAX_DELAY", 5*time.Minute), "largest backoff between attempts (RETRY_MAX_DELAY)")
	fs.StringVar(&c.ResultsStream, "results-stream", e.str("RESULTS_STREAM", "cph:purchase:results"), "Redis stream of terminal results (RESULTS_STREAM)")
	fs.StringVar(&c.HTTPAddr, "http-addr", e.str("HTTP_ADDR", "127.0.0.1:9464"), "address of /healthz, /readyz and /metrics; empty: none (HTTP_ADDR)")
	fs.StringVar(&c.LogLevel, "log-level", e.str("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", e.str("LOG_FORMAT", "json"), "json or console (LOG_FORMAT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", e.duration("SHUTDOWN_TIMEOUT", 40*time.Second), "on SIGTERM, how long in-flight purchases may finish before they are handed back (SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.ReconcileGrace, "reconcile-grace", e.duration("RECONCILE_GRACE", tasks.DefaultReconcileGrace), "after a purchase call with no answer, how long past its deadline its order may take to be listed: long enough for a gateway that answers 504 and commits later (RECONCILE_GRACE)")
	c.ReconcilePolicy = tasks.RebuyAfterGrace
	if v := e.str("RECONCILE_POLICY", ""); v != "" {
		if err := (policyValue{&c.ReconcilePolicy}).Set(v); err != nil {
			e.errs = append(e.errs, fmt.Errorf("RECONCILE_POLICY: %w", err))
		}
	}
	fs.Var(policyValue{&c.ReconcilePolicy}, "reconcile-policy", "after a purchase call with no answer whose order is not listed within the grace: rebuy (buy again) or never (dead-letter it ambiguous, for an operator to check and replay) (RECONCILE_POLICY)")
	c.ConsoleToken = cph.Secret(e.str("CONSOLE_TOKEN", ""))
	fs.Var(secretValue{&c.ConsoleToken}, "console-token", "password of the operator console under /console/ on HTTP_ADDR; required when HTTP_ADDR is not loopback; prefer the environment (CONSOLE_TOKEN)")
	fs.IntVar(&c.MaxRetry, "max-retry", e.int("MAX_RETRY", 10), "retry budget of orders replayed from the operator console, as enqueue's (MAX_RETRY)")
	c.MinReplicas, c.MinReplicasSet = e.int("LEDGER_MIN_REPLICAS", 0), e.str("LEDGER_MIN_REPLICAS", "") != ""
	fs.Var(explicitInt{&c.MinReplicas, &c.MinReplicasSet}, "ledger-min-replicas", "replicas that must acknowledge a purchase's posting mark before the call goes out; when not given, 1 if the ledger's Redis is a master with a replica connected, else 0 (LEDGER_MIN_REPLICAS)")
	fs.StringVar(&c.ReadinessTracking, "readiness-tracking", e.str("READINESS_TRACKING", "on"), "follow each bought order until its servers and phones are usable: on or off (READINESS_TRACKING)")
	fs.DurationVar(&c.ReadinessDeadline, "readiness-deadline", e.duration("READINESS_DEADLINE", tasks.DefaultReadinessDeadline), "how long after its purchase an order may take to be ready before it is timed_out; Terraform's create timeout (READINESS_DEADLINE)")
	fs.DurationVar(&c.ReadinessFirstCheck, "readiness-first-check", e.duration("READINESS_FIRST_CHECK", tasks.DefaultReadinessFirstCheck), "when the first look at a bought order is taken; the looks then widen (READINESS_FIRST_CHECK)")
	fs.DurationVar(&c.ReadinessMaxInterval, "readiness-max-interval", e.duration("READINESS_MAX_INTERVAL", tasks.DefaultReadinessMaxInterval), "the longest wait between two looks at an order (READINESS_MAX_INTERVAL)")
	fs.IntVar(&c.ReadinessRateLimit, "readiness-rate-limit", e.int("READINESS_RATE_LIMIT", tasks.DefaultReadinessRateLimit), "GET calls per second that following orders may make, summed over every worker; a budget apart from CPH_RATE_LIMIT (READINESS_RATE_LIMIT)")
	fs.StringVar(&c.BSSEndpoint, "bss-endpoint", e.str("BSS_ENDPOINT", ""), "base URL of Huawei Cloud's BSS API, e.g. https://bss.myhuaweicloud.com, to read whether orders without auto-pay are paid (BSS_ENDPOINT)")
	fs.BoolVar(&c.Embedded, "embedded", false, "run with an in-process Redis and CPH simulator, for trying the system; never for production")
	return errors.Join(e.errs...)
}

// check refuses a configuration that cannot work, saying what to set.
func (c *config) check() error {
	var errs []string
	if !c.Embedded {
		if c.RedisURL == "" {
			errs = append(errs, "REDIS_URL is not set: point it at Redis (redis://host:6379/0), or try the system with --embedded")
		}
		if c.Endpoint == "" {
			errs = append(errs, "CPH_ENDPOINT is not set: the CPH API's base URL, e.g. https://cph.cn-east-3.myhuaweicloud.com")
		}
		sources := 0
		for _, set := range []bool{c.Token != "", c.TokenFile != "", c.IAMEndpoint != "" || c.IAMUsername != ""} {
			if set {
				sources++
			}
		}
		switch {
		case sources == 0:
			errs = append(errs, "no credentials: set CPH_TOKEN, CPH_TOKEN_FILE, or IAM_ENDPOINT with IAM_USERNAME, IAM_PASSWORD and IAM_DOMAIN")
		case sources > 1:
			errs = append(errs, "more than one credential source: set only one of CPH_TOKEN, CPH_TOKEN_FILE and IAM_*")
		}
	}
	if c.RateLimit < 1 {
		errs = append(errs, fmt.Sprintf("CPH_RATE_LIMIT must be at least 1, got %d", c.RateLimit))
	}
	if c.MaxRetry < 0 {
		errs = append(errs, fmt.Sprintf("MAX_RETRY must be at least 0, got %d", c.MaxRetry))
	}
	if c.MinReplicas < 0 {
		errs = append(errs, fmt.Sprintf("LEDGER_MIN_REPLICAS must be at least 0, got %d", c.MinReplicas))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Sprintf("WORKER_CONCURRENCY must be at least 1, got %d", c.Concurrency))
	}
	if c.Timeout <= 0 {
		errs = append(errs, "CPH_TIMEOUT must be positive")
	}
	if c.TaskCheck < 0 {
		errs = append(errs, "TASK_CHECK_INTERVAL must not be negative")
	}
	if c.RetryBaseDelay <= 0 || c.RetryMaxDelay < c.RetryBaseDelay {
		errs = append(errs, "RETRY_BASE_DELAY must be positive and at most RETRY_MAX_DELAY")
	}
	if c.Queue == "" || c.ResultsStream == "" {
		errs = append(errs, "PURCHASE_QUEUE and RESULTS_STREAM must not be empty")
	}
	// The readiness settings' zero values (a configuration built in code) mean their defaults.
	if c.ReadinessTracking != "" && c.ReadinessTracking != "on" && c.ReadinessTracking != "off" {
		errs = append(errs, fmt.Sprintf("READINESS_TRACKING must be on or off, got %q", c.ReadinessTracking))
	}
	if c.ReadinessDeadline < 0 || c.ReadinessFirstCheck < 0 || c.ReadinessMaxInterval < 0 || c.ReadinessRateLimit < 0 {
		errs = append(errs, "READINESS_DEADLINE, READINESS_FIRST_CHECK, READINESS_MAX_INTERVAL and READINESS_RATE_LIMIT must not be negative")
	}
	if c.ReadinessFirstCheck > 0 && c.ReadinessMaxInterval > 0 && c.ReadinessMaxInterval < c.ReadinessFirstCheck {
		errs = append(errs, "READINESS_MAX_INTERVAL must be at least READINESS_FIRST_CHECK")
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		errs = append(errs, fmt.Sprintf("LOG_FORMAT must be json or console, got %q", c.LogFormat))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// tokenSource builds the one credential source the configuration names.
func (c *config) tokenSource() (cph.TokenSource, error) {
	switch {
	case c.Token != "":
		return cph.StaticToken(c.Token), nil
	case c.TokenFile != "":
		// Read once now: a file that is missing or unreadable at start is a mistake to report,
		// not a reason to dead-letter the first order.
		src := cph.NewFileToken(c.TokenFile)
		if _, err := src.Token(context.Background()); err != nil {
			return nil, fmt.Errorf("CPH_TOKEN_FILE cannot be used: %w; point it at a readable file that holds the token", err)
		}
		return src, nil
	default:
		return cph.NewIAMToken(cph.IAMConfig{
			Endpoint: c.IAMEndpoint, Username: c.IAMUsername, Password: c.IAMPassword,
			Domain: c.IAMDomain, ProjectID: c.ProjectID,
		})
	}
}

func osLookup(name string) (string, bool) { return os.LookupEnv(name) }
