package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/testkit"
)

var bulkCount = regexp.MustCompile(`id="bulk-count">(\d+)<`)

// TestBulkReplayOfAClassActsOnWhatWasConfirmed: "replay all of a class" asks first, saying how many,
// and then replays those: not a dead letter of the class that arrived after the confirmation.
func TestBulkReplayOfAClassActsOnWhatWasConfirmed(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	a, b := f.deadLetter("bulk-a"), f.deadLetter("bulk-b")
	f.enqueueRaw([]byte("\xff not json"), "bulk-garbage")
	f.waitState("bulk-garbage", asynq.TaskStateArchived)

	_, list := f.get(BasePath+"dead-letters?class=rejected", nil)
	if !strings.Contains(list, `href="/console/bulk/replay?class=rejected">Replay all 2 rejected…`) {
		t.Fatalf("no bulk replay of the class:\n%s", list)
	}
	status, confirm := f.get(BasePath+"bulk/replay?class=rejected", nil)
	if m := bulkCount.FindStringSubmatch(confirm); status != http.StatusOK || m == nil || m[1] != "2" {
		t.Fatalf("confirmation = %d, count %v:\n%s", status, m, confirm)
	}
	for _, w := range []string{a.TaskID, b.TaskID, "Yes, replay 2 dead letters", "Replay only after fixing what the API refused"} {
		if !strings.Contains(confirm, w) {
			t.Errorf("the confirmation lacks %q", w)
		}
	}
	late := f.deadLetter("bulk-late") // after the confirmation: not in it

	form := url.Values{}
	for _, field := range []string{"class", "upto", "n"} {
		m := regexp.MustCompile(`name="` + field + `" value="([^"]*)"`).FindStringSubmatch(confirm)
		if m == nil {
			t.Fatalf("no %s in the form", field)
		}
		form.Set(field, m[1])
	}
	if status, _, _ := f.postValues(BasePath+"bulk/replay", form, nil); status != http.StatusForbidden {
		t.Fatalf("bulk replay without the form's token = %d, want 403", status)
	}
	form.Set("csrf", csrfFrom(t, confirm))
	status, location, body := f.postValues(BasePath+"bulk/replay", form, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("bulk replay = %d\n%s", status, body)
	}
	_, page := f.get(location, nil)
	if got := flashOf(page); got != "Replayed 2 of 2 dead letters of class rejected." {
		t.Errorf("banner = %q", got)
	}
	f.wait(a.IdempotencyKey, "succeeded")
	f.wait(b.IdempotencyKey, "succeeded")
	if _, ok, _ := f.dls.Get(t.Context(), late.TaskID); !ok {
		t.Fatal("the dead letter that arrived after the confirmation was replayed too")
	}
	if _, ok, _ := f.dls.Get(t.Context(), "bulk-garbage"); !ok {
		t.Fatal("a dead letter of another class was replayed")
	}
}

// TestBulkDeleteOfASelection: the boxes ticked on the dead letters page are deleted together, after
// one confirmation; one that went meanwhile is counted, not an error.
func TestBulkDeleteOfASelection(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	for _, id := range []string{"sel-1", "sel-2", "sel-3"} {
		f.enqueueRaw([]byte("\xff not json"), id)
	}
	testkit.Eventually(t, "three dead letters", func() bool {
		n, err := f.op.CountDeadLetters(t.Context())
		return err == nil && n == 3
	})
	status, confirm := f.get(BasePath+"bulk/delete?id=sel-1&id=sel-2&id=never-was", nil)
	if m := bulkCount.FindStringSubmatch(confirm); status != http.StatusOK || m == nil || m[1] != "2" || !strings.Contains(confirm, "1 of the selected are no longer dead letters") {
		t.Fatalf("confirmation = %d, count %v:\n%s", status, m, confirm)
	}
	form := url.Values{"csrf": {csrfFrom(t, confirm)}, "id": {"sel-1", "sel-2"}}
	if _, err := f.op.Discard(t.Context(), "sel-2"); err != nil { // someone else deletes it meanwhile
		t.Fatal(err)
	}
	status, location, body := f.postValues(BasePath+"bulk/delete", form, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if status != http.StatusSeeOther {
		t.Fatalf("bulk delete = %d\n%s", status, body)
	}
	_, page := f.get(location, nil)
	if got, want := flashOf(page), "Deleted 1 of 2 dead letters selected. 1 were no longer dead letters (replayed or deleted meanwhile)."; got != want {
		t.Errorf("banner = %q, want %q", got, want)
	}
	if !strings.Contains(page, `class="flash warn"`) {
		t.Error("a partial outcome is not shown as a warning")
	}
	for id, want := range map[string]bool{"sel-1": false, "sel-2": false, "sel-3": true} {
		if _, ok, _ := f.dls.Get(t.Context(), id); ok != want {
			t.Errorf("dead letter %s there = %v, want %v", id, ok, want)
		}
	}

	for path, want := range map[string]int{
		"bulk/replay":                http.StatusBadRequest, // nothing selected
		"bulk/archive?id=sel-3":      http.StatusNotFound,
		"bulk/delete?class=nonsense": http.StatusBadRequest,
	} {
		if status, body := f.get(BasePath+path, nil); status != want {
			t.Errorf("GET %s = %d, want %d\n%s", path, status, want, body)
		}
	}
}
