package tasks

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

func TestSweeperDeadLettersWhatAsynqArchivedAlone(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	ledger := NewLedger(tr.rdb, tr.keys, 0)
	dls := NewDeadLetters(tr.rdb, tr.keys)
	client := asynq.NewClientFromRedisClient(tr.rdb)
	insp := asynq.NewInspectorFromRedisClient(tr.rdb)
	h := NewHandler(HandlerConfig{Ledger: ledger, Queue: tr.queue, DefaultProjectID: testProject, Logger: zerolog.Nop()})
	sweeper := NewSweeper(h, insp, dls, time.Hour)

	archive := func(o *Order) string {
		t.Helper()
		payload, _ := json.Marshal(o)
		id := TaskID(o.Key())
		if _, err := client.Enqueue(asynq.NewTask(TypePurchase, payload), asynq.Queue(tr.queue), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		if err := insp.ArchiveTask(tr.queue, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Killed on its last attempt before any call: exhausted.
	quiet := archive(order("sweep-quiet"))
	// Killed on its last attempt inside a purchase call: ambiguous.
	midCall := order("sweep-mid-call")
	midID := archive(midCall)
	deadHold := Hold{Key: midCall.Key(), Owner: "dead-worker", ProjectID: midCall.ProjectID, ServerNames: serverNames(midCall.Request)}
	if _, err := ledger.Acquire(ctx, AcquireArgs{Hold: deadHold, TaskID: midID, Lease: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.MarkPosting(ctx, deadHold, PostingArgs{CallTimeout: time.Millisecond, Lease: time.Millisecond, NameHold: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// Bought by another copy: nothing to do.
	bought := order("sweep-bought")
	archive(bought)
	if _, _, _, err := ledger.Succeed(ctx, Success{Hold: Hold{Key: bought.Key()}, OrderID: "sweep-bought-order", Result: []byte(`{"status":"succeeded"}`)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the dead worker's lease runs out

	n, err := sweeper.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}
	for id, want := range map[string]ErrorClass{quiet: ClassExhausted, midID: ClassAmbiguous} {
		dl, ok, err := dls.Get(ctx, id)
		if err != nil || !ok || dl.Class != want || len(dl.Payload) == 0 {
			t.Errorf("%s: dead letter %+v %v %v; want class %s", id, dl, ok, err, want)
		}
	}
	if n, err := sweeper.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second Sweep = %d, %v; want 0", n, err)
	}
	var dead int
	for _, e := range streamEntries(t, tr) {
		if e.Status == StatusDeadLettered {
			dead++
		}
	}
	if dead != 2 {
		t.Fatalf("stream has %d dead_lettered entries, want 2", dead)
	}
}
