package producer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/strictjson"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
	"cphpurchase/internal/testkit/inproc"
	"cphpurchase/producer"
)

const testProject = "0b1c00000000000000000000producer"

// testClient is a client of the test's Redis (REDIS_URL or miniredis) on a queue and results
// stream of its own, deleted when the test ends.
type testClient struct {
	*producer.Client
	redis         *testkit.Redis
	queue, stream string
}

func newTestClient(t *testing.T) *testClient {
	t.Helper()
	r := testkit.NewRedis(t)
	id := testkit.RandomID()
	tc := &testClient{redis: r, queue: "test-" + id, stream: "test:" + id + ":results"}
	c, err := producer.New(r.URL, producer.WithQueue(tc.queue), producer.WithResultsStream(tc.stream),
		producer.WithProjectID(testProject), producer.WithMaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	tc.Client = c
	t.Cleanup(func() {
		testkit.DeleteKeys(t, r.Client, tc.queue, tc.stream)
		_ = c.Close()
	})
	return tc
}

// queued counts the tasks on the client's queue.
func (tc *testClient) queued(t *testing.T) int {
	t.Helper()
	n, err := tc.redis.Client.LLen(context.Background(), "asynq:{"+tc.queue+"}:pending").Result()
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestEnqueueOutcomes(t *testing.T) {
	tc := newTestClient(t)
	ctx := context.Background()
	first := producer.Order{IdempotencyKey: "k-1", Request: request("web-01")}
	sub, err := tc.Enqueue(ctx, first)
	if err != nil || sub.Status != producer.StatusEnqueued || sub.TaskID != tasks.TaskID("k-1") || sub.Queue != tc.queue {
		t.Fatalf("first enqueue = %+v, %v", sub, err)
	}
	tests := []struct {
		name       string
		order      producer.Order
		wantStatus string
		wantErr    error
		wantFields []string // "path: message" prefixes
	}{
		{"duplicate", first, producer.StatusDuplicate, producer.ErrDuplicate, nil},
		{"conflict", producer.Order{IdempotencyKey: "k-1", Request: request("web-02")}, producer.StatusConflict, producer.ErrConflict, nil},
		{"derived key", producer.Order{Request: request("web-03")}, producer.StatusEnqueued, nil, nil},
		{"invalid, every problem", producer.Order{Request: json.RawMessage(`{"server_name": "w", "count": 11, "colour": 1}`)}, "", producer.ErrInvalid,
			[]string{"request.colour: unknown field"}},
		{"rule broken", producer.Order{Request: withCount(request("web-04"), 11)}, "", producer.ErrInvalid,
			[]string{"request.count: must be between 1 and 10"}},
		{"request not JSON", producer.Order{Request: json.RawMessage(`{"server_name": `)}, "", producer.ErrInvalid,
			[]string{"request: is not valid JSON"}},
		{"key too long", producer.Order{IdempotencyKey: strings.Repeat("k", 129), Request: request("web-05")}, "", producer.ErrInvalid,
			[]string{"idempotency_key: must be at most 128 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tc.queued(t)
			sub, err := tc.Enqueue(ctx, tt.order)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if sub.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", sub.Status, tt.wantStatus)
			}
			var ie *producer.InvalidError
			if errors.As(err, &ie) {
				for _, want := range tt.wantFields {
					if !containsField(ie.Fields, want) {
						t.Errorf("fields %v lack %q", ie.Fields, want)
					}
				}
			}
			wantQueued := before
			if tt.wantStatus == producer.StatusEnqueued {
				wantQueued++
			}
			if got := tc.queued(t); got != wantQueued {
				t.Errorf("%d tasks queued, want %d", got, wantQueued)
			}
		})
	}
}

// withCount returns req with its count replaced.
func withCount(req json.RawMessage, n int) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(req, &m); err != nil {
		panic(err)
	}
	m["count"] = n
	b, _ := json.Marshal(m)
	return b
}

func containsField(fields []producer.FieldError, prefix string) bool {
	for _, f := range fields {
		if strings.HasPrefix(f.String(), prefix) {
			return true
		}
	}
	return false
}

func TestEnqueueManyIsAllOrNothing(t *testing.T) {
	tc := newTestClient(t)
	ctx := context.Background()

	// An invalid order refuses the batch; its problems name it by index.
	res, err := tc.EnqueueMany(ctx, []producer.Order{
		{Request: request("b-1")}, {Request: withCount(request("b-2"), 0)}, {Request: json.RawMessage(`{"server_nam": "x"}`)},
	})
	var ie *producer.InvalidError
	if !errors.As(err, &ie) || res.Invalid != 2 || res.Enqueued != 0 {
		t.Fatalf("invalid batch = %+v, %v", res, err)
	}
	if !containsField(ie.Fields, "orders[1].request.count:") || !containsField(ie.Fields, "orders[2].request.server_nam: unknown field") {
		t.Errorf("fields %v", ie.Fields)
	}
	// One key for two purchases in the same batch refuses it whole.
	res, err = tc.EnqueueMany(ctx, []producer.Order{
		{IdempotencyKey: "same", Request: request("b-1")}, {Request: request("b-3")}, {IdempotencyKey: "same", Request: request("b-2")},
	})
	var ce *producer.ConflictError
	if !errors.As(err, &ce) || res.Conflicts != 1 || res.Orders[2].Status != producer.StatusConflict || res.Orders[0].Status != "" {
		t.Fatalf("conflicting batch = %+v, %v", res, err)
	}
	if n := tc.queued(t); n != 0 {
		t.Fatalf("%d tasks queued after refused batches, want 0", n)
	}

	// A valid batch: duplicates of its own orders are counted, not enqueued (which of the two
	// copies is enqueued is a race between the enqueuers).
	res, err = tc.EnqueueMany(ctx, []producer.Order{{Request: request("b-1")}, {Request: request("b-2")}, {Request: request("b-1")}})
	if err != nil || res.Total != 3 || res.Enqueued != 2 || res.Duplicates != 1 || res.Orders[1].Status != producer.StatusEnqueued {
		t.Fatalf("batch = %+v, %v", res, err)
	}
	// A key queued, not yet taken by a worker, reused for another purchase is found as it is
	// enqueued: counted, and the others go ahead.
	if _, err := tc.Enqueue(ctx, producer.Order{IdempotencyKey: "queued", Request: request("q-1")}); err != nil {
		t.Fatal(err)
	}
	res, err = tc.EnqueueMany(ctx, []producer.Order{{Request: request("q-2")}, {IdempotencyKey: "queued", Request: request("q-3")}})
	if !errors.As(err, &ce) || res.Enqueued != 1 || res.Conflicts != 1 || ce.Keys[0] != "queued" {
		t.Fatalf("batch with a queued conflict = %+v, %v", res, err)
	}
}

func TestStatusAndWaitThroughAWorker(t *testing.T) {
	tc := newTestClient(t)
	w, err := inproc.Start(inproc.Config{RedisURL: tc.redis.URL, Queue: tc.queue, ResultsStream: tc.stream, ProjectID: testProject})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	if _, err := tc.Status(ctx, "nobody"); !errors.Is(err, producer.ErrNotFound) {
		t.Fatalf("status of an unknown key: %v", err)
	}
	if _, err := tc.Wait(ctx, "nobody"); !errors.Is(err, producer.ErrNotFound) {
		t.Fatalf("wait for an unknown key: %v", err)
	}
	sub, err := tc.Enqueue(ctx, producer.Order{IdempotencyKey: "s-1", Request: request("s-1"), Metadata: map[string]string{"row": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, testkit.EventuallyTimeout)
	defer cancel()
	res, err := tc.Wait(wctx, sub.IdempotencyKey)
	if err != nil || !res.Succeeded() || res.OrderID == "" || res.Metadata["row"] != "1" || res.ProjectID != testProject {
		t.Fatalf("wait = %+v, %v", res, err)
	}
	st, err := tc.Status(ctx, "s-1")
	if err != nil || !st.Done || st.Result == nil || st.Result.OrderID != res.OrderID || st.PurchaseCalls != 1 || st.TaskID != sub.TaskID {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if n := len(w.Sim.OrdersFor("s-1")); n != 1 {
		t.Fatalf("simulator has %d orders, want 1", n)
	}
}

// TestTypesMirrorTheContract: this package's result and dead letter carry every field of the
// pipeline's, under the same JSON names, so that nothing a worker records is lost to a producer.
func TestTypesMirrorTheContract(t *testing.T) {
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	re := &tasks.ResultError{Class: tasks.ClassAmbiguous, Code: "CPS.0006", HTTPStatus: 400, Message: "m",
		Fields: []strictjson.FieldError{{Path: "request.count", Message: "m"}}, Candidates: []string{"CS1"}}
	for _, v := range []any{
		tasks.Result{TaskID: "t", IdempotencyKey: "k", ProjectID: "p", Status: "succeeded", OrderID: "o", RequestID: "r",
			ProductID: "pr", ServerIDs: []string{"s"}, Reconciled: true, Attempts: 2, Error: re, Metadata: map[string]string{"a": "b"}, FinishedAt: now},
		tasks.DeadLetter{TaskID: "t", IdempotencyKey: "k", Queue: "q", Class: tasks.ClassAmbiguous, Error: re, Attempts: 3, MaxRetry: 4,
			FailedAt: now, PurchaseCalls: 2, Unresolved: &tasks.Unresolved{Started: now, Ends: now}, Payload: json.RawMessage(`{"a":1}`)},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var mirror any = &producer.Result{}
		if _, ok := v.(tasks.DeadLetter); ok {
			mirror = &producer.DeadLetter{}
		}
		dec := json.NewDecoder(bytes.NewReader(want))
		dec.DisallowUnknownFields()
		if err := dec.Decode(mirror); err != nil {
			t.Fatalf("%T does not mirror %T: %v", mirror, v, err)
		}
		got, _ := json.Marshal(mirror)
		var a, b any
		_ = json.Unmarshal(want, &a)
		_ = json.Unmarshal(got, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%T:\n got %s\nwant %s", mirror, got, want)
		}
	}
}

func TestNewNeverRepeatsTheURL(t *testing.T) {
	for _, url := range []string{"redis://:s3cret@host:notaport/0", "http://user:s3cret@host", "redis://:s3cret@host/0?nope=1"} {
		_, err := producer.New(url)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) = %v; want an error without the password", url, err)
		}
	}
	if _, err := producer.New("redis://127.0.0.1:6379/0", producer.WithMaxRetry(-1)); err == nil {
		t.Error("a negative retry budget was accepted")
	}
}

// EnqueueBatch records the keys of a valid batch as its members, each once however often the
// batch is submitted, and records nothing for a batch it refuses.
func TestEnqueueBatchRecordsItsMembers(t *testing.T) {
	tc := newTestClient(t)
	ctx := context.Background()
	op, err := tasks.NewOperator(tc.redis.Client, tasks.OperatorConfig{Queue: tc.queue, ResultsStream: tc.stream, MaxRetry: 3})
	if err != nil {
		t.Fatal(err)
	}
	members := func(name string) int {
		t.Helper()
		rep, err := op.Batch(ctx, name)
		if errors.Is(err, tasks.ErrNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return rep.Counts.Total
	}

	var ie *producer.InvalidError
	if _, err := tc.EnqueueBatch(ctx, "", []producer.Order{{Request: request("nb-1")}}); !errors.As(err, &ie) || ie.Fields[0].Path != "batch" {
		t.Fatalf("a batch without a name: %v; want invalid at batch", err)
	}
	if _, err := tc.EnqueueBatch(ctx, "refused", []producer.Order{{Request: request("r-1")}, {Request: withCount(request("r-2"), 0)}}); !errors.As(err, &ie) {
		t.Fatalf("a batch with an invalid order: %v; want invalid", err)
	}
	if n := members("refused"); n != 0 {
		t.Fatalf("a refused batch recorded %d members, want none", n)
	}
	batch := []producer.Order{{Request: request("m-1")}, {Request: request("m-2")}, {IdempotencyKey: "m-3", Request: request("m-3")}}
	for run := range 2 {
		res, err := tc.EnqueueBatch(ctx, "night-run", batch)
		if err != nil || res.Enqueued+res.Duplicates != 3 {
			t.Fatalf("run %d: %+v, %v", run, res, err)
		}
		if n := members("night-run"); n != 3 {
			t.Fatalf("run %d: the batch counts %d members, want 3", run, n)
		}
	}
}
