package tasks

import (
	"context"
	"testing"
	"time"
)

// Batches lists the batches newest first, each with its counts, at most limit of them.
func TestOperatorBatchesNewestFirst(t *testing.T) {
	tr := newTestRedis(t)
	op := newTestOperator(t, tr, 3)
	ctx := context.Background()
	for _, b := range []struct {
		name string
		keys []string
	}{{"october", []string{"o-1", "o-2"}}, {"november", []string{"n-1"}}, {"december", []string{"d-1", "d-2", "d-3"}}} {
		if err := op.AddToBatch(ctx, b.name, b.keys); err != nil {
			t.Fatal(err)
		}
		// The index keeps milliseconds: batches recorded in one would tie.
		time.Sleep(2 * time.Millisecond)
	}
	all, err := op.Batches(ctx, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("batches = %+v, %v", all, err)
	}
	for i, want := range []struct {
		name  string
		total int
	}{{"december", 3}, {"november", 1}, {"october", 2}} {
		if all[i].Name != want.name || all[i].Counts.Total != want.total || all[i].Counts.Queued != want.total {
			t.Errorf("batch %d = %+v; want %s with %d queued", i, all[i], want.name, want.total)
		}
	}
	if two, err := op.Batches(ctx, 2); err != nil || len(two) != 2 || two[1].Name != "november" {
		t.Fatalf("the newest two = %+v, %v", two, err)
	}
}
