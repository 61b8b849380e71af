package console

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// flash is the banner that says what an action did.
type flash struct {
	Text string
	// Warn marks an outcome that is not plain success: some of a bulk action failed, or the
	// order was on the queue already.
	Warn bool
	at   time.Time
}

// flashes keeps the outcomes of the last actions under random ids. An action redirects to a page
// with its outcome's id (Post/Redirect/Get), and the page shows the outcome it finds under that
// id: the banner's words come from what the action did, never from the link, so a link cannot
// make the console announce what did not happen. An id is good for flashTTL, on the worker that
// did the action.
type flashes struct {
	mu   sync.Mutex
	byID map[string]flash
	ids  []string // oldest first
}

const (
	flashTTL = 10 * time.Minute
	// flashesKept bounds the memory: past it, the oldest outcome goes first.
	flashesKept = 256
)

func newFlashes() *flashes { return &flashes{byID: map[string]flash{}} }

// add keeps f and returns its id.
func (s *flashes) add(f flash) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24)
	id := hex.EncodeToString(b)
	f.at = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[id] = f
	s.ids = append(s.ids, id)
	for len(s.ids) > flashesKept || (len(s.ids) > 0 && time.Since(s.byID[s.ids[0]].at) > flashTTL) {
		delete(s.byID, s.ids[0])
		s.ids = s.ids[1:]
	}
	return id
}

// get is the outcome under id, if it is there and fresh.
func (s *flashes) get(id string) (flash, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.byID[id]
	if !ok || time.Since(f.at) > flashTTL {
		return flash{}, false
	}
	return f, true
}

// of is the outcome the request's ?flash names, or nil.
func (s *flashes) of(r *http.Request) *flash {
	f, ok := s.get(r.URL.Query().Get("flash"))
	if !ok {
		return nil
	}
	return &f
}

// redirect sends the browser to page (a path under BasePath, with or without a query), which shows
// f.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, page string, f flash) {
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	http.Redirect(w, r, page+sep+"flash="+url.QueryEscape(c.flashes.add(f)), http.StatusSeeOther)
}
