package console

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/testkit"
)

// TestChartCountsTheLastHourPerMinute: the chart counts the results stream's entries by the time in
// their ids, succeeded apart from dead-lettered, over the last hour; a later reading adds only what
// came since, and forgets the minutes that left the hour.
func TestChartCountsTheLastHourPerMinute(t *testing.T) {
	rdb := testkit.NewRedis(t).Client
	stream := "test:console:" + testkit.RandomID() + ":results"
	t.Cleanup(func() { testkit.DeleteKeys(t, rdb, "unused-"+testkit.RandomID(), stream) })
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 15, 4, 30, 0, time.UTC)
	seq := 0
	add := func(at time.Time, status string) {
		t.Helper()
		seq++
		id := fmt.Sprintf("%d-%d", at.UnixMilli(), seq)
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: id, Values: []any{"status", status, "idempotency_key", "k", "result", "{}"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	add(now.Add(-90*time.Minute), "succeeded") // before the hour
	add(now.Add(-59*time.Minute), "succeeded") // 14:05, the chart's first minute
	add(now.Add(-2*time.Minute), "succeeded")  // 15:02
	add(now.Add(-2*time.Minute+time.Second), "succeeded")
	add(now.Add(-2*time.Minute+2*time.Second), "dead_lettered")
	add(now, "succeeded") // 15:04, the current minute

	a := newActivity()
	v, err := a.chart(ctx, rdb, stream, now)
	if err != nil {
		t.Fatal(err)
	}
	if v.Succeeded != 4 || v.DeadLettered != 1 || v.Peak != 3 || len(v.Bars) != chartMinutes {
		t.Fatalf("chart: %d succeeded, %d dead-lettered, peak %d, %d bars", v.Succeeded, v.DeadLettered, v.Peak, len(v.Bars))
	}
	bar := func(v chartView, minute string) chartBar {
		for _, b := range v.Bars {
			if b.Minute == minute {
				return b
			}
		}
		t.Fatalf("no bar for %s", minute)
		return chartBar{}
	}
	if b := bar(v, "15:02"); b.Succeeded != 2 || b.DeadLettered != 1 || b.OkHeight+b.DeadHeight < chartHeight-1 || b.DeadY+b.DeadHeight != b.OkY {
		t.Errorf("the busiest minute's bar: %+v", b)
	}
	if v.Bars[0].Minute != "14:05" || v.Bars[chartMinutes-1].Minute != "15:04" || v.Bars[0].Succeeded != 1 {
		t.Errorf("the chart runs from %s (%d) to %s", v.Bars[0].Minute, v.Bars[0].Succeeded, v.Bars[chartMinutes-1].Minute)
	}

	// Ten minutes later: two more dead letters; 14:05 to 14:14 have left the hour.
	later := now.Add(10 * time.Minute)
	add(later.Add(-time.Second), "dead_lettered")
	add(later, "dead_lettered")
	v, err = a.chart(ctx, rdb, stream, later)
	if err != nil {
		t.Fatal(err)
	}
	if v.Succeeded != 3 || v.DeadLettered != 3 || bar(v, "15:14").DeadLettered != 2 {
		t.Fatalf("ten minutes later: %d succeeded, %d dead-lettered, 15:14 %+v", v.Succeeded, v.DeadLettered, bar(v, "15:14"))
	}
	if want := fmt.Sprintf("%d-%d", later.UnixMilli(), seq); a.lastID != want {
		t.Errorf("read up to %s, want %s", a.lastID, want)
	}
	if _, ok := a.counts[now.Add(-59*time.Minute).Unix()/60]; ok {
		t.Error("a minute that left the hour is still counted")
	}
}
