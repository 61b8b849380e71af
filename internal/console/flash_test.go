package console

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestFlashComesFromTheActionNotTheLink: the banner after an action says what the action did, and
// a link cannot make the console announce anything. The console used to take the banner's words
// from the query string: ?done=deleted&task=ANYTHING showed a green "Deleted the dead letter
// ANYTHING".
func TestFlashComesFromTheActionNotTheLink(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	for _, path := range []string{
		"?done=deleted&task=ANYTHING",
		"?done=replayed&task=ANYTHING&status=enqueued",
		"dead-letters?done=deleted&task=ANYTHING",
		"dead-letters?flash=ANYTHING",
		"dead-letters?flash=00000000000000000000000000000000",
	} {
		status, page := f.get(BasePath+path, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, status)
		}
		if strings.Contains(page, `id="flash"`) || strings.Contains(page, "Deleted") || strings.Contains(page, "Replayed") {
			t.Errorf("GET %s shows a banner:\n%s", path, page)
		}
	}

	en := f.deadLetter("flash-1")
	_, confirm := f.get(BasePath+"dead-letters/"+en.TaskID+"/delete", nil)
	_, location, _ := f.post(BasePath+"dead-letters/"+en.TaskID+"/delete", map[string]string{"csrf": csrfFrom(t, confirm)}, nil)
	_, page := f.get(location, nil)
	if got, want := flashOf(page), "Deleted the dead letter "+en.TaskID+"."; got != want {
		t.Fatalf("banner after the delete = %q, want %q", got, want)
	}
	// A reload does not show it again: the page refreshes to itself without the flash.
	if !strings.Contains(page, `<a href="/console/dead-letters?refresh=5">`) {
		t.Errorf("the refresh choices keep the flash:\n%s", page)
	}
	// Another console (another worker, or this one restarted) knows nothing under that id.
	other, err := New(f.console.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	other.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, location, nil))
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `id="flash"`) {
		t.Fatalf("another console: %d, banner shown:\n%s", rec.Code, rec.Body.String())
	}
}

func TestFlashesKeepTheNewest(t *testing.T) {
	s := newFlashes()
	var ids []string
	for i := range flashesKept + 10 {
		ids = append(ids, s.add(flash{Text: "outcome " + strconv.Itoa(i)}))
	}
	if _, ok := s.get(ids[0]); ok {
		t.Error("the oldest outcome is still kept past flashesKept")
	}
	if f, ok := s.get(ids[len(ids)-1]); !ok || f.Text != "outcome "+strconv.Itoa(flashesKept+9) {
		t.Errorf("the newest outcome = %+v, %v", f, ok)
	}
	if len(s.byID) != flashesKept || len(s.ids) != flashesKept {
		t.Errorf("kept %d / %d outcomes, want %d", len(s.byID), len(s.ids), flashesKept)
	}
	if _, ok := s.get("not-an-id"); ok {
		t.Error("an unknown id has an outcome")
	}
}

// TestAnIDThatNeverExistedIsNotFound: replaying or deleting an id that no dead letter, task or
// order ever had says "not found"; the console used to say it was "replayed or deleted already".
func TestAnIDThatNeverExistedIsNotFound(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	en := f.deadLetter("exists-1")
	_, confirm := f.get(BasePath+"dead-letters/"+en.TaskID+"/replay", nil)
	token := csrfFrom(t, confirm)
	for _, id := range []string{"cph-00000000000000000000000000000000", "no-such-key"} {
		for _, action := range []string{actionReplay, actionDelete} {
			path := BasePath + "dead-letters/" + id + "/" + action
			getStatus, getBody := f.get(path, nil)
			postStatus, _, postBody := f.post(path, map[string]string{"csrf": token}, nil)
			for _, r := range []struct {
				status int
				body   string
			}{{getStatus, getBody}, {postStatus, postBody}} {
				if r.status != http.StatusNotFound || !strings.Contains(r.body, "no order or task is known by it") || strings.Contains(r.body, "already") {
					t.Errorf("%s %s = %d, want 404 \"not found\":\n%s", action, id, r.status, r.body)
				}
			}
		}
	}
	if _, ok, _ := f.dls.Get(t.Context(), en.TaskID); !ok {
		t.Fatal("the real dead letter went")
	}
}
