package console

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/testkit"
)

var dataTask = regexp.MustCompile(`<tr data-task="([^"]+)">`)

// TestDeadLettersArePagedNewestFirst: the dead letters page lists a page of them at a time, the
// newest first, and filters them by class; the page is short however many there are.
func TestDeadLettersArePagedNewestFirst(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	const n = deadLettersPerPage + 2
	for i := range n {
		f.enqueueRaw([]byte("\xff not json"), fmt.Sprintf("page-%02d", i))
	}
	testkit.Eventually(t, "the invalid orders dead-lettered", func() bool {
		c, err := f.op.CountDeadLetters(t.Context())
		return err == nil && c == n
	})
	rejected := f.deadLetter("paged-rejected")

	var listed []string
	for page, want := range []int{1: deadLettersPerPage, 2: n + 1 - deadLettersPerPage} {
		if page == 0 {
			continue
		}
		status, body := f.get(fmt.Sprintf("%sdead-letters?page=%d", BasePath, page), nil)
		if status != http.StatusOK {
			t.Fatalf("page %d: %d\n%s", page, status, body)
		}
		rows := dataTask.FindAllStringSubmatch(section(t, body, "dead-letters"), -1)
		if len(rows) != want {
			t.Fatalf("page %d lists %d dead letters, want %d", page, len(rows), want)
		}
		if page == 1 {
			if rows[0][1] != rejected.TaskID {
				t.Errorf("page 1 starts with %s, want the newest, %s", rows[0][1], rejected.TaskID)
			}
			for _, w := range []string{fmt.Sprintf("1–%d of %d", deadLettersPerPage, n+1), `rel="next" href="/console/dead-letters?page=2"`} {
				if !strings.Contains(body, w) {
					t.Errorf("page 1 lacks %q", w)
				}
			}
		}
		for _, r := range rows {
			listed = append(listed, r[1])
		}
	}
	// Newest first across the pages, as the dead-letter index has them (by the time Redis recorded
	// each; TestDeadLetterRefsAreNewestFirstWithTheirClass checks that order), none twice, none left
	// out.
	refs, err := f.op.DeadLetterRefs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range refs {
		want = append(want, r.TaskID)
	}
	if !slices.Equal(listed, want) {
		t.Errorf("the pages list\n%v\nnewest first, the dead letters are\n%v", listed, want)
	}

	_, body := f.get(BasePath+"dead-letters?class=invalid&page=2", nil)
	rows := dataTask.FindAllStringSubmatch(section(t, body, "dead-letters"), -1)
	if len(rows) != n-deadLettersPerPage || !strings.Contains(body, `rel="prev" href="/console/dead-letters?class=invalid"`) || !strings.Contains(body, "<strong>invalid (27)</strong>") {
		t.Errorf("invalid, page 2: %d rows, want %d, with a link back to page 1:\n%s", len(rows), n-deadLettersPerPage, body)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r[1], "page-") {
			t.Errorf("class invalid lists %s", r[1])
		}
	}
	f.waitState(rejected.TaskID, asynq.TaskStateArchived)
}
