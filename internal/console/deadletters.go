package console

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"cphpurchase/internal/tasks"
)

// The actions on dead letters, as they appear in their URLs.
const (
	actionReplay = "replay"
	actionDelete = "delete"
)

// deadLettersPerPage is how many dead letters a page lists: a page an operator reads without
// scrolling far, however many there are.
const deadLettersPerPage = 25

// deadLettersView is the page of the dead letters: newest first, of one class or all, a page of
// them at a time, each with a box to select it for a bulk action.
type deadLettersView struct {
	frame
	Flash  *flash
	Errors []string
	// Class is the class shown, "" for every class; Classes are the filter's choices.
	Class   tasks.ErrorClass
	Classes []classChoice
	// Total is how many dead letters the filter selects; the page shows First to To of them
	// (counted from 1), From being First's index.
	Total, From, First, To int
	Page, Pages            int
	PrevURL, NextURL       string
	DeadLetters            []tasks.DeadLetter
	ReplayAll, DelAll      string // the bulk actions on every dead letter of Class
}

// classChoice is one choice of the class filter, with how many dead letters it selects.
type classChoice struct {
	Label   string
	N       int
	URL     string
	Current bool
}

// confirmView is the confirmation step before an action on one dead letter: the page that posts.
type confirmView struct {
	frame
	DL     tasks.DeadLetter
	Action string
}

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	class, ok := c.classParam(w, r)
	if !ok {
		return
	}
	page, ok := c.pageParam(w, r)
	if !ok {
		return
	}
	f, ok := c.refreshingFrame(w, r, "Dead letters")
	if !ok {
		return
	}
	ctx := r.Context()
	v := deadLettersView{frame: f, Flash: c.flashes.of(r), Class: class, Page: page}
	refs, err := c.op.DeadLetterRefs(ctx)
	if err != nil {
		v.Errors = append(v.Errors, "dead letters: "+err.Error())
	}
	byClass := map[tasks.ErrorClass]int{}
	var selected []tasks.DeadLetterRef
	for _, ref := range refs {
		byClass[ref.Class]++
		if class == "" || ref.Class == class {
			selected = append(selected, ref)
		}
	}
	link := func(class tasks.ErrorClass, page int) string {
		q := url.Values{}
		if class != "" {
			q.Set("class", string(class))
		}
		if page > 1 {
			q.Set("page", strconv.Itoa(page))
		}
		return pageURL(BasePath+"dead-letters", q)
	}
	v.Classes = append(v.Classes, classChoice{Label: "all", N: len(refs), URL: link("", 1), Current: class == ""})
	for _, cl := range tasks.DeadLetterClasses() {
		v.Classes = append(v.Classes, classChoice{Label: string(cl), N: byClass[cl], URL: link(cl, 1), Current: class == cl})
	}
	v.Total = len(selected)
	v.Pages = max((v.Total+deadLettersPerPage-1)/deadLettersPerPage, 1)
	if page > 1 {
		v.PrevURL = link(class, min(page-1, v.Pages))
	}
	if page < v.Pages {
		v.NextURL = link(class, page+1)
	}
	v.From, v.To = min((page-1)*deadLettersPerPage, v.Total), min(page*deadLettersPerPage, v.Total)
	v.First = v.From + 1
	for _, ref := range selected[v.From:v.To] {
		d, err := c.op.FindDeadLetter(ctx, ref.TaskID)
		switch {
		case errors.Is(err, tasks.ErrNotFound): // replayed or deleted since the index was read
		case err != nil:
			v.Errors = append(v.Errors, "dead letter "+ref.TaskID+": "+err.Error())
		default:
			v.DeadLetters = append(v.DeadLetters, d)
		}
	}
	if class != "" && v.Total > 0 {
		q := url.Values{"class": {string(class)}}
		v.ReplayAll, v.DelAll = pageURL(BasePath+"bulk/"+actionReplay, q), pageURL(BasePath+"bulk/"+actionDelete, q)
	}
	c.render(w, http.StatusOK, "deadletters", v)
}

// classParam is the request's ?class: "" or a dead-letter class. Anything else is answered 400.
func (c *Console) classParam(w http.ResponseWriter, r *http.Request) (tasks.ErrorClass, bool) {
	class := tasks.ErrorClass(r.FormValue("class"))
	if class != "" && !slices.Contains(tasks.DeadLetterClasses(), class) {
		c.fail(w, r, http.StatusBadRequest, "Unknown class", fmt.Sprintf("class must be empty (every class) or one of %v, got %q.", tasks.DeadLetterClasses(), class))
		return "", false
	}
	return class, true
}

// pageParam is the request's ?page, 1 when absent. Anything but a number from 1 is answered 400.
func (c *Console) pageParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	raw := r.URL.Query().Get("page")
	if raw == "" {
		return 1, true
	}
	page, err := strconv.Atoi(raw)
	if err != nil || page < 1 {
		c.fail(w, r, http.StatusBadRequest, "Bad page", fmt.Sprintf("page must be a number from 1, got %q.", raw))
		return 0, false
	}
	return page, true
}

// actionParam is the request's {action}: replay or delete. Anything else is answered 404.
func actionParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	action := r.PathValue("action")
	if action != actionReplay && action != actionDelete {
		http.NotFound(w, r)
		return "", false
	}
	return action, true
}

// confirm shows what an action on one dead letter will do, with the form that does it.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request) {
	action, ok := actionParam(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	dl, err := c.op.FindDeadLetter(r.Context(), id)
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		c.noDeadLetter(w, r, id)
		return
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, "Dead letter unreadable", err.Error())
		return
	}
	title := "Replay " + dl.TaskID + "?"
	if action == actionDelete {
		title = "Delete " + dl.TaskID + "?"
	}
	c.render(w, http.StatusOK, "confirm", confirmView{frame: c.frame(r, title), DL: dl, Action: action})
}

// act replays or deletes one dead letter, then sends the browser to the dead letters, whose banner
// says what happened.
func (c *Console) act(w http.ResponseWriter, r *http.Request) {
	action, ok := actionParam(w, r)
	if !ok || !c.checkForm(w, r) {
		return
	}
	id := r.PathValue("id")
	var (
		f   flash
		err error
	)
	switch action {
	case actionReplay:
		var res tasks.EnqueueResult
		res, err = c.op.Replay(r.Context(), id, tasks.ReplayOptions{})
		f.Text = fmt.Sprintf("Replayed %s: it is on the queue again with a fresh retry budget.", id)
		if res.Status == tasks.EnqueueDuplicate {
			f = flash{Text: fmt.Sprintf("Replay of %s: it was already on the queue; its dead letter is dropped.", id), Warn: true}
		}
	case actionDelete:
		_, err = c.op.Discard(r.Context(), id)
		f.Text = fmt.Sprintf("Deleted the dead letter %s.", id)
	}
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		c.noDeadLetter(w, r, id)
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, "The "+action+" failed", err.Error())
	default:
		c.redirect(w, r, BasePath+"dead-letters", f)
	}
}

// noDeadLetter answers that there is no dead letter id: replayed or deleted already when the
// order is known, and plainly not found when nothing knows id.
func (c *Console) noDeadLetter(w http.ResponseWriter, r *http.Request, id string) {
	_, err := c.status(r.Context(), id)
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "Not found", fmt.Sprintf("There is no dead letter %s, and no order or task is known by it.", id))
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, "Dead letter unreadable", err.Error())
	default:
		c.render(w, http.StatusNotFound, "error", errorView{
			frame:   c.frame(r, "No longer a dead letter"),
			Heading: "No longer a dead letter",
			Message: fmt.Sprintf("%s is not a dead letter any more: it was replayed or deleted already.", id),
			Link:    BasePath + "orders/" + url.PathEscape(id), LinkText: "See the order",
		})
	}
}

// maxForm bounds a posted form: the token and, for a selection, a page of task ids.
const maxForm = 64 << 10

// checkForm reads a posted form and checks its CSRF token, or answers 400 or 403 itself.
func (c *Console) checkForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "Bad form", "The form could not be read.")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.csrf)) != 1 {
		c.fail(w, r, http.StatusForbidden, "Form refused", "This form is stale or was not sent by this console (the worker may have restarted). Go back, reload the page and confirm again.")
		return false
	}
	return true
}

// queueOf is the queue a dead letter's task was in.
func (c *Console) queueOf(dl tasks.DeadLetter) string {
	if dl.Queue != "" {
		return dl.Queue
	}
	return c.op.Queue()
}
