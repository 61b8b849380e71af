package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"cphpurchase/internal/tasks"
)

// bulkShown is how many of the dead letters a bulk confirmation lists by name.
const bulkShown = 20

// bulkView is the confirmation of a bulk action: what it does, and to how many.
type bulkView struct {
	frame
	Action string
	// Class is the class acted on when the action is on a whole class; IDs the selection
	// otherwise.
	Class tasks.ErrorClass
	IDs   []string
	// N is how many dead letters the action is on; Shown the first of them, More the rest.
	N     int
	Shown []tasks.DeadLetter
	More  int
	// UpTo is the time (ms) of the newest dead letter of Class counted: a class action confirmed
	// now acts on no dead letter that arrives later.
	UpTo int64
	// Gone is how many of the selection are no longer dead letters.
	Gone int
	Back string
}

// bulkSelection is what a bulk action acts on: task ids, selected by hand or, with byClass, the
// dead letters of class that the confirmation counted.
type bulkSelection struct {
	ids     []string
	class   tasks.ErrorClass
	byClass bool
}

// confirmBulk shows what a bulk action will do and to how many dead letters, with the one form
// that does it: ?id=… (a selection, repeated) or ?class=C (every dead letter of the class).
func (c *Console) confirmBulk(w http.ResponseWriter, r *http.Request) {
	action, ok := actionParam(w, r)
	if !ok {
		return
	}
	class, ok := c.classParam(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	v := bulkView{Action: action, Back: BasePath + "dead-letters"}
	ids := r.URL.Query()["id"]
	switch {
	case len(ids) > 0:
		for _, id := range ids {
			d, err := c.op.FindDeadLetter(ctx, id)
			switch {
			case errors.Is(err, tasks.ErrNotFound):
				v.Gone++
				continue
			case err != nil:
				c.fail(w, r, http.StatusInternalServerError, "Dead letter unreadable", err.Error())
				return
			}
			v.IDs = append(v.IDs, d.TaskID)
			if len(v.Shown) < bulkShown {
				v.Shown = append(v.Shown, d)
			}
		}
		v.N = len(v.IDs)
	case class != "":
		v.Class = class
		v.Back = pageURL(v.Back, url.Values{"class": {string(class)}})
		refs, err := c.classRefs(ctx, class)
		if err != nil {
			c.fail(w, r, http.StatusInternalServerError, "Dead letters unreadable", err.Error())
			return
		}
		v.N = len(refs)
		if v.N > 0 {
			v.UpTo = refs[0].FailedAt.UnixMilli()
		}
		for _, ref := range refs[:min(len(refs), bulkShown)] {
			d, err := c.op.FindDeadLetter(ctx, ref.TaskID)
			if err == nil {
				v.Shown = append(v.Shown, d)
			}
		}
	default:
		c.fail(w, r, http.StatusBadRequest, "Nothing selected", "Select dead letters with their boxes, or choose a class, before a bulk "+action+".")
		return
	}
	v.More = v.N - len(v.Shown)
	v.frame = c.frame(r, fmt.Sprintf("%s %d dead letters?", verb(action), v.N))
	c.render(w, http.StatusOK, "bulk", v)
}

// actBulk does a confirmed bulk action, one dead letter after the other as `enqueue dlq` does,
// and sends the browser to the dead letters with a banner that counts what happened.
func (c *Console) actBulk(w http.ResponseWriter, r *http.Request) {
	action, ok := actionParam(w, r)
	if !ok || !c.checkForm(w, r) {
		return
	}
	class, ok := c.classParam(w, r)
	if !ok {
		return
	}
	sel := bulkSelection{ids: r.PostForm["id"], class: class, byClass: len(r.PostForm["id"]) == 0}
	if sel.byClass {
		upTo, errUpTo := strconv.ParseInt(r.PostFormValue("upto"), 10, 64)
		n, errN := strconv.Atoi(r.PostFormValue("n"))
		if class == "" || errUpTo != nil || errN != nil || n < 0 {
			c.fail(w, r, http.StatusBadRequest, "Bad form", "A bulk action needs its selection (id), or its class, upto (ms) and n from the confirmation page: go back and confirm again.")
			return
		}
		refs, err := c.classRefs(r.Context(), class)
		if err != nil {
			c.fail(w, r, http.StatusInternalServerError, "Dead letters unreadable", err.Error())
			return
		}
		// What the confirmation counted: none newer than it saw, and never more than it said.
		for _, ref := range slices.Backward(refs) {
			if ref.FailedAt.UnixMilli() <= upTo && len(sel.ids) < n {
				sel.ids = append(sel.ids, ref.TaskID)
			}
		}
	}
	back := BasePath + "dead-letters"
	if class != "" {
		back = pageURL(back, url.Values{"class": {string(class)}})
	}
	c.redirect(w, r, back, c.runBulk(r.Context(), action, sel))
}

// classRefs are the dead letters of class, newest first.
func (c *Console) classRefs(ctx context.Context, class tasks.ErrorClass) ([]tasks.DeadLetterRef, error) {
	refs, err := c.op.DeadLetterRefs(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(refs, func(ref tasks.DeadLetterRef) bool { return ref.Class != class }), nil
}

// runBulk replays or deletes the dead letters of sel, one after the other, and says how it went.
// A dead letter that went meanwhile is counted, not an error; a failure does not stop the others.
func (c *Console) runBulk(ctx context.Context, action string, sel bulkSelection) flash {
	var done, already, gone, failed int
	var firstErr error
	for _, id := range sel.ids {
		if ctx.Err() != nil {
			break
		}
		var err error
		if action == actionReplay {
			var res tasks.EnqueueResult
			if res, err = c.op.Replay(ctx, id, tasks.ReplayOptions{}); err == nil && res.Status == tasks.EnqueueDuplicate {
				already++
			}
		} else {
			_, err = c.op.Discard(ctx, id)
		}
		switch {
		case errors.Is(err, tasks.ErrNotFound):
			gone++
		case err != nil:
			failed++
			if firstErr == nil {
				firstErr = err
			}
		default:
			done++
		}
	}
	what := "selected"
	if sel.byClass {
		what = "of class " + string(sel.class)
	}
	parts := []string{fmt.Sprintf("%s %d of %d dead letters %s.", pastTense(action), done, len(sel.ids), what)}
	if already > 0 {
		parts = append(parts, fmt.Sprintf("%d were on the queue already (their dead letters are dropped).", already))
	}
	if gone > 0 {
		parts = append(parts, fmt.Sprintf("%d were no longer dead letters (replayed or deleted meanwhile).", gone))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed; the first: %v", failed, firstErr))
	}
	if skipped := len(sel.ids) - done - gone - failed; skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d were not tried: the request ended.", skipped))
	}
	return flash{Text: strings.Join(parts, " "), Warn: done < len(sel.ids) || already > 0}
}

func verb(action string) string {
	if action == actionReplay {
		return "Replay"
	}
	return "Delete"
}

func pastTense(action string) string {
	if action == actionReplay {
		return "Replayed"
	}
	return "Deleted"
}
