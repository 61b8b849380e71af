package console

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/tasks"
)

// chartMinutes is how far back the overview's chart looks.
const chartMinutes = 60

// activityReadBatch is how many results stream entries one read takes.
const activityReadBatch = 1000

// activity counts the results stream's entries per minute, succeeded and dead-lettered, over the
// last hour: the overview's chart. A stream entry's id is the time it was added (ms-seq, growing),
// so the counts need no store of their own, and after the first reading only the entries added
// since the last one are read: an overview that refreshes every few seconds reads a few entries,
// not the hour.
type activity struct {
	mu sync.Mutex
	// stream is the stream the counts are of; read from after lastID.
	stream string
	lastID string
	// counts by unix minute; minutes older than the chart are dropped.
	counts map[int64]*minuteCount
}

type minuteCount struct{ succeeded, deadLettered int }

func newActivity() *activity { return &activity{counts: map[int64]*minuteCount{}} }

// chartView is the chart as the template draws it: one bar a minute, oldest first, the current
// minute last.
type chartView struct {
	Bars                     []chartBar
	Succeeded, DeadLettered  int
	Peak                     int
	Width, Height, BarHeight int
}

// chartBar is one minute: its succeeded part stacked under its dead-lettered part, in SVG units.
type chartBar struct {
	X, Width                int
	OkY, OkHeight           int
	DeadY, DeadHeight       int
	Minute                  string
	Succeeded, DeadLettered int
}

const (
	chartBarWidth = 10
	chartHeight   = 80
)

// chart reads the entries added since the last reading and returns the last hour at now.
func (a *activity) chart(ctx context.Context, rdb redis.UniversalClient, stream string, now time.Time) (chartView, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	first := now.Truncate(time.Minute).Add(-(chartMinutes - 1) * time.Minute)
	if a.stream != stream {
		a.stream, a.lastID, a.counts = stream, "", map[int64]*minuteCount{}
	}
	from := strconv.FormatInt(first.UnixMilli(), 10)
	if a.lastID != "" && streamIDAfter(a.lastID, from) {
		from = nextStreamID(a.lastID)
	}
	for {
		msgs, err := rdb.XRangeN(ctx, stream, from, "+", activityReadBatch).Result()
		if err != nil {
			return chartView{}, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, m := range msgs {
			ms, _, _ := strings.Cut(m.ID, "-")
			t, err := strconv.ParseInt(ms, 10, 64)
			if err != nil {
				continue
			}
			minute := t / 60000
			c := a.counts[minute]
			if c == nil {
				c = &minuteCount{}
				a.counts[minute] = c
			}
			switch m.Values["status"] {
			case tasks.StatusSucceeded:
				c.succeeded++
			case tasks.StatusDeadLettered:
				c.deadLettered++
			}
			a.lastID = m.ID
		}
		if len(msgs) < activityReadBatch {
			break
		}
		from = nextStreamID(a.lastID)
	}
	for minute := range a.counts {
		if minute < first.Unix()/60 {
			delete(a.counts, minute)
		}
	}
	return a.draw(first), nil
}

// draw lays the counts of the chartMinutes minutes from first out as bars.
func (a *activity) draw(first time.Time) chartView {
	v := chartView{Width: chartMinutes * chartBarWidth, Height: chartHeight + 2}
	for i := range chartMinutes {
		c := a.counts[first.Unix()/60+int64(i)]
		if c != nil {
			v.Succeeded += c.succeeded
			v.DeadLettered += c.deadLettered
			v.Peak = max(v.Peak, c.succeeded+c.deadLettered)
		}
	}
	for i := range chartMinutes {
		at := first.Add(time.Duration(i) * time.Minute)
		b := chartBar{X: i * chartBarWidth, Width: chartBarWidth - 2, Minute: at.UTC().Format("15:04")}
		if c := a.counts[at.Unix()/60]; c != nil && v.Peak > 0 {
			b.Succeeded, b.DeadLettered = c.succeeded, c.deadLettered
			b.OkHeight = scaled(c.succeeded, v.Peak)
			b.DeadHeight = scaled(c.deadLettered, v.Peak)
		}
		b.OkY = v.Height - b.OkHeight
		b.DeadY = b.OkY - b.DeadHeight
		v.Bars = append(v.Bars, b)
	}
	return v
}

// scaled is n of peak as a bar height; a minute with any count shows at least a sliver.
func scaled(n, peak int) int {
	if n == 0 {
		return 0
	}
	return max(n*chartHeight/peak, 1)
}

// nextStreamID is the smallest stream id after id (ms-seq), for reading on from it without
// XRANGE's exclusive bound.
func nextStreamID(id string) string {
	ms, seq, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseUint(seq, 10, 64)
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

// streamIDAfter reports whether the stream id id is at or after the time from (ms).
func streamIDAfter(id, from string) bool {
	ms, _, _ := strings.Cut(id, "-")
	a, _ := strconv.ParseInt(ms, 10, 64)
	b, _ := strconv.ParseInt(from, 10, 64)
	return a >= b
}
