package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// activeTasksShown bounds the in-flight list: a worker fleet runs at most its total concurrency.
const activeTasksShown = 200

// pendingAgeBounds split the pending tasks by how long they have waited.
var pendingAgeBounds = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// overviewView is the overview page: the whole fleet at a glance.
type overviewView struct {
	frame
	Flash *flash
	// Errors are the sections that could not be read; the others still show.
	Errors []string
	// QueueInfo is nil while the queue does not exist (nothing was ever enqueued to it).
	QueueInfo    *asynq.QueueInfo
	DeadCount    int64
	PendingAges  []ageCount
	Chart        chartView
	Active       []activeView
	Results      []resultView
	ResultsLimit int
}

// ageCount is how many pending tasks have waited for an age range.
type ageCount struct {
	Label string
	N     int64
}

// activeView is one task a worker holds right now.
type activeView struct {
	ID, Type, Key, ServerName, LastErr string
	Retried, Budget                    int
	Orphaned                           bool
	// Foreign is a task of another type than a purchase order, which the handler dead-letters.
	Foreign bool
}

// resultView is one entry of the results stream.
type resultView struct {
	EntryID string
	Status  string
	Key     string
	TaskID  string
	OrderID string
	// Class, Code and Message are set on dead_lettered results.
	Class, Code, Message string
	Attempts             int
	Reconciled           bool
	FinishedAt           time.Time
	// Order is what the order's page is found by (orderRef).
	Order string
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	f, ok := c.refreshingFrame(w, r, "Overview")
	if !ok {
		return
	}
	ctx := r.Context()
	v := overviewView{frame: f, Flash: c.flashes.of(r), ResultsLimit: c.cfg.RecentResults}
	fail := func(section string, err error) { v.Errors = append(v.Errors, section+": "+err.Error()) }

	var err error
	if v.QueueInfo, err = c.op.QueueInfo(); err != nil {
		fail("queue", err)
	}
	if v.DeadCount, err = c.op.CountDeadLetters(ctx); err != nil {
		fail("dead letters", err)
	}
	if v.PendingAges, err = c.pendingAges(ctx); err != nil {
		fail("pending ages", err)
	}
	if v.Chart, err = c.activity.chart(ctx, c.op.Redis(), c.op.ResultsStream(), time.Now()); err != nil {
		fail("chart", err)
	}
	if v.Active, err = c.active(); err != nil {
		fail("in flight", err)
	}
	if v.Results, err = c.recentResults(ctx); err != nil {
		fail("results", err)
	}
	c.render(w, http.StatusOK, "overview", v)
}

// pendingAges counts the pending tasks by how long they have waited, one range a bound.
func (c *Console) pendingAges(ctx context.Context) ([]ageCount, error) {
	total, older, err := c.op.PendingAges(ctx, time.Now(), pendingAgeBounds)
	if err != nil {
		return nil, err
	}
	out := make([]ageCount, 0, len(pendingAgeBounds)+1)
	newer, label := total, "under "+humanDuration(pendingAgeBounds[0])
	for i, b := range pendingAgeBounds {
		out = append(out, ageCount{Label: label, N: max(newer-older[i], 0)})
		newer = older[i]
		if i+1 < len(pendingAgeBounds) {
			label = humanDuration(b) + "–" + humanDuration(pendingAgeBounds[i+1])
		}
	}
	return append(out, ageCount{Label: humanDuration(pendingAgeBounds[len(pendingAgeBounds)-1]) + " or more", N: newer}), nil
}

// active lists the tasks workers are processing now.
func (c *Console) active() ([]activeView, error) {
	infos, err := c.op.Inspector().ListActiveTasks(c.op.Queue(), asynq.PageSize(activeTasksShown))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]activeView, 0, len(infos))
	for _, t := range infos {
		a := activeView{ID: t.ID, Type: t.Type, LastErr: t.LastErr, Retried: t.Retried, Budget: tasks.BudgetOfTask(t.MaxRetry).Max, Orphaned: t.IsOrphaned, Foreign: t.Type != tasks.TypePurchase}
		if o, err := tasks.DecodeOrder(t.Payload); err == nil {
			a.Key = o.Key()
			if o.Request != nil {
				a.ServerName = o.Request.ServerName
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// recentResults reads the newest entries of the results stream, newest first.
func (c *Console) recentResults(ctx context.Context) ([]resultView, error) {
	msgs, err := c.op.Redis().XRevRangeN(ctx, c.op.ResultsStream(), "+", "-", int64(c.cfg.RecentResults)).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.op.ResultsStream(), err)
	}
	out := make([]resultView, 0, len(msgs))
	for _, m := range msgs {
		v := resultView{EntryID: m.ID}
		v.Key, _ = m.Values["idempotency_key"].(string)
		v.Status, _ = m.Values["status"].(string)
		var res tasks.Result
		if raw, _ := m.Values["result"].(string); json.Unmarshal([]byte(raw), &res) == nil {
			v.TaskID, v.OrderID, v.Attempts, v.Reconciled, v.FinishedAt = res.TaskID, res.OrderID, res.Attempts, res.Reconciled, res.FinishedAt
			if res.Error != nil {
				v.Class, v.Code, v.Message = string(res.Error.Class), res.Error.Code, res.Error.Message
			}
		} else {
			v.Message = "the entry's result is not valid JSON"
		}
		v.Order = orderRef(v.Key, v.TaskID)
		out = append(out, v)
	}
	return out, nil
}
