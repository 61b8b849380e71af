package console

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// The actions on a dead letter, as they appear in its URLs.
const (
	actionReplay = "replay"
	actionDelete = "delete"
)

// deadLetterView is the page of one dead letter.
type deadLetterView struct {
	frame
	DL tasks.DeadLetter
	// Payload is the order as enqueued, indented for reading.
	Payload string
	// TaskState is asynq's state of the task: archived, or pending again after a replay, or
	// "gone" when asynq no longer holds it (the archive trimmed it).
	TaskState string
	Ledger    *tasks.Entry
	Errors    []string
}

// confirmView is the confirmation step before an action: the one page that posts.
type confirmView struct {
	frame
	DL     tasks.DeadLetter
	Action string
	CSRF   string
}

// lookup loads the dead letter named by the request's {id}, or answers 404 or 500 itself.
func (c *Console) lookup(w http.ResponseWriter, r *http.Request) (tasks.DeadLetter, bool) {
	id := r.PathValue("id")
	dl, err := c.op.FindDeadLetter(r.Context(), id)
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		c.notFound(w, id)
		return dl, false
	case err != nil:
		c.fail(w, http.StatusInternalServerError, "Dead letter unreadable", err.Error())
		return dl, false
	}
	return dl, true
}

// notFound answers that there is no dead letter id.
func (c *Console) notFound(w http.ResponseWriter, id string) {
	c.fail(w, http.StatusNotFound, "No such dead letter", fmt.Sprintf("There is no dead letter %s: it was replayed or deleted already.", id))
}

func (c *Console) deadLetter(w http.ResponseWriter, r *http.Request) {
	dl, ok := c.lookup(w, r)
	if !ok {
		return
	}
	v := deadLetterView{frame: c.frame("Dead letter " + dl.TaskID), DL: dl, TaskState: "gone"}
	var indented bytes.Buffer
	if err := json.Indent(&indented, dl.Payload, "", "  "); err == nil {
		v.Payload = indented.String()
	} else {
		v.Payload = string(dl.Payload)
	}
	info, err := c.op.Inspector().GetTaskInfo(c.queueOf(dl), dl.TaskID)
	switch {
	case err == nil:
		v.TaskState = info.State.String()
	case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
		v.Errors = append(v.Errors, "asynq task: "+err.Error())
	}
	if dl.IdempotencyKey != "" {
		e, found, err := c.op.Ledger().Get(r.Context(), dl.IdempotencyKey)
		switch {
		case err != nil:
			v.Errors = append(v.Errors, "ledger: "+err.Error())
		case found:
			v.Ledger = &e
		}
	}
	c.render(w, http.StatusOK, "deadletter", v)
}

// confirm shows what an action will do, with the form that does it.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != actionReplay && action != actionDelete {
		http.NotFound(w, r)
		return
	}
	dl, ok := c.lookup(w, r)
	if !ok {
		return
	}
	title := "Replay " + dl.TaskID + "?"
	if action == actionDelete {
		title = "Delete " + dl.TaskID + "?"
	}
	c.render(w, http.StatusOK, "confirm", confirmView{frame: c.frame(title), DL: dl, Action: action, CSRF: c.csrf})
}

// act replays or deletes a dead letter, then sends the browser back to the overview.
func (c *Console) act(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != actionReplay && action != actionDelete {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, http.StatusBadRequest, "Bad form", "The form could not be read.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.csrf)) != 1 {
		c.fail(w, http.StatusForbidden, "Form refused", "This form is stale or was not sent by this console (the worker may have restarted). Go back, reload the page and confirm again.")
		return
	}
	id := r.PathValue("id")
	done := url.Values{"task": {id}}
	var err error
	switch action {
	case actionReplay:
		var res tasks.EnqueueResult
		res, err = c.op.Replay(r.Context(), id, tasks.ReplayOptions{})
		done.Set("done", "replayed")
		done.Set("status", res.Status)
	case actionDelete:
		_, err = c.op.Discard(r.Context(), id)
		done.Set("done", "deleted")
	}
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		c.notFound(w, id)
	case err != nil:
		c.fail(w, http.StatusInternalServerError, "The "+action+" failed", err.Error())
	default:
		http.Redirect(w, r, BasePath+"?"+done.Encode(), http.StatusSeeOther)
	}
}

// queueOf is the queue a dead letter's task was in.
func (c *Console) queueOf(dl tasks.DeadLetter) string {
	if dl.Queue != "" {
		return dl.Queue
	}
	return c.op.Queue()
}
