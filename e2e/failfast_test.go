package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/testkit"
)

// TestWorkerRefusesUnusableCredentials starts the worker binary with credentials that cannot work
// and a Redis database that does not exist: it must refuse to start, exit 2, and end with one line
// naming what to fix, instead of starting, saying it is ready and dead-lettering every order.
func TestWorkerRefusesUnusableCredentials(t *testing.T) {
	t.Parallel()
	const goodToken, iamPassword = "good-token-7c1d", "iam-pw-3e9a"
	ps := newProcs(t)
	s := startSimProcess(t, ps, []string{"--token", goodToken, "--iam-user", "buyer", "--iam-domain", "acme"},
		map[string]string{"CPHSIM_IAM_PASSWORD": iamPassword})
	tr := newTestRedis(t)
	dir := t.TempDir()
	base := workerEnv(tr, s.url, nil)
	delete(base, "CPH_TOKEN")

	cases := []struct {
		name string
		env  map[string]string
		want string // what the last line must name
	}{
		{"CPH_TOKEN_FILE missing", map[string]string{"CPH_TOKEN_FILE": filepath.Join(dir, "no-such-file")}, "CPH_TOKEN_FILE"},
		{"CPH_TOKEN_FILE unreadable (a directory)", map[string]string{"CPH_TOKEN_FILE": dir}, "CPH_TOKEN_FILE"},
		{"a wrong static token", map[string]string{"CPH_TOKEN": "wrong-token-51ab"}, "CPH_TOKEN: the credentials are refused"},
		{"a wrong IAM password", map[string]string{"IAM_ENDPOINT": s.url, "IAM_USERNAME": "buyer", "IAM_PASSWORD": "wrong-pw-90fe", "IAM_DOMAIN": "acme"},
			"IAM_USERNAME/IAM_PASSWORD/IAM_DOMAIN: the credentials are refused"},
	}
	if db99 := database99(); db99 != "" {
		cases = append(cases, struct {
			name string
			env  map[string]string
			want string
		}{"a Redis database out of range", map[string]string{"REDIS_URL": db99, "CPH_TOKEN": goodToken}, "REDIS_URL names a database this Redis does not have"})
	} else {
		t.Log("not checking a Redis database out of range: it needs a real Redis (REDIS_URL); miniredis has any number")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			w := ps.start("worker", bin("worker"), nil, env)
			code, ok := w.wait(60 * time.Second)
			if !ok {
				t.Fatal("the worker started instead of refusing")
			}
			stderr := strings.TrimSpace(w.readStderr())
			last := stderr[strings.LastIndex(stderr, "\n")+1:]
			if code != 2 || !strings.HasPrefix(last, "worker: ") || !strings.Contains(last, tc.want) {
				t.Errorf("exit code %d, last line %q; want 2 and a line naming %q", code, last, tc.want)
			}
			if _, started := w.logLine("worker started"); started {
				t.Error("the worker said it started")
			}
			for _, secret := range []string{"wrong-token-51ab", "wrong-pw-90fe", iamPassword, goodToken} {
				if strings.Contains(stderr+w.readStdout(), secret) {
					t.Errorf("the output shows a secret")
				}
			}
			checkNoLeak(t, stderr)
		})
	}
}

// database99 is REDIS_URL with database 99, which a Redis of the default 16 databases does not
// have; "" without a real single-server Redis.
func database99() string {
	url := os.Getenv("REDIS_URL")
	if !strings.HasPrefix(url, "redis://") {
		return ""
	}
	rest := strings.TrimPrefix(url, "redis://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return "redis://" + rest + "/99"
}

// TestWorkerHoldsOrdersWhileCredentialsAreRefused turns the simulator's credentials bad while a
// worker runs: the orders wait in the paused queue instead of being dead-lettered as auth; /readyz
// fails with the reason; the metric and a log line say it; when the credentials work again the
// worker resumes by itself and every order is bought once.
func TestWorkerHoldsOrdersWhileCredentialsAreRefused(t *testing.T) {
	t.Parallel()
	ps := newProcs(t)
	s := startSimProcess(t, ps, []string{"--token", testToken}, nil)
	tr := newTestRedis(t)
	w := startWorker(t, ps, "worker", workerEnv(tr, s.url, nil))
	line, _ := w.logLine("serving /healthz, /readyz and /metrics")
	addr, _ := line["addr"].(string)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	op := tr.operator(t, 3)
	ledger := op.Ledger()

	first := newOrder("cred/first", "cred-first")
	enqueue(t, op.Producer(), first)
	if open := waitTerminal(t, ledger, []string{first.IdempotencyKey}, time.Minute); len(open) > 0 {
		t.Fatal("the first order was not bought")
	}

	s.must(s.post("refuse-credentials"))
	names := map[string]string{first.IdempotencyKey: "cred-first"}
	var keys []string
	for _, n := range []string{"a", "b", "c", "d"} {
		o := newOrder("cred/held-"+n, "cred-held-"+n)
		enqueue(t, op.Producer(), o)
		names[o.IdempotencyKey], keys = "cred-held-"+n, append(keys, o.IdempotencyKey)
	}
	testkit.Eventually(t, "/readyz to fail with the reason", func() bool {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "refuses the credentials")
	})
	if _, body := get("/metrics"); !strings.Contains(body, "cph_purchase_credentials_refused 1") {
		t.Error("/metrics does not say cph_purchase_credentials_refused 1")
	}
	if _, ok := w.logLine("credentials refused: queue paused, orders wait uncounted; checking the credentials again with backoff, and resuming once they work (fix CPH_TOKEN, CPH_TOKEN_FILE or IAM_*)"); !ok {
		t.Error("no log line says the queue was paused for the credentials")
	}
	ctx := t.Context()
	if sum, err := op.Summary(ctx); err != nil || !sum.Paused || sum.HeldForCredentials == "" {
		t.Errorf("queue summary while refused = %+v, %v; want paused and held for credentials", sum, err)
	}
	if n, err := op.DeadLetters().Count(ctx); err != nil || n != 0 {
		t.Fatalf("dead letters while the credentials are refused = %d, %v; want 0", n, err)
	}

	s.must(s.post("accept-credentials"))
	if open := waitTerminal(t, ledger, keys, 2*time.Minute); len(open) > 0 {
		t.Fatalf("orders not bought after the credentials were fixed: %v", open)
	}
	checkBoughtOnce(t, tr, s, names)
	testkit.Eventually(t, "/readyz to be 200 again", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if _, body := get("/metrics"); !strings.Contains(body, "cph_purchase_credentials_refused 0") {
		t.Error("/metrics does not say cph_purchase_credentials_refused 0 after the recovery")
	}
	if sum, err := op.Summary(ctx); err != nil || sum.Paused || sum.HeldForCredentials != "" || sum.DeadLetters != 0 {
		t.Errorf("queue summary after the recovery = %+v, %v; want running, no hold, no dead letter", sum, err)
	}
}
