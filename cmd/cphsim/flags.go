package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"cphpurchase/internal/buildinfo"
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

// envPrefix names the environment variable of every flag: CPHSIM_ and the flag's name.
const envPrefix = "CPHSIM_"

const long = `cphsim simulates the Huawei Cloud CPH purchase API and IAM tokens, for demos, staging and tests.

It serves, on --addr:
  POST /v2/{project_id}/cloud-phone/servers            purchase (with the faults below)
  GET  /v1/{project_id}/cloud-phone/servers            list (offset, limit, server_name, create_since, create_until, status)
  GET  /v1/{project_id}/cloud-phone/servers/{id}       one server (status creating until --create-time has passed)
  GET  /v1/{project_id}/cloud-phone/phones             phones (server_id, offset, limit)
  GET  /v2/orders/customer-orders/details/{order_id}   BSS order details: pending payment (6) or completed (5)
  POST /v3/auth/tokens                                 IAM password auth, project-scoped
and, for tests that run it as a separate process:
  GET  /_sim/stats, /_sim/orders[?server_name=], /_sim/calls          what it recorded (JSON)
  POST /_sim/expire-tokens, /_sim/down, /_sim/up, /_sim/reset        change its state
  POST /_sim/refuse-credentials, /_sim/accept-credentials           make every token and password wrong, and right again
  POST /_sim/pay?order_id=ID, /_sim/delete-server?server_id=ID       pay an order, delete a server

On start it prints its base URL (e.g. http://127.0.0.1:8080) on stdout; logs go to stderr.
Every flag is also an environment variable, CPHSIM_ and the flag's name in capitals with _ for -
(CPHSIM_LATENCY=50ms for --latency); a flag given wins. Prefer CPHSIM_IAM_PASSWORD to
--iam-password, which ps shows.`

const example = `  cphsim                                              # open, fault-free, on 127.0.0.1:8080
  cphsim --addr 127.0.0.1:0 --latency 50ms            # any free port; 50 ms a call
  cphsim --fail-after-rate 0.1 --drop-rate 0.05 --seed 7    # orders placed but the answer lost
  cphsim --late-commit-rate 0.05 --late-commit-after 10s    # 504 at once, the order placed 10s later
  cphsim --rate-limit 5 --throttle-rate 0.02          # enforce 5 purchases/s fleet-wide
  cphsim --create-time 30s --abnormal-rate 0.1        # servers take 30s to run; one order in ten ends abnormal
  cphsim --token dev-token                            # require X-Auth-Token: dev-token
  CPHSIM_IAM_PASSWORD=secret cphsim --iam-user buyer --iam-domain acme --token-ttl 10m
  curl -s localhost:8080/_sim/stats`

// errHelp reports that the command line asked for help or the version, which was printed: there
// is nothing to serve, and nothing went wrong.
var errHelp = errors.New("help printed")

// usageError is a mistake in the command line or the environment (exit 2).
type usageError struct{ error }

// parseFlags reads args (without the program name) and the environment, as the worker and enqueue
// do: every flag is also a variable (envName), the flag wins, and a malformed variable is an error
// naming it. For --help, --version and `version` it prints on stdout and returns errHelp; a mistake
// is a usageError whose message starts "cphsim: ".
func parseFlags(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var cfg config
	ran := false
	root := &cobra.Command{
		Use:           "cphsim",
		Short:         "Simulate the CPH purchase API and IAM tokens",
		Long:          long,
		Example:       example,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		// No "completion" command: the simulator is for tests and staging, not shell setup.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ran = true
			return fromEnv(cmd.Flags(), getenv)
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(io.Discard)
	defineFlags(root.Flags(), &cfg)
	buildinfo.AddTo(root)
	if err := root.Execute(); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "cphsim: ") {
			msg = "cphsim: " + msg
		}
		return cfg, usageError{errors.New(msg + "; see 'cphsim --help'")}
	}
	if !ran {
		return cfg, errHelp
	}
	if err := cfg.opts.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// defineFlags defines the flags into cfg, each usage naming its environment variable.
func defineFlags(fs *pflag.FlagSet, cfg *config) {
	o := &cfg.opts
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
	fs.DurationVar(&o.CreateTime, "create-time", 0, "how long servers and phones stay creating after their order is placed or paid")
	fs.IntVar(&o.PhonesPerServer, "phones-per-server", cphsim.DefaultPhonesPerServer, "phones of each server")
	fs.Float64Var(&o.AbnormalRate, "abnormal-rate", 0, "share of orders whose servers end abnormal (status 2)")
	fs.Float64Var(&o.PhoneFailRate, "phone-fail-rate", 0, "share of orders whose servers run but one phone fails creation (-8)")
	fs.Float64Var(&o.NeverReadyRate, "never-ready-rate", 0, "share of orders whose servers never finish creating")
	fs.Float64Var(&o.RateLimit, "rate-limit", 0, "purchase calls per second allowed in total; beyond it 429 and a counted violation (0 = unlimited)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", cphsim.DefaultTokenTTL, "lifetime of IAM tokens")
	fs.StringSliceVar(&o.Tokens, "token", nil, "a static X-Auth-Token `token` to accept (repeatable, or comma-separated); with no --token and no --iam-user, auth is not checked")
	fs.StringVar(&o.IAMUser, "iam-user", "", "the IAM user name POST /v3/auth/tokens accepts")
	fs.StringVar(&o.IAMPassword, "iam-password", "", "its password; prefer the environment, a flag shows in ps")
	fs.StringVar(&o.IAMDomain, "iam-domain", "", "its domain (account) name; empty accepts any")
	fs.VisitAll(func(f *pflag.Flag) { f.Usage += " (" + envName(f.Name) + ")" })
}

// envName is the environment variable of a flag: --late-commit-rate is CPHSIM_LATE_COMMIT_RATE.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// fromEnv sets every flag not given on the command line from its environment variable, when that
// is set and not empty. --help shows the built-in defaults, never the environment's (a password).
func fromEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" && !f.Changed {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err)) // never the value: it may be a password
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cphsim: %w", err)
	}
	return nil
}
