package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
)

// parseConfig reads a configuration as main does, from env over a minimal valid one and args.
func parseConfig(env map[string]string, args []string) (config, error) {
	all := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "CPH_ENDPOINT": "http://127.0.0.1:1", "CPH_TOKEN": "t"}
	for k, v := range env {
		all[k] = v
	}
	var c config
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	err := bindFlags(fs, &c, func(k string) (string, bool) { v, ok := all[k]; return v, ok })
	if err == nil {
		if err = fs.Parse(args); err == nil {
			err = c.check()
		}
	}
	return c, err
}

func TestTaskCheckInterval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     string // TASK_CHECK_INTERVAL, "" for unset
		args    []string
		want    time.Duration
		wantErr string // from bindFlags or check
	}{
		{name: "default", want: tasks.DefaultTaskCheckInterval},
		{name: "environment", env: "20ms", want: 20 * time.Millisecond},
		{name: "flag wins", env: "20ms", args: []string{"--task-check-interval", "1s"}, want: time.Second},
		{name: "not a duration", env: "fast", wantErr: `TASK_CHECK_INTERVAL="fast" is not a duration`},
		{name: "negative", args: []string{"--task-check-interval", "-1s"}, wantErr: "TASK_CHECK_INTERVAL must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.env != "" {
				env["TASK_CHECK_INTERVAL"] = tc.env
			}
			c, err := parseConfig(env, tc.args)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case c.TaskCheck != tc.want:
				t.Fatalf("TaskCheck = %s, want %s", c.TaskCheck, tc.want)
			}
		})
	}
}

// Nothing the worker opens listens beyond this machine unless configured to: its HTTP endpoints by
// default, and in embedded mode the in-process Redis and simulator too.
func TestNothingListensBeyondLoopbackByDefault(t *testing.T) {
	var cfg config
	if err := bindFlags(pflag.NewFlagSet("worker", pflag.ContinueOnError), &cfg, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.HTTPAddr, "127.0.0.1:") {
		t.Fatalf("default HTTP_ADDR = %q, want loopback", cfg.HTTPAddr)
	}
	emb, err := startEmbedded(&cfg, cphsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	if !strings.HasPrefix(cfg.RedisURL, "redis://127.0.0.1:") || !strings.HasPrefix(cfg.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("embedded Redis %q and simulator %q, want both on loopback", cfg.RedisURL, cfg.Endpoint)
	}
}

func TestReconcileSettings(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		wantPolicy tasks.RebuyPolicy
		wantGrace  time.Duration
		wantErr    string
	}{
		{name: "defaults", wantPolicy: tasks.RebuyAfterGrace, wantGrace: tasks.DefaultReconcileGrace},
		{name: "environment", env: map[string]string{"RECONCILE_POLICY": "never", "RECONCILE_GRACE": "30m"}, wantPolicy: tasks.RebuyNever, wantGrace: 30 * time.Minute},
		{name: "flag wins", env: map[string]string{"RECONCILE_POLICY": "never"}, args: []string{"--reconcile-policy", "rebuy"}, wantPolicy: tasks.RebuyAfterGrace, wantGrace: tasks.DefaultReconcileGrace},
		{name: "unknown policy", env: map[string]string{"RECONCILE_POLICY": "sometimes"}, wantErr: `RECONCILE_POLICY: must be "rebuy" or "never", got "sometimes"`},
		{name: "unknown policy flag", args: []string{"--reconcile-policy", "maybe"}, wantErr: `must be "rebuy" or "never", got "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.env, tc.args)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case c.ReconcilePolicy != tc.wantPolicy || c.ReconcileGrace != tc.wantGrace:
				t.Fatalf("policy %q, grace %s; want %q, %s", c.ReconcilePolicy, c.ReconcileGrace, tc.wantPolicy, tc.wantGrace)
			}
		})
	}
}

// The environment's REDIS_URL is the flag's default, which --help prints: never its password.
func TestHelpDoesNotShowTheRedisPassword(t *testing.T) {
	env := map[string]string{"REDIS_URL": "redis://app:s3cret-pw@redis.internal:6379/0"}
	var c config
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	if err := bindFlags(fs, &c, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	usage := fs.FlagUsages()
	if strings.Contains(usage, "s3cret-pw") || !strings.Contains(usage, "redis.internal") {
		t.Fatalf("--help shows:\n%s\nwant the URL with its password masked", usage)
	}
	if c.RedisURL != env["REDIS_URL"] {
		t.Fatalf("RedisURL = %q, want the environment's", c.RedisURL)
	}
	if err := fs.Parse([]string{"--redis-url", "redis://:other@h:1/0"}); err != nil || c.RedisURL != "redis://:other@h:1/0" {
		t.Fatalf("flag: %q, %v", c.RedisURL, err)
	}
}
