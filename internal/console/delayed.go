package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// The lists of tasks that wait for a time, as they appear in their URLs.
const (
	stateRetry     = "retry"
	stateScheduled = "scheduled"
)

// delayedPerPage is how many tasks a page of retries or scheduled tasks lists.
const delayedPerPage = 25

// delayedView is a page of the tasks that wait for a time: the retries (each with the error it
// failed with and when it is tried again) or the scheduled tasks, the soonest first.
type delayedView struct {
	frame
	Errors           []string
	State            string
	Tasks            []delayedTask
	Total            int
	Page, Pages      int
	PrevURL, NextURL string
}

// delayedTask is one task of a delayedView.
type delayedTask struct {
	ID, Key, ServerName, Order string
	Retried, Budget            int
	LastErr                    string
	LastFailedAt, NextAt       time.Time
}

// delayed lists the retry or the scheduled tasks, a page at a time.
func (c *Console) delayed(w http.ResponseWriter, r *http.Request) {
	state := r.PathValue("state")
	if state != stateRetry && state != stateScheduled {
		http.NotFound(w, r)
		return
	}
	page, ok := c.pageParam(w, r)
	if !ok {
		return
	}
	title := "Retries"
	if state == stateScheduled {
		title = "Scheduled"
	}
	f, ok := c.refreshingFrame(w, r, title)
	if !ok {
		return
	}
	v := delayedView{frame: f, State: state, Page: page}
	info, err := c.op.QueueInfo()
	if err != nil {
		v.Errors = append(v.Errors, "queue: "+err.Error())
	}
	if info != nil {
		v.Total = info.Retry
		if state == stateScheduled {
			v.Total = info.Scheduled
		}
	}
	list := c.op.Inspector().ListRetryTasks
	if state == stateScheduled {
		list = c.op.Inspector().ListScheduledTasks
	}
	infos, err := list(c.op.Queue(), asynq.Page(page), asynq.PageSize(delayedPerPage))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		v.Errors = append(v.Errors, state+": "+err.Error())
	}
	for _, t := range infos {
		d := delayedTask{ID: t.ID, Retried: t.Retried, Budget: tasks.BudgetOfTask(t.MaxRetry).Max, LastErr: t.LastErr, LastFailedAt: t.LastFailedAt, NextAt: t.NextProcessAt}
		if o, err := tasks.DecodeOrder(t.Payload); err == nil {
			d.Key = o.Key()
			if o.Request != nil {
				d.ServerName = o.Request.ServerName
			}
		}
		d.Order = orderRef(d.Key, t.ID)
		v.Tasks = append(v.Tasks, d)
	}
	v.Pages = max((v.Total+delayedPerPage-1)/delayedPerPage, 1)
	link := func(page int) string {
		q := url.Values{}
		if page > 1 {
			q.Set("page", strconv.Itoa(page))
		}
		return pageURL(BasePath+"tasks/"+state, q)
	}
	if page > 1 {
		v.PrevURL = link(min(page-1, v.Pages))
	}
	if page < v.Pages {
		v.NextURL = link(page + 1)
	}
	c.render(w, http.StatusOK, "delayed", v)
}
