package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// frame is what the layout shows around every page: where the console looks, whether the queue
// is paused (on every page, so that an operator never wonders why nothing moves), the search box,
// and on the pages that refresh themselves, the refresh control.
type frame struct {
	Title      string
	QueueName  string
	StreamName string
	Paused     bool
	// HeldFor is why a worker paused the queue (the CPH API refused the credentials); empty when
	// an operator paused it, or when it is not paused.
	HeldFor string
	// StateError says that whether the queue is paused could not be read.
	StateError string
	// Search is the search box's text.
	Search string
	// CSRF is the token of the forms that post.
	CSRF string
	// Refresh is the page's auto-refresh interval in seconds (0: off); RefreshURL is what it
	// reloads (the page without its flash, which is shown once), and Refreshes the control's
	// choices. All three are empty on pages that do not refresh (confirmations, errors).
	Refresh    int
	RefreshURL string
	Refreshes  []refreshChoice
}

// refreshChoice is one interval of the refresh control.
type refreshChoice struct {
	Label   string
	URL     string
	Current bool
}

// refreshIntervals are the auto-refresh intervals an operator can choose, in seconds; 0 is off.
var refreshIntervals = []int{0, 5, 15, 60}

// refreshCookie keeps the chosen interval, so that it stays while the operator moves between pages.
const refreshCookie = "console_refresh"

// frame is the frame of a page that does not refresh itself.
func (c *Console) frame(r *http.Request, title string) frame {
	f := frame{Title: title, QueueName: c.op.Queue(), StreamName: c.op.ResultsStream(), CSRF: c.csrf}
	ctx := r.Context()
	var err error
	if f.Paused, err = c.op.Paused(ctx); err == nil && f.Paused {
		f.HeldFor, err = c.op.CredentialHold(ctx)
	}
	if err != nil {
		f.StateError = "whether the queue is paused: " + err.Error()
	}
	return f
}

// refreshingFrame is the frame of a page that refreshes itself: at the interval the request
// chooses (?refresh=N, which it also keeps in a cookie for the other pages), or else the one the
// cookie keeps. It reports false, having answered 400, when ?refresh is not one of the choices.
func (c *Console) refreshingFrame(w http.ResponseWriter, r *http.Request, title string) (frame, bool) {
	f := c.frame(r, title)
	q := r.URL.Query()
	if v, chosen := q["refresh"]; chosen {
		n, err := strconv.Atoi(v[0])
		if err != nil || !slices.Contains(refreshIntervals, n) {
			c.fail(w, r, http.StatusBadRequest, "Bad refresh interval", "refresh must be one of 0 (off), 5, 15 or 60 seconds, got "+strconv.Quote(v[0])+".")
			return f, false
		}
		f.Refresh = n
		http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: strconv.Itoa(n), Path: BasePath, MaxAge: 90 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	} else if ck, err := r.Cookie(refreshCookie); err == nil {
		if n, err := strconv.Atoi(ck.Value); err == nil && slices.Contains(refreshIntervals, n) {
			f.Refresh = n
		}
	}
	q.Del("flash")
	q.Del("refresh")
	f.RefreshURL = pageURL(r.URL.Path, q)
	for _, n := range refreshIntervals {
		label := "off"
		if n > 0 {
			label = humanDuration(time.Duration(n) * time.Second)
		}
		choice := url.Values{}
		for k, v := range q {
			choice[k] = v
		}
		choice.Set("refresh", strconv.Itoa(n))
		f.Refreshes = append(f.Refreshes, refreshChoice{Label: label, URL: pageURL(r.URL.Path, choice), Current: n == f.Refresh})
	}
	return f, true
}

// pageURL is path with the query q, if any.
func pageURL(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
