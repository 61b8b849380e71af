package main

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// deadLetter submits an order under key and dead-letters it as a worker does: takes the key in
// the ledger, archives the task and fails the key, which writes the dead letter with the task's
// real payload.
func deadLetter(t *testing.T, tr *testRedis, key string, class tasks.ErrorClass) string {
	t.Helper()
	ctx := context.Background()
	wantExit(t, tr.enqueue(t, "submit", "-f", "testdata/order.json", "--key", key), 0)
	id := tasks.TaskID(key)
	info, err := tr.insp.GetTaskInfo(tr.queue, id)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tr.ledger.Acquire(ctx, tasks.AcquireArgs{Hold: tasks.Hold{Key: key, Owner: "worker-1"}, TaskID: id, Lease: time.Minute}); err != nil || c.State != tasks.ClaimAcquired {
		t.Fatalf("acquire %s: %+v, %v", key, c, err)
	}
	if err := tr.insp.ArchiveTask(tr.queue, id); err != nil {
		t.Fatal(err)
	}
	re := &tasks.ResultError{Class: class, Message: "failed as " + string(class)}
	dl := tasks.DeadLetter{TaskID: id, IdempotencyKey: key, Queue: tr.queue, Class: class, Error: re,
		Attempts: 3, MaxRetry: 10, FailedAt: time.Now().UTC(), Payload: info.Payload}
	if _, first, err := tr.ledger.Fail(ctx, tasks.Failure{LedgerKey: key, Owner: "worker-1", Result: resultJSON(t, key, tasks.StatusDeadLettered), DeadLetter: dl}); err != nil || !first {
		t.Fatalf("fail %s: %v, %v", key, first, err)
	}
	return id
}

func TestDLQListAndShow(t *testing.T) {
	tr := newTestRedis(t)
	authID := deadLetter(t, tr, "dl-auth", tasks.ClassAuth)
	rejectedID := deadLetter(t, tr, "dl-rejected", tasks.ClassRejected)

	cases := []struct {
		name string
		args []string
		want []string // task ids, in order
	}{
		{"all", []string{"dlq", "list"}, []string{authID, rejectedID}},
		{"by class", []string{"dlq", "list", "--class", "rejected"}, []string{rejectedID}},
		{"a class with none", []string{"dlq", "list", "--class", "ambiguous"}, nil},
		{"limited", []string{"dlq", "list", "--limit", "1"}, []string{authID}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tr.enqueue(t, c.args...)
			wantExit(t, r, 0)
			var got []string
			for _, l := range jsonLines(t, r.stdout) {
				got = append(got, l["task_id"].(string))
				for _, f := range []string{"idempotency_key", "class", "error", "attempts", "failed_at"} {
					if _, ok := l[f]; !ok {
						t.Errorf("line %v has no %s", l, f)
					}
				}
				if _, ok := l["payload"]; ok {
					t.Errorf("line %v has the payload; list leaves it to show", l)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("listed %v, want %v", got, c.want)
			}
		})
	}

	for _, arg := range []string{authID, "dl-auth"} {
		t.Run("show "+arg, func(t *testing.T) {
			r := tr.enqueue(t, "dlq", "show", arg)
			wantExit(t, r, 0)
			var got tasks.DeadLetter
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatal(err)
			}
			o, err := tasks.DecodeOrder(got.Payload)
			if err != nil || got.TaskID != authID || got.Class != tasks.ClassAuth || got.Attempts != 3 || o.Key() != "dl-auth" {
				t.Errorf("shown %+v (order %v, %v)", got, o, err)
			}
		})
	}
	t.Run("show unknown", func(t *testing.T) {
		r := tr.enqueue(t, "dlq", "show", "cph-0")
		wantExit(t, r, 1)
		if r.stderr != "enqueue: dlq show: no dead letter with task id or key \"cph-0\"\n" {
			t.Errorf("stderr = %q", r.stderr)
		}
	})
}

func TestDLQReplay(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	one := deadLetter(t, tr, "re-one", tasks.ClassExhausted)
	byKey := deadLetter(t, tr, "re-by-key", tasks.ClassExhausted)
	auth1 := deadLetter(t, tr, "re-auth-1", tasks.ClassAuth)
	auth2 := deadLetter(t, tr, "re-auth-2", tasks.ClassAuth)
	kept := deadLetter(t, tr, "re-kept", tasks.ClassRejected)

	cases := []struct {
		name     string
		args     []string
		code     int
		replayed []string
		stderr   []string
	}{
		{"by task id", []string{"dlq", "replay", one}, 0, []string{one}, nil},
		{"by key, going on past one not found", []string{"dlq", "replay", "nobody", "re-by-key"}, 1, []string{byKey}, []string{
			`enqueue: dlq replay: no dead letter with task id or key "nobody"`,
			"enqueue: dlq replay: 1 of 2 dead letters could not be replayed",
		}},
		{"--all of a class", []string{"dlq", "replay", "--all", "--class", "auth"}, 0, []string{auth1, auth2}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tr.enqueue(t, c.args...)
			wantExit(t, r, c.code)
			var got []string
			for _, l := range jsonLines(t, r.stdout) {
				if l["status"] != tasks.EnqueueEnqueued || l["queue"] != tr.queue {
					t.Errorf("line %v: want enqueued on %s", l, tr.queue)
				}
				got = append(got, l["task_id"].(string))
			}
			sort.Strings(got)
			sort.Strings(c.replayed)
			if strings.Join(got, " ") != strings.Join(c.replayed, " ") {
				t.Errorf("replayed %v, want %v", got, c.replayed)
			}
			if lines := stderrLines(t, r.stderr); strings.Join(lines, "\n") != strings.Join(c.stderr, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(c.stderr, "\n"))
			}
			for _, id := range c.replayed {
				info, err := tr.insp.GetTaskInfo(tr.queue, id)
				if err != nil || info.State != asynq.TaskStatePending || info.Retried != 0 {
					t.Errorf("task %s after replay: %+v, %v; want pending afresh", id, info, err)
				}
				if _, ok, err := tr.dls.Get(ctx, id); ok || err != nil {
					t.Errorf("dead letter %s still there after replay (%v)", id, err)
				}
			}
		})
	}
	if _, ok, _ := tr.dls.Get(ctx, kept); !ok {
		t.Errorf("the rejected dead letter was replayed; --class auth must leave it")
	}
	if e, _, _ := tr.ledger.Get(ctx, "re-one"); e.State != "pending" {
		t.Errorf("ledger of a replayed key = %+v, want pending again", e)
	}
}

func TestDLQDelete(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	one := deadLetter(t, tr, "del-one", tasks.ClassRejected)
	inv1 := deadLetter(t, tr, "del-invalid-1", tasks.ClassInvalid)
	inv2 := deadLetter(t, tr, "del-invalid-2", tasks.ClassInvalid)
	kept := deadLetter(t, tr, "del-kept", tasks.ClassAmbiguous)

	cases := []struct {
		name    string
		args    []string
		code    int
		deleted []string
		stderr  []string
	}{
		{"by key", []string{"dlq", "delete", "del-one"}, 0, []string{one}, nil},
		{"again: not found", []string{"dlq", "delete", one}, 1, nil, []string{
			`enqueue: dlq delete: no dead letter with task id or key "` + one + `"`,
			"enqueue: dlq delete: 1 of 1 dead letters could not be deleted",
		}},
		{"--all of a class", []string{"dlq", "delete", "--all", "--class", "invalid", "--yes"}, 0, []string{inv1, inv2}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tr.enqueue(t, c.args...)
			wantExit(t, r, c.code)
			var got []string
			for _, l := range jsonLines(t, r.stdout) {
				if l["status"] != "deleted" || l["idempotency_key"] == "" {
					t.Errorf("line %v: want deleted, with its key", l)
				}
				got = append(got, l["task_id"].(string))
			}
			sort.Strings(got)
			sort.Strings(c.deleted)
			if strings.Join(got, " ") != strings.Join(c.deleted, " ") {
				t.Errorf("deleted %v, want %v", got, c.deleted)
			}
			if lines := stderrLines(t, r.stderr); strings.Join(lines, "\n") != strings.Join(c.stderr, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(c.stderr, "\n"))
			}
			for _, id := range c.deleted {
				if _, ok, err := tr.dls.Get(ctx, id); ok || err != nil {
					t.Errorf("dead letter %s still there (%v)", id, err)
				}
				if _, err := tr.insp.GetTaskInfo(tr.queue, id); !errors.Is(err, asynq.ErrTaskNotFound) {
					t.Errorf("archived task %s: %v, want it deleted", id, err)
				}
			}
		})
	}
	if _, ok, _ := tr.dls.Get(ctx, kept); !ok {
		t.Errorf("the ambiguous dead letter was deleted; --class invalid must leave it")
	}
	if info, err := tr.insp.GetTaskInfo(tr.queue, kept); err != nil || info.State != asynq.TaskStateArchived {
		t.Errorf("archived task of the kept dead letter: %+v, %v", info, err)
	}
}
