package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// TestPauseAndResumeShowEverywhere: the overview pauses and resumes the queue; while it is
// paused, every page says so, and the orders wait; they go on when it is resumed.
func TestPauseAndResumeShowEverywhere(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	ctx := t.Context()
	dead := f.deadLetter("pause-dead")
	_, overview := f.get(BasePath, nil)
	if !strings.Contains(overview, `action="/console/queue/pause"`) || strings.Contains(overview, `id="paused"`) {
		t.Fatalf("a running queue's overview offers no pause, or says it is paused:\n%s", section(t, overview, "queue"))
	}
	if status, _, _ := f.post(BasePath+"queue/pause", nil, nil); status != http.StatusForbidden {
		t.Fatalf("pause without the form's token = %d, want 403", status)
	}
	if paused, _ := f.op.Paused(ctx); paused {
		t.Fatal("a refused pause paused the queue")
	}
	status, location, body := f.post(BasePath+"queue/pause", map[string]string{"csrf": csrfFrom(t, overview)}, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("pause = %d\n%s", status, body)
	}
	if paused, err := f.op.Paused(ctx); err != nil || !paused {
		t.Fatalf("after the pause: paused %v, %v", paused, err)
	}
	_, page := f.get(location, nil)
	if !strings.HasPrefix(flashOf(page), "Paused the queue "+f.queue) || !strings.Contains(page, `action="/console/queue/resume"`) {
		t.Errorf("the overview after the pause:\n%s", page)
	}

	waiting := f.submit(order("pause-waits"))
	// The order has waited 10 minutes, as asynq records it.
	if err := f.rdb.HSet(ctx, "asynq:{"+f.queue+"}:t:"+waiting.TaskID, "pending_since", time.Now().Add(-10*time.Minute).UnixNano()).Err(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", "dead-letters", "tasks/retry", "tasks/scheduled", "orders/" + waiting.TaskID, "dead-letters/" + dead.TaskID + "/replay", "bulk/delete?class=rejected", "search?q=nobody"} {
		if _, page := f.get(BasePath+path, nil); !strings.Contains(page, `id="paused"`) {
			t.Errorf("%s does not say the queue is paused", path)
		}
	}
	_, page = f.get(BasePath, nil)
	ages := section(t, page, "queue")
	for _, w := range []string{"<th>under 1m</th><th>1m–5m</th><th>5m–15m</th><th>15m–1h</th><th>1h or more</th>", "<td>0</td><td>0</td><td>1</td><td>0</td><td>0</td>", `id="count-pending">1<`} {
		if !strings.Contains(ages, w) {
			t.Errorf("the queue section lacks %q:\n%s", w, ages)
		}
	}
	_, orderPage := f.get(BasePath+"orders/"+waiting.TaskID, nil)
	if !strings.Contains(orderPage, `state-pending">pending<`) {
		t.Errorf("the waiting order is not pending:\n%s", orderPage)
	}

	status, location, body = f.post(BasePath+"queue/resume", map[string]string{"csrf": csrfFrom(t, page)}, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("resume = %d\n%s", status, body)
	}
	_, page = f.get(location, nil)
	if strings.Contains(page, `id="paused"`) || !strings.HasPrefix(flashOf(page), "Resumed the queue "+f.queue) {
		t.Errorf("the overview after the resume:\n%s", page)
	}
	f.wait(waiting.IdempotencyKey, "succeeded")
	if status, _, _ := f.post(BasePath+"queue/stop", map[string]string{"csrf": csrfFrom(t, page)}, nil); status != http.StatusNotFound {
		t.Errorf("queue/stop = %d, want 404", status)
	}
}

// TestAQueueHeldForCredentialsSaysWhy: a queue a worker paused because the CPH API refused the
// credentials says so on every page, and resuming it warns that a worker may pause it again.
func TestAQueueHeldForCredentialsSaysWhy(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	if held, err := f.op.HoldForCredentials(t.Context(), "IAM refused the password (401)"); err != nil || !held {
		t.Fatalf("hold = %v, %v", held, err)
	}
	_, page := f.get(BasePath+"dead-letters", nil)
	if !strings.Contains(page, "because the CPH API refused the credentials (IAM refused the password (401))") {
		t.Fatalf("the banner does not say why:\n%s", page)
	}
	_, overview := f.get(BasePath, nil)
	_, location, _ := f.post(BasePath+"queue/resume", map[string]string{"csrf": csrfFrom(t, overview)}, nil)
	_, page = f.get(location, nil)
	if !strings.Contains(flashOf(page), "if they still fail, a worker pauses it again") || !strings.Contains(page, `class="flash warn"`) {
		t.Errorf("resuming a held queue: %q", flashOf(page))
	}
}

// TestRetriesShowTheirErrorAndNextAttempt: the retry page lists the orders waiting to be tried
// again with the error they failed with and when they are tried next; the scheduled page lists
// the orders enqueued for later.
func TestRetriesShowTheirErrorAndNextAttempt(t *testing.T) {
	f := newFixtureWith(t, fixtureConfig{Auth: Auth{Addr: "127.0.0.1:9464"}, RetryDelay: time.Hour})
	flaky := f.submit(order("flaky-1"))
	f.waitState(flaky.TaskID, asynq.TaskStateRetry)
	later := order("later-1")
	later.IdempotencyKey = "later-1"
	raw, _ := json.Marshal(later)
	if _, err := f.op.Client().Enqueue(asynq.NewTask(tasks.TypePurchase, raw), asynq.Queue(f.queue), asynq.TaskID(tasks.TaskID("later-1")), asynq.ProcessIn(90*time.Minute)); err != nil {
		t.Fatal(err)
	}

	_, page := f.get(BasePath+"tasks/retry", nil)
	row := section(t, page, "delayed")
	for _, w := range []string{`<tr data-task="` + flaky.TaskID + `">`, "flaky-1", "1 of 2", "503", `<time datetime="`, ">in "} {
		if !strings.Contains(row, w) {
			t.Errorf("the retry page lacks %q:\n%s", w, row)
		}
	}
	_, page = f.get(BasePath+"tasks/scheduled", nil)
	if row := section(t, page, "delayed"); !strings.Contains(row, "later-1") || !strings.Contains(row, ">in 1h ") {
		t.Errorf("the scheduled page:\n%s", row)
	}
	_, page = f.get(BasePath+"orders/"+flaky.TaskID, nil)
	for _, w := range []string{`state-retry">retry<`, `id="next-attempt"`, "503"} {
		if !strings.Contains(page, w) {
			t.Errorf("the retried order's page lacks %q", w)
		}
	}
	_, page = f.get(BasePath, nil)
	if !strings.Contains(section(t, page, "queue"), `href="/console/tasks/retry"`) {
		t.Error("the overview's retry count does not link to the retries")
	}
}
