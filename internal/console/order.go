package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// maxSearch bounds the search box: an idempotency key is at most 128 bytes, a task id less.
const maxSearch = 256

// orderView is the page of one order, in any state: what `enqueue status` prints, laid out.
type orderView struct {
	frame
	Flash  *flash
	Errors []string
	St     *tasks.Status
	// Result is St.Result decoded, when it decodes.
	Result *tasks.Result
	// Payload is the dead letter's order as enqueued, indented for reading.
	Payload string
}

// search finds the order the search box names (its task id or idempotency key) and sends the
// browser to its page.
func (c *Console) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	switch {
	case q == "":
		c.fail(w, r, http.StatusBadRequest, "Nothing to search for", "Type a task id (cph-…) or an idempotency key in the search box.")
		return
	case len(q) > maxSearch:
		c.fail(w, r, http.StatusBadRequest, "Search too long", fmt.Sprintf("q must be a task id or an idempotency key of at most %d bytes, got %d bytes.", maxSearch, len(q)))
		return
	}
	if _, ok := c.lookupOrder(w, r, q); ok {
		http.Redirect(w, r, BasePath+"orders/"+url.PathEscape(q), http.StatusSeeOther)
	}
}

func (c *Console) order(w http.ResponseWriter, r *http.Request) {
	st, ok := c.lookupOrder(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	f, ok := c.refreshingFrame(w, r, "Order "+st.TaskID)
	if !ok {
		return
	}
	f.Search = r.PathValue("id")
	v := orderView{frame: f, Flash: c.flashes.of(r), St: st}
	if len(st.Result) > 0 {
		var res tasks.Result
		if err := json.Unmarshal(st.Result, &res); err == nil {
			v.Result = &res
		} else {
			v.Errors = append(v.Errors, "result: "+err.Error())
		}
	}
	if dl := st.DeadLetter; dl != nil {
		var indented bytes.Buffer
		if err := json.Indent(&indented, dl.Payload, "", "  "); err == nil {
			v.Payload = indented.String()
		} else {
			v.Payload = string(dl.Payload)
		}
	}
	c.render(w, http.StatusOK, "order", v)
}

// lookupOrder finds the order named by id, or answers 404 or 500 itself.
func (c *Console) lookupOrder(w http.ResponseWriter, r *http.Request, id string) (*tasks.Status, bool) {
	st, err := c.status(r.Context(), id)
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "Not found", fmt.Sprintf("No order, task or dead letter is known by %q: not in the queue, the ledger (which keeps a key 30 days) or the dead letters.", id))
		return nil, false
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, "Order unreadable", err.Error())
		return nil, false
	}
	return st, true
}

// status is the Operator's Status of id, and also finds a dead letter of a task enqueued under an
// id of its own by a producer that skipped ours (its id is not of the form cph-…, so Status takes
// it for an idempotency key).
func (c *Console) status(ctx context.Context, id string) (*tasks.Status, error) {
	st, err := c.op.Status(ctx, id)
	if !errors.Is(err, tasks.ErrNotFound) {
		return st, err
	}
	dl, err := c.op.FindDeadLetter(ctx, id)
	if err != nil {
		return nil, err
	}
	st = &tasks.Status{TaskID: dl.TaskID, IdempotencyKey: dl.IdempotencyKey, Queue: dl.Queue, State: "gone", Retried: dl.Attempts, MaxRetry: dl.MaxRetry, DeadLetter: &dl}
	info, err := c.op.Inspector().GetTaskInfo(c.queueOf(dl), dl.TaskID)
	switch {
	case err == nil:
		st.State = info.State.String()
	case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
		return nil, err
	}
	return st, nil
}

// orderRef is what an order's page is found by, from a result's key and task id: the key, which
// the ledger knows for 30 days, when the task id is derived from it (every order of our
// producer's); else the task id, which the dead letters know.
func orderRef(key, taskID string) string {
	if taskID == "" || tasks.TaskID(key) == taskID {
		return key
	}
	return taskID
}
