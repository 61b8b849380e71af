package console

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The batches page lists each batch with its counts and its progress to ready, newest first.
func TestBatchesShowTheirProgress(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	ctx := context.Background()
	if _, page := f.get(BasePath+"batches", nil); !strings.Contains(section(t, page, "batches"), "No batch was recorded") {
		t.Errorf("the empty batches page:\n%s", section(t, page, "batches"))
	}
	bought := order("batch-bought-1")
	if err := f.op.AddToBatch(ctx, "older", []string{bought.Key(), "never-submitted"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // the index keeps milliseconds
	if err := f.op.AddToBatch(ctx, "newer", []string{"queued-1"}); err != nil {
		t.Fatal(err)
	}
	r := f.submit(bought)
	f.wait(r.IdempotencyKey, "succeeded")

	_, page := f.get(BasePath+"batches", nil)
	s := section(t, page, "batches")
	newer, older := strings.Index(s, `data-batch="newer"`), strings.Index(s, `data-batch="older"`)
	if newer < 0 || older < 0 || newer > older {
		t.Fatalf("want both batches, the newer first:\n%s", s)
	}
	row := s[older:]
	// Two orders, one bought (no readiness tracking here: it stays bought), one never queued:
	// neither ready nor final, progress 0 of 2.
	for _, w := range []string{`<progress max="2" value="0">`, "<td>2</td>", `<td class="ready">0</td>`} {
		if !strings.Contains(row, w) {
			t.Errorf("batch older lacks %q:\n%s", w, row)
		}
	}
	if !strings.Contains(page, `href="/console/batches"`) {
		t.Error("the navigation does not link to the batches")
	}
}
