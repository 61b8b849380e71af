package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/cph/cphsim"
)

func newTestOperator(t testing.TB, tr *testRedis, maxRetry int) *Operator {
	t.Helper()
	op, err := NewOperator(tr.rdb, OperatorConfig{Queue: tr.queue, ResultsStream: tr.stream, MaxRetry: maxRetry})
	if err != nil {
		t.Fatal(err)
	}
	return op // tr closes the Redis client
}

// deadLetterOf submits an order under key and dead-letters it as a worker does: takes the key in
// the ledger, archives the task and fails the key, which writes the dead letter with the task's
// real payload. Dead letters made one after the other are listed in that order.
func deadLetterOf(t *testing.T, op *Operator, key string, class ErrorClass) string {
	t.Helper()
	ctx := context.Background()
	o := order("op-" + strings.ReplaceAll(key, "/", "-"))
	o.IdempotencyKey = key
	if res, err := op.Producer().Enqueue(ctx, o); err != nil || res.Status != EnqueueEnqueued {
		t.Fatalf("enqueue %s: %+v, %v", key, res, err)
	}
	id := TaskID(key)
	info, err := op.Inspector().GetTaskInfo(op.Queue(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := op.Ledger().Acquire(ctx, AcquireArgs{Hold: testHold(key, "worker-1"), TaskID: id, Lease: time.Minute}); err != nil || c.State != ClaimAcquired {
		t.Fatalf("acquire %s: %+v, %v", key, c, err)
	}
	if err := op.Inspector().ArchiveTask(op.Queue(), id); err != nil {
		t.Fatal(err)
	}
	re := &ResultError{Class: class, Message: "failed as " + string(class)}
	result, _ := json.Marshal(Result{TaskID: id, IdempotencyKey: key, Status: StatusDeadLettered, Error: re})
	dl := DeadLetter{TaskID: id, IdempotencyKey: key, Queue: op.Queue(), Class: class, Error: re,
		Attempts: 3, MaxRetry: 10, FailedAt: time.Now().UTC(), Payload: info.Payload}
	if _, first, err := op.Ledger().Fail(ctx, Failure{LedgerKey: key, Owner: "worker-1", Result: result, DeadLetter: dl}); err != nil || !first {
		t.Fatalf("fail %s: %v, %v", key, first, err)
	}
	time.Sleep(2 * time.Millisecond) // the dead-letter index is scored by Redis's clock, in ms
	return id
}

// listed is what ListDeadLetters lists for q, as task ids.
func listed(t *testing.T, op *Operator, q DeadLetterQuery) []string {
	t.Helper()
	var ids []string
	for d, err := range op.ListDeadLetters(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.TaskID)
	}
	return ids
}

func TestNewOperator(t *testing.T) {
	tr := newTestRedis(t)
	cases := []struct {
		name string
		cfg  OperatorConfig
		want string // in the error; "" for none
	}{
		{"complete", OperatorConfig{Queue: "q", ResultsStream: "s", MaxRetry: 10, Retention: time.Hour}, ""},
		{"no retries", OperatorConfig{Queue: "q", ResultsStream: "s"}, ""},
		{"no queue", OperatorConfig{ResultsStream: "s"}, "the queue and the results stream must be named"},
		{"no stream", OperatorConfig{Queue: "q"}, "the queue and the results stream must be named"},
		{"a negative budget", OperatorConfig{Queue: "q", ResultsStream: "s", MaxRetry: -1}, "at least 0, got -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := NewOperator(tr.rdb, c.cfg)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("NewOperator = %v", err)
			case c.want == "":
				if op.Queue() != c.cfg.Queue || op.ResultsStream() != c.cfg.ResultsStream || op.Producer() == nil ||
					op.Ledger() == nil || op.DeadLetters() == nil || op.Inspector() == nil || op.Client() == nil || op.Redis() != tr.rdb {
					t.Fatalf("operator %+v does not hold its bundle", op)
				}
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Fatalf("NewOperator = %v, want an error saying %q", err, c.want)
			}
		})
	}
	if _, err := NewOperator(nil, OperatorConfig{Queue: "q", ResultsStream: "s"}); err == nil {
		t.Fatal("NewOperator without a Redis client: no error")
	}
}

func TestOperatorFindAndListDeadLetters(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 3)
	auth := deadLetterOf(t, op, "find/auth", ClassAuth)
	rej1 := deadLetterOf(t, op, "find/rejected-1", ClassRejected)
	rej2 := deadLetterOf(t, op, "find/rejected-2", ClassRejected)

	finds := []struct {
		name, idOrKey string
		want          string // task id; "" for not found
	}{
		{"by task id", rej1, rej1},
		{"by idempotency key", "find/rejected-1", rej1},
		{"another by key", "find/auth", auth},
		{"an unknown key", "find/none", ""},
		{"an unknown task id", TaskID("find/none"), ""},
		{"a key that was never dead-lettered", "", ""},
	}
	for _, c := range finds {
		t.Run("find "+c.name, func(t *testing.T) {
			d, err := op.FindDeadLetter(context.Background(), c.idOrKey)
			if c.want == "" {
				want := fmt.Sprintf("no dead letter with task id or key %q", c.idOrKey)
				if !errors.Is(err, ErrNotFound) || err.Error() != want {
					t.Fatalf("FindDeadLetter = %+v, %v; want ErrNotFound saying %q", d, err, want)
				}
				return
			}
			if err != nil || d.TaskID != c.want || len(d.Payload) == 0 {
				t.Fatalf("FindDeadLetter = %+v, %v; want %s with its payload", d, err, c.want)
			}
		})
	}

	lists := []struct {
		name string
		q    DeadLetterQuery
		want []string
	}{
		{"all, oldest first", DeadLetterQuery{}, []string{auth, rej1, rej2}},
		{"one class", DeadLetterQuery{Class: ClassRejected}, []string{rej1, rej2}},
		{"a class with none", DeadLetterQuery{Class: ClassAmbiguous}, nil},
		{"limited", DeadLetterQuery{Limit: 2}, []string{auth, rej1}},
		{"one class, limited", DeadLetterQuery{Class: ClassRejected, Limit: 1}, []string{rej1}},
		{"from an offset", DeadLetterQuery{Offset: 1}, []string{rej1, rej2}},
		{"a page", DeadLetterQuery{Offset: 1, Limit: 1}, []string{rej1}},
		{"an offset counts every class", DeadLetterQuery{Offset: 1, Class: ClassAuth}, nil},
		{"past the end", DeadLetterQuery{Offset: 3}, nil},
		{"a negative offset is the start", DeadLetterQuery{Offset: -5, Limit: 1}, []string{auth}},
	}
	for _, c := range lists {
		t.Run("list "+c.name, func(t *testing.T) {
			if got := listed(t, op, c.q); !slices.Equal(got, c.want) {
				t.Fatalf("ListDeadLetters(%+v) = %v, want %v", c.q, got, c.want)
			}
		})
	}
	if n, err := op.CountDeadLetters(context.Background()); err != nil || n != 3 {
		t.Fatalf("CountDeadLetters = %d, %v; want 3", n, err)
	}
}

// TestOperatorListDeadLettersAcrossPages lists more dead letters than one page of Redis reads.
func TestOperatorListDeadLettersAcrossPages(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 3)
	ctx := context.Background()
	n := 2*deadLetterPage + 37
	for i := range n {
		class := ClassRejected
		if i%3 == 0 {
			class = ClassAuth
		}
		key := fmt.Sprintf("page-%04d", i)
		dl := DeadLetter{TaskID: TaskID(key), IdempotencyKey: key, Class: class, FailedAt: time.Now()}
		if _, _, err := op.Ledger().Fail(ctx, Failure{LedgerKey: key, Result: []byte(`{}`), DeadLetter: dl}); err != nil {
			t.Fatal(err)
		}
	}
	auth := (n + 2) / 3
	cases := []struct {
		name string
		q    DeadLetterQuery
		want int
	}{
		{"all", DeadLetterQuery{}, n},
		{"one class over every page", DeadLetterQuery{Class: ClassAuth}, auth},
		{"the other class", DeadLetterQuery{Class: ClassRejected}, n - auth},
		{"limited past the first page", DeadLetterQuery{Limit: deadLetterPage + 1}, deadLetterPage + 1},
		{"one class, limited past the first page", DeadLetterQuery{Class: ClassRejected, Limit: deadLetterPage}, deadLetterPage},
		{"from the second page on", DeadLetterQuery{Offset: deadLetterPage + 10}, n - deadLetterPage - 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := listed(t, op, c.q)
			if len(got) != c.want {
				t.Fatalf("ListDeadLetters(%+v) listed %d, want %d", c.q, len(got), c.want)
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s listed twice", id)
				}
				seen[id] = true
			}
		})
	}
	// A caller that stops early stops the list.
	i := 0
	for range op.ListDeadLetters(ctx, DeadLetterQuery{}) {
		if i++; i == 3 {
			break
		}
	}
	if i != 3 {
		t.Fatalf("stopped after %d", i)
	}
}

func TestOperatorReplayAndDiscard(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 4)
	ctx := context.Background()
	replayed := deadLetterOf(t, op, "act/replay", ClassRejected)
	discarded := deadLetterOf(t, op, "act/discard", ClassAuth)
	kept := deadLetterOf(t, op, "act/kept", ClassAuth)

	cases := []struct {
		name    string
		act     func(idOrKey string) (string, error) // the task id acted on
		idOrKey string
		want    string // task id; "" for ErrNotFound
		check   func(t *testing.T)
	}{
		{"replay by key", replay(op), "act/replay", replayed, func(t *testing.T) {
			info, err := op.Inspector().GetTaskInfo(tr.queue, replayed)
			if err != nil || info.State != asynq.TaskStatePending || info.Retried != 0 || info.MaxRetry != NewBudget(4).TaskMaxRetry() {
				t.Fatalf("replayed task = %+v, %v; want pending with the operator's fresh budget", info, err)
			}
			if e, _, _ := op.Ledger().Get(ctx, "act/replay"); e.State != StatePending {
				t.Fatalf("ledger = %+v, want the key reopened", e)
			}
		}},
		{"replay again: its dead letter is gone", replay(op), "act/replay", "", nil},
		{"replay an unknown id", replay(op), "cph-00000000000000000000000000000000", "", nil},
		{"discard by task id", discard(op), discarded, discarded, func(t *testing.T) {
			if _, err := op.Inspector().GetTaskInfo(tr.queue, discarded); !errors.Is(err, asynq.ErrTaskNotFound) {
				t.Fatalf("archived task after discard: %v, want it gone", err)
			}
			if e, ok, _ := op.Ledger().Get(ctx, "act/discard"); !ok || e.State != StateFailed {
				t.Fatalf("ledger = %+v, %v; want the key kept, failed", e, ok)
			}
		}},
		{"discard again", discard(op), discarded, "", nil},
		{"discard an unknown key", discard(op), "act/none", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := c.act(c.idOrKey)
			if c.want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("= %s, %v; want ErrNotFound", id, err)
				}
				return
			}
			if err != nil || id != c.want {
				t.Fatalf("= %s, %v; want %s", id, err, c.want)
			}
			if _, err := op.FindDeadLetter(ctx, c.idOrKey); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the dead letter is still there: %v", err)
			}
			if c.check != nil {
				c.check(t)
			}
		})
	}
	if got := listed(t, op, DeadLetterQuery{}); !slices.Equal(got, []string{kept}) {
		t.Fatalf("dead letters left = %v, want only %s", got, kept)
	}
}

func replay(op *Operator) func(string) (string, error) {
	return func(idOrKey string) (string, error) {
		res, err := op.Replay(context.Background(), idOrKey, ReplayOptions{})
		if err == nil && res.Status != EnqueueEnqueued {
			return res.TaskID, fmt.Errorf("status %s", res.Status)
		}
		return res.TaskID, err
	}
}

func discard(op *Operator) func(string) (string, error) {
	return func(idOrKey string) (string, error) {
		d, err := op.Discard(context.Background(), idOrKey)
		return d.TaskID, err
	}
}

// TestOperatorDiscardOfADeadLetterGoneMeanwhile: a dead letter replayed or discarded by someone
// else between being found and being dropped is not there to drop. The console used to report
// such a delete as done (the order, replayed, was on the queue again); it is ErrNotFound.
func TestOperatorDiscardOfADeadLetterGoneMeanwhile(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 3)
	ctx := context.Background()
	deadLetterOf(t, op, "race", ClassAuth)
	found, err := op.FindDeadLetter(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Replay(ctx, "race", ReplayOptions{}); err != nil { // another operator, meanwhile
		t.Fatal(err)
	}
	err = op.discard(ctx, found)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "was dropped meanwhile") {
		t.Fatalf("discard = %v; want ErrNotFound saying it was dropped meanwhile", err)
	}
	if info, err := op.Inspector().GetTaskInfo(tr.queue, found.TaskID); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("the replayed task = %+v, %v; want it left pending", info, err)
	}
}

// TestOperatorReplayPassesRebuy: an ambiguous dead letter replayed without --rebuy is reconciled
// and never bought blind; with it, the unknown outcome is cleared.
func TestOperatorReplayPassesRebuy(t *testing.T) {
	for _, rebuy := range []bool{false, true} {
		t.Run(fmt.Sprintf("rebuy %v", rebuy), func(t *testing.T) {
			tr := newTestRedis(t)
			op := newTestOperator(t, tr, 3)
			ctx := context.Background()
			l := op.Ledger()
			mustAcquire(t, l, "amb", "a")
			if _, err := l.MarkPosting(ctx, testHold("amb", "a"), testPosting); err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(order("amb"))
			dl := DeadLetter{TaskID: TaskID("amb"), IdempotencyKey: "amb", Queue: tr.queue, Class: ClassAmbiguous, FailedAt: time.Now(), Payload: payload}
			if _, _, err := l.Fail(ctx, Failure{LedgerKey: "amb", Owner: "a", Result: []byte(`{}`), DeadLetter: dl}); err != nil {
				t.Fatal(err)
			}
			if _, err := op.Replay(ctx, "amb", ReplayOptions{Rebuy: rebuy}); err != nil {
				t.Fatal(err)
			}
			c := mustAcquire(t, l, "amb", "b")
			if rebuy != (c.Unresolved == nil) || (!rebuy && !c.Unresolved.NoRebuy) {
				t.Fatalf("after a replay with rebuy %v: unresolved %+v", rebuy, c.Unresolved)
			}
		})
	}
}

func TestOperatorStatusAndAwait(t *testing.T) {
	p := startPipeline(t, pipelineOptions{maxRetry: 2, sim: cphsim.Options{Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
		if strings.HasPrefix(c.ServerName, "refused") {
			return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
		}
		return cphsim.Fault{Kind: cphsim.FaultNone}
	}}})
	ctx := context.Background()
	bought := p.submit(order("bought"))
	refused := p.submit(order("refused"))
	p.wait(bought.IdempotencyKey)
	p.wait(refused.IdempotencyKey)
	p.waitTask(bought.TaskID)
	p.waitTask(refused.TaskID)
	if err := p.op.Pause(ctx); err != nil { // what is enqueued now stays queued
		t.Fatal(err)
	}
	queued := p.submit(order("queued"))

	awaits := []struct {
		name      string
		key       string
		timeout   time.Duration
		wantState LedgerState
		wantErr   error
		reported  string // a state reported while waiting, "" for any
	}{
		{"bought", bought.IdempotencyKey, time.Minute, StateSucceeded, nil, ""},
		{"dead-lettered", refused.IdempotencyKey, time.Minute, StateFailed, nil, ""},
		{"still queued", queued.IdempotencyKey, 500 * time.Millisecond, "", context.DeadlineExceeded, AwaitQueued},
		{"never submitted", "no-such-key", 300 * time.Millisecond, "", context.DeadlineExceeded, AwaitQueued},
	}
	for _, c := range awaits {
		t.Run("await "+c.name, func(t *testing.T) {
			actx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			var states []string
			e, err := p.op.Await(actx, c.key, func(s string) { states = append(states, s) })
			if !errors.Is(err, c.wantErr) || e.State != c.wantState || (c.wantErr == nil && len(e.Result) == 0) {
				t.Fatalf("Await = %+v, %v; want state %q, error %v", e, err, c.wantState, c.wantErr)
			}
			if c.reported != "" && !slices.Contains(states, c.reported) {
				t.Fatalf("reported %v, want %q among them", states, c.reported)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.op.Await(cancelled, bought.IdempotencyKey, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await on a cancelled context = %v", err)
	}

	statuses := []struct {
		name, idOrKey string
		check         func(*Status) bool
	}{
		{"bought, by key", bought.IdempotencyKey, func(s *Status) bool {
			return s.TaskID == bought.TaskID && s.State == "completed" && s.Ledger != nil && s.Ledger.State == StateSucceeded && s.Result != nil && s.DeadLetter == nil
		}},
		{"bought, by task id", bought.TaskID, func(s *Status) bool {
			return s.IdempotencyKey == bought.IdempotencyKey && s.State == "completed" && s.Ledger != nil
		}},
		{"dead-lettered", refused.IdempotencyKey, func(s *Status) bool {
			return s.State == "archived" && s.DeadLetter != nil && s.DeadLetter.Class == ClassRejected && s.Ledger != nil && s.Ledger.State == StateFailed
		}},
		{"queued, unknown to the ledger", queued.TaskID, func(s *Status) bool {
			return s.State == "pending" && s.IdempotencyKey == queued.IdempotencyKey && s.Ledger == nil && s.Queue == p.tr.queue
		}},
	}
	for _, c := range statuses {
		t.Run("status "+c.name, func(t *testing.T) {
			st, err := p.op.Status(ctx, c.idOrKey)
			if err != nil || !c.check(st) {
				t.Fatalf("Status = %+v, %v", st, err)
			}
		})
	}
	if st, err := p.op.Status(ctx, "no-such-key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Status of an unknown key = %+v, %v; want ErrNotFound", st, err)
	}

	if err := p.op.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if e, err := p.op.Await(actx, queued.IdempotencyKey, nil); err != nil || e.State != StateSucceeded {
		t.Fatalf("after unpausing: %+v, %v", e, err)
	}
}

func TestOperatorPause(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 3)
	ctx := context.Background()
	steps := []struct {
		name   string
		act    func(context.Context) error
		enq    bool // enqueue an order first, so that asynq knows the queue
		paused bool
	}{
		{"a new queue is not paused", nil, false, false},
		{"unpause a queue that is not paused", op.Unpause, false, false},
		{"pause a queue nothing was enqueued to", op.Pause, false, true},
		{"pause it again", op.Pause, false, true},
		{"a queue with an order", nil, true, true},
		{"unpause", op.Unpause, false, false},
		{"unpause again", op.Unpause, false, false},
		{"pause a queue with an order", op.Pause, false, true},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.enq {
				if _, err := op.Producer().Enqueue(ctx, order(fmt.Sprintf("pause-%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			if s.act != nil {
				if err := s.act(ctx); err != nil {
					t.Fatal(err)
				}
			}
			paused, err := op.Paused(ctx)
			if err != nil || paused != s.paused {
				t.Fatalf("Paused = %v, %v; want %v", paused, err, s.paused)
			}
			// asynq agrees, once it knows the queue: Paused reads asynq's own flag.
			info, err := op.QueueInfo()
			switch {
			case err != nil:
				t.Fatal(err)
			case (info == nil) != (i < 4):
				t.Fatalf("QueueInfo = %+v; want none until an order is enqueued", info)
			case info != nil && info.Paused != s.paused:
				t.Fatalf("asynq says paused %v, Paused %v", info.Paused, s.paused)
			}
		})
	}
}
