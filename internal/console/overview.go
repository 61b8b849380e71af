package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// deadLettersPerPage is how many dead letters the overview lists at once.
const deadLettersPerPage = 100

// activeTasksShown bounds the in-flight list: a worker fleet runs at most its total concurrency.
const activeTasksShown = 200

// overviewView is the overview page: the whole fleet at a glance.
type overviewView struct {
	frame
	// Flash says what the last action did.
	Flash string
	// Errors are the sections that could not be read; the others still show.
	Errors []string
	// QueueInfo is nil while the queue does not exist (nothing was ever enqueued to it).
	QueueInfo   *asynq.QueueInfo
	Active      []activeView
	DeadLetters []tasks.DeadLetter
	DeadCount   int64
	// DeadOffset is where the listed dead letters start; Prev and Next page, -1 when none.
	DeadOffset, PrevOffset, NextOffset int64
	Results                            []resultView
	ResultsLimit                       int
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
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := overviewView{frame: c.frame("Overview"), ResultsLimit: c.cfg.RecentResults, PrevOffset: -1, NextOffset: -1}
	v.Flash = flash(r)
	fail := func(section string, err error) { v.Errors = append(v.Errors, section+": "+err.Error()) }

	var err error
	if v.QueueInfo, err = c.op.QueueInfo(); err != nil {
		fail("queue", err)
	}
	if v.Active, err = c.active(); err != nil {
		fail("in flight", err)
	}
	if v.DeadCount, err = c.op.CountDeadLetters(ctx); err != nil {
		fail("dead letters", err)
	}
	v.DeadOffset, _ = strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	v.DeadOffset = max(v.DeadOffset, 0)
	for d, err := range c.op.ListDeadLetters(ctx, tasks.DeadLetterQuery{Offset: v.DeadOffset, Limit: deadLettersPerPage}) {
		if err != nil {
			fail("dead letters", err)
			break
		}
		v.DeadLetters = append(v.DeadLetters, d)
	}
	if v.DeadOffset > 0 {
		v.PrevOffset = max(v.DeadOffset-deadLettersPerPage, 0)
	}
	if v.DeadOffset+deadLettersPerPage < v.DeadCount {
		v.NextOffset = v.DeadOffset + deadLettersPerPage
	}
	if v.Results, err = c.recentResults(ctx); err != nil {
		fail("results", err)
	}
	c.render(w, http.StatusOK, "overview", v)
}

// flash is the sentence for the action that redirected here (Post/Redirect/Get), from the query.
func flash(r *http.Request) string {
	q := r.URL.Query()
	task := q.Get("task")
	switch q.Get("done") {
	case "replayed":
		if q.Get("status") == tasks.EnqueueDuplicate {
			return fmt.Sprintf("Replay of %s: it was already on the queue; its dead letter is dropped.", task)
		}
		return fmt.Sprintf("Replayed %s: it is on the queue again with a fresh retry budget.", task)
	case "deleted":
		return fmt.Sprintf("Deleted the dead letter %s.", task)
	}
	return ""
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
		out = append(out, v)
	}
	return out, nil
}
