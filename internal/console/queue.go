package console

import (
	"fmt"
	"net/http"
)

// The actions on the queue, as they appear in their URLs.
const (
	actionPause  = "pause"
	actionResume = "resume"
)

// pauseOrResume pauses the queue (the workers take no new orders; those in flight finish) or
// resumes it, then sends the browser to the overview. Every page shows whether it is paused.
func (c *Console) pauseOrResume(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != actionPause && action != actionResume {
		http.NotFound(w, r)
		return
	}
	if !c.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	var (
		f   flash
		err error
	)
	switch action {
	case actionPause:
		err = c.op.Pause(ctx)
		f.Text = fmt.Sprintf("Paused the queue %s: the workers take no new orders; the orders in flight finish.", c.op.Queue())
	case actionResume:
		var held string
		if held, err = c.op.CredentialHold(ctx); err == nil {
			err = c.op.Unpause(ctx)
		}
		f.Text = fmt.Sprintf("Resumed the queue %s: the workers take orders again.", c.op.Queue())
		if held != "" {
			f = flash{Text: f.Text + " A worker had paused it because the CPH API refused the credentials (" + held + "); if they still fail, a worker pauses it again.", Warn: true}
		}
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "The "+action+" failed", err.Error())
		return
	}
	c.redirect(w, r, BasePath, f)
}
