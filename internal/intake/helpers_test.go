package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/testkit"
	"cphpurchase/producer"
)

const testProject = "0b1c0000000000000000000000intake"

func TestMain(m *testing.M) {
	// go-redis logs every failed dial on its own; TestRedisDown makes many, on purpose.
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// harness is an intake for one test, served over real HTTP on loopback, on the test's Redis
// (REDIS_URL or miniredis) in a queue and results stream of its own.
type harness struct {
	t             *testing.T
	url           string
	client        *http.Client // validates every response against the OpenAPI document
	producer      *producer.Client
	redis         *testkit.Redis
	queue, stream string
	logs          *testkit.SyncBuffer
	server        *Server
}

type harnessOptions struct {
	tokens *Tokens
	// wrap, when set, stands between the intake and the real producer.
	wrap func(Producer) Producer
	// redisURL is the Redis to run on; empty means the test's.
	redisURL string
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, logs: &testkit.SyncBuffer{}}
	id := testkit.RandomID()
	h.queue, h.stream = "test-"+id, "test:"+id+":results"
	if o.redisURL == "" {
		h.redis = testkit.NewRedis(t)
		o.redisURL = h.redis.URL
		t.Cleanup(func() { testkit.DeleteKeys(t, h.redis.Client, h.queue, h.stream) })
	} else {
		h.redis = testkit.RedisAt(t, o.redisURL)
	}
	p, err := producer.New(o.redisURL, producer.WithQueue(h.queue), producer.WithResultsStream(h.stream),
		producer.WithProjectID(testProject), producer.WithMaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	h.producer = p
	var backend Producer = p
	if o.wrap != nil {
		backend = o.wrap(p)
	}
	h.server, err = New(Config{Producer: backend, Addr: "127.0.0.1:0", Tokens: o.tokens, Logger: zerolog.New(h.logs)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h.server.Handler())
	t.Cleanup(ts.Close)
	h.url = ts.URL
	h.client = &http.Client{Transport: &validating{t: t, router: documentRouter(t), base: http.DefaultTransport}}
	return h
}

// documentRouter loads the embedded OpenAPI document, checks it, and routes requests by it.
func documentRouter(t testing.TB) routers.Router {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(document)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// validating is an http.RoundTripper that checks every response against the OpenAPI document:
// its route, its status (an undocumented status is an error), its headers and its body.
type validating struct {
	t      testing.TB
	router routers.Router
	base   http.RoundTripper
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	// The document's {key} is one path segment: route by the path as sent, percent-encoded
	// slashes and all, not by the decoded one.
	routed := req.Clone(req.Context())
	routed.URL.Path, routed.URL.RawPath = req.URL.EscapedPath(), ""
	route, params, err := v.router.FindRoute(routed)
	if err != nil {
		v.t.Errorf("%s %s: no route in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: routed, PathParams: params, Route: route, Options: opts},
		Status:                 resp.StatusCode, Header: resp.Header, Options: opts,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		v.t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// response is an answer of the intake, its body decoded as JSON when it is JSON.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// do sends a request through the validating client.
func (h *harness) do(method, path, contentType string, body []byte, header ...string) response {
	h.t.Helper()
	url := path
	if strings.HasPrefix(path, "/") {
		url = h.url + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			h.t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return r
}

func (h *harness) post(path string, body []byte, header ...string) response {
	h.t.Helper()
	return h.do(http.MethodPost, path, "application/json", body, header...)
}

// queued counts the tasks waiting on the harness's queue.
func (h *harness) queued() int {
	h.t.Helper()
	n, err := h.redis.Client.LLen(context.Background(), "asynq:{"+h.queue+"}:pending").Result()
	if err != nil {
		h.t.Fatal(err)
	}
	return int(n)
}

// orderJSON is a valid order for one server named name, under key (none when empty).
func orderJSON(key, name string) []byte {
	o := map[string]any{"request": cph.ExampleRequest(name)}
	if key != "" {
		o["idempotency_key"] = key
	}
	b, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

// batchJSON is a batch body of orders.
func batchJSON(name string, orders ...[]byte) []byte {
	raw := make([]json.RawMessage, len(orders))
	for i, o := range orders {
		raw[i] = o
	}
	b, err := json.Marshal(map[string]any{"name": name, "orders": raw})
	if err != nil {
		panic(err)
	}
	return b
}

// fieldPaths lists "path: message" of a problem's fields.
func fieldPaths(r response) []string {
	fields, _ := r.body["fields"].([]any)
	out := make([]string, len(fields))
	for i, f := range fields {
		m := f.(map[string]any)
		out[i] = m["path"].(string) + ": " + m["message"].(string)
	}
	return out
}

// held is a Producer whose EnqueueMany and EnqueueBatch wait, once entered, until the test
// releases them, and which tells when a Wait begins and how it ended.
type held struct {
	Producer
	once, waitOnce  sync.Once
	entered, resume chan struct{}
	// beforeEnqueue runs after the release, with the context the intake gave.
	beforeEnqueue func(ctx context.Context)
	// waiting is closed when a Wait begins; waitEnded receives why its context ended.
	waiting   chan struct{}
	waitEnded chan error
}

func newHeld(p Producer) *held {
	return &held{Producer: p, entered: make(chan struct{}), resume: make(chan struct{}),
		waiting: make(chan struct{}), waitEnded: make(chan error, 1)}
}

func (h *held) Wait(ctx context.Context, key string) (*producer.Result, error) {
	h.waitOnce.Do(func() { close(h.waiting) })
	r, err := h.Producer.Wait(ctx, key)
	select {
	case h.waitEnded <- ctx.Err():
	default:
	}
	return r, err
}

// fakeProducer answers every call with its result and err, for the paths that need Redis to
// fail in a particular way.
type fakeProducer struct {
	batch producer.BatchResult
	err   error
}

func (f fakeProducer) Enqueue(context.Context, producer.Order) (producer.Submission, error) {
	return producer.Submission{}, f.err
}

func (f fakeProducer) EnqueueMany(context.Context, []producer.Order) (producer.BatchResult, error) {
	return f.batch, f.err
}

func (f fakeProducer) EnqueueBatch(ctx context.Context, _ string, orders []producer.Order) (producer.BatchResult, error) {
	return f.EnqueueMany(ctx, orders)
}

func (f fakeProducer) Status(context.Context, string) (producer.Status, error) {
	return producer.Status{}, f.err
}
func (f fakeProducer) Wait(context.Context, string) (*producer.Result, error) { return nil, f.err }
func (f fakeProducer) Ping(context.Context) error                             { return f.err }

func (h *held) EnqueueMany(ctx context.Context, orders []producer.Order) (producer.BatchResult, error) {
	h.hold(ctx)
	return h.Producer.EnqueueMany(ctx, orders)
}

func (h *held) EnqueueBatch(ctx context.Context, name string, orders []producer.Order) (producer.BatchResult, error) {
	h.hold(ctx)
	return h.Producer.EnqueueBatch(ctx, name, orders)
}

// hold signals that an enqueue was entered and waits for the test's release.
func (h *held) hold(ctx context.Context) {
	h.once.Do(func() { close(h.entered) })
	<-h.resume
	if h.beforeEnqueue != nil {
		h.beforeEnqueue(ctx)
	}
}
