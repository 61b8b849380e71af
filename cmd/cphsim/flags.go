package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"cphpurchase/internal/cph/cphsim"
)

// config is everything the command line decides.
type config struct {
	addr    string
	verbose bool
	opts    cphsim.Options
}

// passwordEnv carries the IAM password, so that it need not appear on a command line (and so in
// ps and shell history).
const passwordEnv = "CPHSIM_IAM_PASSWORD"

const usageHead = `cphsim simulates the Huawei Cloud CPH purchase API and IAM tokens, for demos, staging and tests.

Usage:
  cphsim [flags]

It serves, on --addr:
  POST /v2/{project_id}/cloud-phone/servers            purchase (with the faults below)
  GET  /v1/{project_id}/cloud-phone/servers            list (offset, limit, server_name, create_since, create_until, status)
  GET  /v1/{project_id}/cloud-phone/servers/{id}       one server
  POST /v3/auth/tokens                                 IAM password auth, project-scoped
and, for tests that run it as a separate process:
  GET  /_sim/stats, /_sim/orders[?server_name=], /_sim/calls          what it recorded (JSON)
  POST /_sim/expire-tokens, /_sim/down, /_sim/up, /_sim/reset        change its state

On start it prints its base URL (e.g. http://127.0.0.1:8080) on stdout; logs go to stderr.
The IAM password may come from $` + passwordEnv + ` instead of --iam-password.

Examples:
  cphsim                                              # open, fault-free, on 127.0.0.1:8080
  cphsim --addr 127.0.0.1:0 --latency 50ms            # any free port; 50 ms a call
  cphsim --fail-after-rate 0.1 --drop-rate 0.05 --seed 7    # orders placed but the answer lost
  cphsim --late-commit-rate 0.05 --late-commit-after 10s    # 504 at once, the order placed 10s later
  cphsim --rate-limit 5 --throttle-rate 0.02          # enforce 5 purchases/s fleet-wide
  cphsim --token dev-token                            # require X-Auth-Token: dev-token
  CPHSIM_IAM_PASSWORD=secret cphsim --iam-user buyer --iam-domain acme --token-ttl 10m
  curl -s localhost:8080/_sim/stats

Flags:
`

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags reads args (without the program name) and the environment. It returns
// an error wrapping flag.ErrHelp after writing the usage to stdout for --help, and a usage error
// (prefixed "cphsim: ") otherwise.
func parseFlags(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var cfg config
	o := &cfg.opts
	var tokens stringList
	fs := flag.NewFlagSet("cphsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; usage goes to stdout on --help only
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen `address`; loopback by default, port 0 picks a free port")
	fs.BoolVar(&cfg.verbose, "verbose", false, "log every API call (method, path, status; never tokens)")
	fs.DurationVar(&o.Latency, "latency", 0, "added to every API call")
	fs.Int64Var(&o.Seed, "seed", 0, "seed of the random faults; the same seed repeats the same faults")
	fs.Float64Var(&o.ThrottleRate, "throttle-rate", 0, "share of purchases answered 429 APIGW.0308, no order")
	fs.Float64Var(&o.FailBeforeRate, "fail-before-rate", 0, "share of purchases answered 503, no order")
	fs.Float64Var(&o.FailAfterRate, "fail-after-rate", 0, "share of purchases ordered, then answered 500 CPS.0003")
	fs.Float64Var(&o.HangRate, "hang-rate", 0, "share of purchases ordered, then held until the client gives up (or --hang-for, then 504)")
	fs.Float64Var(&o.DropRate, "drop-rate", 0, "share of purchases ordered, then the connection closed without an answer")
	fs.Float64Var(&o.RejectRate, "reject-rate", 0, "share of purchases refused with --reject-code, no order")
	fs.Float64Var(&o.LateCommitRate, "late-commit-rate", 0, "share of purchases answered 504 APIGW.0202 at once, no order yet, then ordered --late-commit-after later")
	fs.StringVar(&o.RejectCode, "reject-code", cphsim.DefaultRejectCode, "error `code` of rejected purchases (CPS.0001, CPS.0006, CPS.0007, CPS.0008)")
	fs.DurationVar(&o.RetryAfter, "retry-after", cphsim.DefaultRetryAfter, "Retry-After of 429 answers (whole seconds, at least 1)")
	fs.DurationVar(&o.HangFor, "hang-for", cphsim.DefaultHangFor, "longest hang")
	fs.DurationVar(&o.LateCommitAfter, "late-commit-after", cphsim.DefaultLateCommitAfter, "delay between a late commit's 504 and its order")
	fs.Float64Var(&o.RateLimit, "rate-limit", 0, "purchase calls per second allowed in total; beyond it 429 and a counted violation (0 = unlimited)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", cphsim.DefaultTokenTTL, "lifetime of IAM tokens")
	fs.Var(&tokens, "token", "a static X-Auth-Token `token` to accept (repeatable); with no --token and no --iam-user, auth is not checked")
	fs.StringVar(&o.IAMUser, "iam-user", "", "the IAM user name POST /v3/auth/tokens accepts")
	fs.StringVar(&o.IAMPassword, "iam-password", "", "its password (prefer $"+passwordEnv+")")
	fs.StringVar(&o.IAMDomain, "iam-domain", "", "its domain (account) name; empty accepts any")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageHead)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return cfg, fmt.Errorf("cphsim: %w", err)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("cphsim: unexpected argument %q", fs.Arg(0))
	}
	o.Tokens = tokens
	if o.IAMPassword == "" {
		o.IAMPassword = getenv(passwordEnv)
	}
	if err := o.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}
