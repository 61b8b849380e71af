package console

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

const testProject = "0b1c00000000000000000000console"

// fixture is the whole purchase pipeline of one test, as in internal/tasks/pipeline_test.go (a
// producer, an asynq server running the real handler, the real CPH client and the simulator over
// HTTP), with the console served over it. On a shared real Redis (REDIS_URL) it works in its own
// queue and results stream and deletes only what it made; otherwise it runs on miniredis.
type fixture struct {
	t        *testing.T
	rdb      redis.UniversalClient
	queue    string
	stream   string
	sim      *cphsim.Server
	op       *tasks.Operator
	ledger   *tasks.Ledger
	dls      *tasks.DeadLetters
	producer *tasks.Producer
	insp     *asynq.Inspector
	console  *Console
	url      string // the console's httptest server, without BasePath
	// reject makes the simulator refuse every purchase with CPS.0006 (arrears) while true.
	reject atomic.Bool
	// Purchases of server names starting with "flaky" fail before the commit (503): they are
	// retried.
	// hold keeps purchases of server names starting with "slow" inside the API call until closed.
	hold        chan struct{}
	releaseOnce sync.Once
}

// fixtureConfig is how a test's fixture differs from the default.
type fixtureConfig struct {
	Auth Auth
	// RetryDelay is how long a failed delivery waits before its retry (20ms when zero).
	RetryDelay time.Duration
}

func newFixture(t *testing.T, auth Auth) *fixture {
	t.Helper()
	return newFixtureWith(t, fixtureConfig{Auth: auth})
}

func newFixtureWith(t *testing.T, cfg fixtureConfig) *fixture {
	t.Helper()
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 20 * time.Millisecond
	}
	f := &fixture{t: t, hold: make(chan struct{})}
	f.rdb = testkit.NewRedis(t).Client
	id := testkit.RandomID()
	f.queue, f.stream = "test-console-"+id, "test:console:"+id+":results"
	keys := tasks.NewKeys(f.stream)
	t.Cleanup(func() { testkit.DeleteKeys(t, f.rdb, f.queue, f.stream) })

	f.sim = cphsim.New(cphsim.Options{Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
		if strings.HasPrefix(c.ServerName, "slow") {
			select {
			case <-f.hold:
			case <-time.After(2 * time.Minute):
			}
		}
		if f.reject.Load() {
			return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
		}
		if strings.HasPrefix(c.ServerName, "flaky") {
			return cphsim.Fault{Kind: cphsim.FaultFailBeforeCommit}
		}
		return cphsim.Fault{Kind: cphsim.FaultNone}
	}})
	simHTTP := httptest.NewServer(f.sim)
	t.Cleanup(simHTTP.Close)
	api, err := cph.NewClient(simHTTP.URL, cph.StaticToken("test-token"), cph.ClientOptions{Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.op, err = tasks.NewOperator(f.rdb, tasks.OperatorConfig{Queue: f.queue, ResultsStream: f.stream, MaxRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger, f.dls, f.insp, f.producer = f.op.Ledger(), f.op.DeadLetters(), f.op.Inspector(), f.op.Producer()
	h := tasks.NewHandler(tasks.HandlerConfig{
		API: api, Ledger: f.ledger, RateLimiter: tasks.NewRateLimiter(f.rdb, keys, 1000),
		Queue: f.queue, DefaultProjectID: testProject, CallTimeout: 3 * time.Minute,
		ReconcileGrace: 200 * time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	srv := tasks.NewServer(f.rdb, tasks.ServerConfig{
		Queue:                    f.queue,
		Concurrency:              4,
		Retry:                    tasks.RetryPolicy{BaseDelay: cfg.RetryDelay, MaxDelay: 10 * cfg.RetryDelay},
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:          time.Second,
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.release()
		srv.Shutdown()
	})

	f.console, err = New(Config{Operator: f.op, Auth: cfg.Auth})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(f.console)
	t.Cleanup(web.Close)
	f.url = web.URL
	return f
}

// release lets the held ("slow…") purchases go on.
func (f *fixture) release() { f.releaseOnce.Do(func() { close(f.hold) }) }

// order is a valid purchase order for one server named name, paid automatically.
func order(name string) *tasks.Order {
	return &tasks.Order{ProjectID: testProject, Request: cph.ExampleRequest(name), Metadata: map[string]string{"test": name}}
}

func (f *fixture) submit(o *tasks.Order) tasks.EnqueueResult {
	f.t.Helper()
	r, err := f.producer.Enqueue(context.Background(), o)
	if err != nil || r.Status != tasks.EnqueueEnqueued {
		f.t.Fatalf("enqueue = %+v, %v", r, err)
	}
	return r
}

// enqueueRaw puts a payload on the queue the way a producer that skips validation would.
func (f *fixture) enqueueRaw(payload []byte, taskID string) {
	f.t.Helper()
	_, err := asynq.NewClientFromRedisClient(f.rdb).Enqueue(asynq.NewTask(tasks.TypePurchase, payload),
		asynq.Queue(f.queue), asynq.TaskID(taskID), asynq.MaxRetry(3), asynq.Retention(time.Hour))
	if err != nil {
		f.t.Fatalf("enqueue raw: %v", err)
	}
}

// wait polls the ledger until key's order is in state ("succeeded" or "failed") and returns its
// result.
func (f *fixture) wait(key, state string) tasks.Result {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		e, ok, err := f.ledger.Get(context.Background(), key)
		if err != nil {
			f.t.Fatal(err)
		}
		if ok && string(e.State) == state && e.Result != nil {
			var r tasks.Result
			if err := json.Unmarshal(e.Result, &r); err != nil {
				f.t.Fatal(err)
			}
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("order %s did not reach %s", key, state)
	return tasks.Result{}
}

// waitState polls asynq until the task is in state: a dead letter is written before asynq
// archives the task, a result before asynq marks it completed.
func (f *fixture) waitState(taskID string, state asynq.TaskState) {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := f.insp.GetTaskInfo(f.queue, taskID); err == nil && info.State == state {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("task %s did not become %v", taskID, state)
}

// get fetches a console page and returns its status and body.
func (f *fixture) get(path string, header http.Header) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return do(f.t, req)
}

// post submits a form to the console without following redirects; it returns the status, the
// Location and the body.
func (f *fixture) post(path string, form map[string]string, header http.Header) (int, string, string) {
	f.t.Helper()
	vals := url.Values{}
	for k, v := range form {
		vals.Set(k, v)
	}
	return f.postValues(path, vals, header)
}

// postValues is post with a form of repeated fields.
func (f *fixture) postValues(path string, form url.Values, header http.Header) (int, string, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	noRedirect := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrfFrom is the token in a confirmation page's form.
func csrfFrom(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return m[1]
}

// section is the part of a page inside <section id="id">, so that a test checks that a
// thing shows where it belongs.
func section(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<section id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no section %s in the page:\n%s", id, page)
	}
	rest := page[start:]
	end := strings.Index(rest, "</section>")
	if end < 0 {
		t.Fatalf("section %s is not closed", id)
	}
	return rest[:end]
}

var flashBanner = regexp.MustCompile(`id="flash" role="status">([^<]*)</p>`)

// flashOf is the text of a page's flash banner, "" when it has none.
func flashOf(page string) string {
	if m := flashBanner.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}
