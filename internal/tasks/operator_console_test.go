package tasks

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestDeadLetterRefsAreNewestFirstWithTheirClass(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 10)
	ctx := context.Background()
	if refs, err := op.DeadLetterRefs(ctx); err != nil || len(refs) != 0 {
		t.Fatalf("no dead letters: %+v, %v", refs, err)
	}
	made := []struct {
		key   string
		class ErrorClass
	}{{"refs-1", ClassRejected}, {"refs-2", ClassInvalid}, {"refs-3", ClassRejected}}
	var ids []string
	for _, m := range made {
		ids = append(ids, deadLetterOf(t, op, m.key, m.class))
	}
	// A record that went while its index entry stayed (a delete racing the read) is left out.
	if err := tr.rdb.Del(ctx, op.keys.DeadLetter(ids[1])).Err(); err != nil {
		t.Fatal(err)
	}
	refs, err := op.DeadLetterRefs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range refs {
		got = append(got, r.TaskID+" "+string(r.Class))
		if r.FailedAt.IsZero() || (i > 0 && r.FailedAt.After(refs[i-1].FailedAt)) {
			t.Errorf("ref %d failed at %v: want a time, newest first", i, r.FailedAt)
		}
	}
	if want := []string{ids[2] + " rejected", ids[0] + " rejected"}; !slices.Equal(got, want) {
		t.Fatalf("refs = %v, want %v", got, want)
	}
}

func TestPendingAgesCountsByWait(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 10)
	ctx := context.Background()
	now := time.Now()
	bounds := []time.Duration{time.Minute, 10 * time.Minute, time.Hour}
	if total, older, err := op.PendingAges(ctx, now, bounds); err != nil || total != 0 || !slices.Equal(older, []int64{0, 0, 0}) {
		t.Fatalf("empty queue: %d %v %v", total, older, err)
	}
	// Tasks enqueued oldest first, as asynq's pending list has them; their waits are set the way
	// asynq records them (pending_since, unix ns).
	waits := []time.Duration{2 * time.Hour, 90 * time.Minute, 20 * time.Minute, 5 * time.Minute, 2 * time.Minute, 10 * time.Second, 0}
	client := asynq.NewClientFromRedisClient(tr.rdb)
	for i, wait := range waits {
		id := "age-" + string(rune('a'+i))
		if _, err := client.Enqueue(asynq.NewTask(TypePurchase, []byte(`{}`)), asynq.Queue(tr.queue), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		if err := tr.rdb.HSet(ctx, asynqTaskKeyPrefix(tr.queue)+id, "pending_since", now.Add(-wait).UnixNano()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	total, older, err := op.PendingAges(ctx, now, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if total != 7 || !slices.Equal(older, []int64{5, 3, 2}) {
		t.Fatalf("total %d, older than 1m/10m/1h %v; want 7, [5 3 2]", total, older)
	}
}
