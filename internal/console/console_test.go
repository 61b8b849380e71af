package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
)

// TestPagesShowThePipeline runs orders through the real pipeline — one bought, one rejected for
// arrears, one invalid, one held inside its purchase call — and checks that every page shows them
// where they belong.
func TestPagesShowThePipeline(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	ctx := context.Background()

	good := f.submit(order("good-1"))
	bought := f.wait(good.IdempotencyKey, "succeeded")
	f.waitState(good.TaskID, asynq.TaskStateCompleted)

	f.reject.Store(true)
	arrears := f.submit(order("arrears-1"))
	f.wait(arrears.IdempotencyKey, "failed")
	f.waitState(arrears.TaskID, asynq.TaskStateArchived)
	f.reject.Store(false)

	// Invalid orders from a producer that skipped validation: one that breaks a rule, one with a
	// field name that is HTML (it cannot even be decoded, so its key is made up from its task id).
	o := order("invalid-1")
	o.IdempotencyKey = "invalid-1"
	*o.Request.Count = 11
	raw, _ := json.Marshal(o)
	invalidID := tasks.TaskID("invalid-1")
	f.enqueueRaw(raw, invalidID)
	f.wait("invalid:"+invalidID, "failed") // an invalid order is recorded under its task, not its key
	f.waitState(invalidID, asynq.TaskStateArchived)
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	doc["request"].(map[string]any)["<b>bold</b>"] = 1
	raw, _ = json.Marshal(doc)
	f.enqueueRaw(raw, "html-1")
	f.wait("invalid:html-1", "failed")
	f.waitState("html-1", asynq.TaskStateArchived)

	// Not JSON at all: a dead letter with no payload, which can be deleted but not replayed.
	f.enqueueRaw([]byte("\xff not json"), "garbage-1")
	f.wait("invalid:garbage-1", "failed")
	f.waitState("garbage-1", asynq.TaskStateArchived)

	slow := f.submit(order("slow-1"))
	f.waitState(slow.TaskID, asynq.TaskStateActive)

	status, page := f.get(BasePath, nil)
	if status != http.StatusOK {
		t.Fatalf("overview: %d\n%s", status, page)
	}
	counts := section(t, page, "queue")
	for name, want := range map[string]int{"pending": 0, "active": 1, "scheduled": 0, "retry": 0, "archived": 4, "completed": 1, "dead-letters": 4} {
		if !strings.Contains(counts, `id="count-`+name+`">`+strconv.Itoa(want)+`<`) {
			t.Errorf("queue section lacks %s = %d:\n%s", name, want, counts)
		}
	}
	_, deadPage := f.get(BasePath+"dead-letters", nil)
	dead := section(t, deadPage, "dead-letters")
	results := section(t, page, "results")
	orderLink := func(ref string) string { return `href="/console/orders/` + url.PathEscape(ref) + `"` }
	checks := []struct {
		name, where string
		want        []string
	}{
		{"in flight: the held order", section(t, page, "in-flight"), []string{slow.TaskID, slow.IdempotencyKey, "slow-1"}},
		{"dead letters: the rejection", dead, []string{arrears.TaskID, "rejected", "CPS.0006", "/console/dead-letters/" + arrears.TaskID + "/replay", "/console/dead-letters/" + arrears.TaskID + "/delete", orderLink(arrears.TaskID)}},
		{"dead letters: the invalid order with its fields", dead, []string{invalidID, "invalid", "request.count", "must be between 1 and 10"}},
		{"dead letters: the undecodable order, escaped", dead, []string{"html-1", "&lt;b&gt;bold&lt;/b&gt;", "unknown field"}},
		{"dead letters: a count", dead, []string{`<span class="n">4</span>`, "all (4)", "invalid (3)", "rejected (1)", "auth (0)"}},
		{"dead letters: the one without a payload can be deleted", dead, []string{"/console/dead-letters/garbage-1/delete"}},
		{"results: the purchase, linked to its order", results, []string{good.IdempotencyKey, "succeeded", bought.OrderID, orderLink(good.IdempotencyKey)}},
		{"results: the dead letters, linked to their orders", results, []string{arrears.IdempotencyKey, "dead_lettered", "rejected", "CPS.0006", "invalid-1", orderLink(arrears.IdempotencyKey), orderLink("invalid-1")}},
		{"the chart counts the results", section(t, page, "activity"), []string{`id="chart-succeeded">1<`, `id="chart-dead-lettered">4<`}},
	}
	for _, c := range checks {
		for _, w := range c.want {
			if !strings.Contains(c.where, w) {
				t.Errorf("%s: %q missing from\n%s", c.name, w, c.where)
			}
		}
	}
	if strings.Contains(dead, "/console/dead-letters/garbage-1/replay") {
		t.Error("a dead letter without a payload offers a replay")
	}
	if strings.Contains(page+deadPage, "<b>bold</b>") {
		t.Error("a field name from the payload reached the page unescaped")
	}
	// Newest first, in the results and in the dead letters: good-1 finished first, then
	// arrears-1, then invalid-1.
	for name, list := range map[string]string{"results": results, "dead letters": dead} {
		iInvalid, iArrears := strings.Index(list, `data-key="invalid-1"`), strings.Index(list, `data-key="`+arrears.IdempotencyKey+`"`)
		if name == "dead letters" {
			iInvalid, iArrears = strings.Index(list, `data-task="`+invalidID+`"`), strings.Index(list, `data-task="`+arrears.TaskID+`"`)
		}
		if iInvalid < 0 || iArrears < 0 || iInvalid > iArrears {
			t.Errorf("%s not newest first: invalid-1 at %d, arrears-1 at %d", name, iInvalid, iArrears)
		}
	}

	pages := []struct {
		name, path string
		status     int
		want       []string
		absent     []string
	}{
		{"the rejected order", "orders/" + arrears.TaskID, 200,
			[]string{arrears.IdempotencyKey, "rejected", "CPS.0006", "HTTP 400", `id="state" class="tag state-archived">archived<`, `&#34;server_name&#34;: &#34;arrears-1&#34;`, `ledger-failed">failed<`, "purchase calls</dt><dd>1<", "/replay", "/delete", "dead_lettered"}, nil},
		{"the rejected order by its key", "orders/" + url.PathEscape(arrears.IdempotencyKey), 200, []string{arrears.TaskID, "CPS.0006"}, nil},
		{"the invalid order", "orders/" + invalidID, 200,
			// An invalid order made no call and never took its key: no ledger state to show.
			[]string{"Field errors", "request.count", "must be between 1 and 10", `&#34;count&#34;: 11`, "The ledger has no record of this key"}, nil},
		{"the order that was not JSON", "orders/garbage-1", 200,
			[]string{"cannot be replayed, only deleted", "/console/dead-letters/garbage-1/delete"}, []string{"/replay"}},
		{"the bought order", "orders/" + url.PathEscape(good.IdempotencyKey), 200,
			[]string{good.TaskID, `state-completed">completed<`, `ledger-succeeded">succeeded<`, bought.OrderID, `status-succeeded">succeeded<`, `id="lifecycle"`}, []string{`id="dead-letter"`}},
		{"the order in flight", "orders/" + slow.TaskID, 200, []string{`state-active">active<`, "No result yet"}, nil},
		{"an unknown order", "orders/cph-00000000000000000000000000000000", 404, []string{"No order, task or dead letter is known"}, nil},
		{"search by key", "search?q=" + url.QueryEscape(arrears.IdempotencyKey), 200, []string{arrears.TaskID, `id="order"`}, nil},
		{"search by task id", "search?q=" + good.TaskID, 200, []string{bought.OrderID}, nil},
		{"search for nothing known", "search?q=nobody-knows-me", 404, []string{"No order, task or dead letter is known by &#34;nobody-knows-me&#34;"}, nil},
		{"an empty search", "search?q=+", 400, []string{"Type a task id"}, nil},
		{"the rejected dead letters", "dead-letters?class=rejected", 200, []string{arrears.TaskID, "Replay all 1 rejected", "Delete all 1 rejected"}, []string{"garbage-1"}},
		{"a class that does not exist", "dead-letters?class=bogus", 400, []string{"class must be empty (every class) or one of"}, nil},
		{"a page that is no number", "dead-letters?page=zero", 400, []string{"page must be a number from 1"}, nil},
		{"a page past the last", "dead-letters?page=9", 200, []string{"No dead letters on page 9", `rel="prev"`}, nil},
		{"the retries", "tasks/retry", 200, []string{"No order waits for a retry"}, nil},
		{"the scheduled tasks", "tasks/scheduled", 200, []string{"No order is scheduled"}, nil},
		{"an unknown task list", "tasks/archived", 404, nil, nil},
		{"replay confirmation", "dead-letters/" + arrears.TaskID + "/replay", 200,
			[]string{`method="post"`, `action="/console/dead-letters/` + arrears.TaskID + `/replay"`, `name="csrf"`, "Yes, replay it", "fresh retry budget"}, nil},
		{"delete confirmation", "dead-letters/" + invalidID + "/delete", 200,
			[]string{`action="/console/dead-letters/` + invalidID + `/delete"`, `name="csrf"`, "Yes, delete it"}, nil},
		{"an unknown dead letter", "dead-letters/cph-00000000000000000000000000000000/replay", 404, []string{"no order or task is known by it"}, []string{"replayed or deleted already"}},
		{"an unknown action", "dead-letters/" + arrears.TaskID + "/archive", 404, nil, nil},
		{"an unknown page", "nothing-here", 404, nil, nil},
		{"the stylesheet", "static/console.css", 200, []string{".tag.status-succeeded"}, nil},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			status, body := f.get(BasePath+p.path, nil)
			if status != p.status {
				t.Fatalf("GET %s = %d, want %d\n%s", p.path, status, p.status, body)
			}
			for _, w := range p.want {
				if !strings.Contains(body, w) {
					t.Errorf("%q missing from\n%s", w, body)
				}
			}
			for _, a := range p.absent {
				if strings.Contains(body, a) {
					t.Errorf("%q should not be in\n%s", a, body)
				}
			}
		})
	}

	// Showing a confirmation changes nothing.
	if _, ok, _ := f.dls.Get(ctx, arrears.TaskID); !ok {
		t.Fatal("GET of the replay confirmation dropped the dead letter")
	}
	f.release()
	f.wait(slow.IdempotencyKey, "succeeded")
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	resp, err := http.Get(f.url + BasePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for name, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := resp.Header.Get(name); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", name, got, want)
		}
	}
}

// deadLetter runs one order into a CPS.0006 rejection and returns its enqueue result.
func (f *fixture) deadLetter(name string) tasks.EnqueueResult {
	f.t.Helper()
	f.reject.Store(true)
	en := f.submit(order(name))
	f.wait(en.IdempotencyKey, "failed")
	f.waitState(en.TaskID, asynq.TaskStateArchived)
	f.reject.Store(false)
	return en
}

func TestReplayNeedsTheConfirmationForm(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	ctx := context.Background()
	en := f.deadLetter("replay-1")
	action := BasePath + "dead-letters/" + en.TaskID + "/replay"
	_, confirm := f.get(action, nil)
	token := csrfFrom(t, confirm)

	refused := []struct {
		name   string
		form   map[string]string
		header http.Header
	}{
		{"no token", nil, nil},
		{"a wrong token", map[string]string{"csrf": strings.Repeat("0", len(token))}, nil},
		{"a truncated token", map[string]string{"csrf": token[:len(token)-1]}, nil},
		{"the token from another site", map[string]string{"csrf": token}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"the token with a foreign Origin", map[string]string{"csrf": token}, http.Header{"Origin": {"http://attacker.example"}}},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := f.post(action, c.form, c.header)
			if status != http.StatusForbidden {
				t.Fatalf("POST = %d, want 403\n%s", status, body)
			}
			if _, ok, _ := f.dls.Get(ctx, en.TaskID); !ok {
				t.Fatal("the dead letter is gone after a refused replay")
			}
		})
	}
	if n := f.sim.Stats().PurchaseCalls; n != 1 {
		t.Fatalf("purchase calls = %d after refused replays, want 1", n)
	}

	status, location, body := f.post(action, map[string]string{"csrf": token}, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if status != http.StatusSeeOther {
		t.Fatalf("POST replay = %d, want 303\n%s", status, body)
	}
	loc, err := url.Parse(location)
	if err != nil || loc.Path != BasePath+"dead-letters" || len(loc.Query().Get("flash")) != 32 || strings.Contains(location, en.TaskID) {
		t.Fatalf("redirect to %q: want the dead letters with an opaque flash id", location)
	}
	r := f.wait(en.IdempotencyKey, "succeeded")
	if orders := f.sim.OrdersFor("replay-1"); len(orders) != 1 || r.OrderID != orders[0].OrderID {
		t.Fatalf("after replay: result %+v, simulator orders %+v", r, orders)
	}
	if _, ok, _ := f.dls.Get(ctx, en.TaskID); ok {
		t.Fatal("the dead letter is still there after the replay")
	}
	_, page := f.get(location, nil)
	if !strings.Contains(page, "Replayed "+en.TaskID) {
		t.Errorf("the dead letters do not say what was done:\n%s", page)
	}
	status, _, body = f.post(action, map[string]string{"csrf": token}, nil)
	if status != http.StatusNotFound || !strings.Contains(body, "replayed or deleted already") || !strings.Contains(body, `href="/console/orders/`+en.TaskID+`"`) {
		t.Fatalf("second replay = %d, want 404 saying it was replayed already, with a link to the order\n%s", status, body)
	}
}

func TestDeleteDropsTheRecordAndTheArchivedTask(t *testing.T) {
	cases := []struct {
		name string
		// trimmed: asynq's archive dropped the task already, as it does past 10,000 or 90 days.
		trimmed bool
	}{
		{"archived in asynq", false},
		{"trimmed from asynq's archive", true},
	}
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			en := f.deadLetter("delete-" + strconv.Itoa(i))
			if c.trimmed {
				if err := f.insp.DeleteTask(f.queue, en.TaskID); err != nil {
					t.Fatal(err)
				}
			}
			action := BasePath + "dead-letters/" + en.TaskID + "/delete"
			_, confirm := f.get(action, nil)
			if status, _, _ := f.post(action, nil, nil); status != http.StatusForbidden {
				t.Fatalf("delete without the form's token = %d, want 403", status)
			}
			status, location, body := f.post(action, map[string]string{"csrf": csrfFrom(t, confirm)}, nil)
			if status != http.StatusSeeOther || !strings.Contains(location, "flash=") {
				t.Fatalf("POST delete = %d to %q\n%s", status, location, body)
			}
			if _, page := f.get(location, nil); !strings.Contains(flashOf(page), "Deleted the dead letter "+en.TaskID) {
				t.Fatalf("no banner after the delete:\n%s", page)
			}
			if _, ok, _ := f.dls.Get(ctx, en.TaskID); ok {
				t.Fatal("the dead letter is still there")
			}
			if _, err := f.insp.GetTaskInfo(f.queue, en.TaskID); !errors.Is(err, asynq.ErrTaskNotFound) {
				t.Fatalf("asynq task after delete: %v, want not found", err)
			}
			if e, ok, _ := f.ledger.Get(ctx, en.IdempotencyKey); !ok || e.State != "failed" {
				t.Fatalf("ledger = %+v, %v; want the key kept as failed", e, ok)
			}
			if status, _, _ := f.post(action, map[string]string{"csrf": csrfFrom(t, confirm)}, nil); status != http.StatusNotFound {
				t.Fatalf("second delete = %d, want 404", status)
			}
		})
	}
	if n := f.sim.Stats().PurchaseCalls; n != len(cases) {
		t.Fatalf("purchase calls = %d, want %d: deleting buys nothing", n, len(cases))
	}
}

const secretToken = "s3cret-console-token-9f8e7d"

func TestNewRefusesAnOpenAddressWithoutAToken(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	cases := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9464", "", true},
		{"[::1]:9464", "", true},
		{"0.0.0.0:9464", "", false},
		{":9464", "", false},
		{"10.0.0.7:9464", "", false},
		{"0.0.0.0:9464", secretToken, true},
		{":9464", secretToken, true},
	}
	for _, c := range cases {
		cfg := f.console.cfg
		cfg.Auth = Auth{Addr: c.addr, Token: cph.Secret(c.token)}
		_, err := New(cfg)
		if (err == nil) != c.ok {
			t.Errorf("New(addr %q, token set %v) = %v, want ok %v", c.addr, c.token != "", err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "CONSOLE_TOKEN") {
			t.Errorf("error %q does not say to set CONSOLE_TOKEN", err)
		}
	}
}

func TestTokenIsRequiredAndChecked(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9464", "127.0.0.1:9464"} {
		t.Run(addr, func(t *testing.T) {
			f := newFixture(t, Auth{Addr: addr, Token: cph.Secret(secretToken)})
			en := f.deadLetter("auth-1")
			basic := func(user, pass string) http.Header {
				r, _ := http.NewRequest(http.MethodGet, "/", nil)
				r.SetBasicAuth(user, pass)
				return r.Header
			}
			cases := []struct {
				name   string
				header http.Header
				path   string
				ok     bool
			}{
				{"nothing", nil, "", false},
				{"a wrong bearer token", http.Header{"Authorization": {"Bearer wrong"}}, "", false},
				{"a prefix of the token", http.Header{"Authorization": {"Bearer " + secretToken[:len(secretToken)-1]}}, "", false},
				{"the token with more after it", http.Header{"Authorization": {"Bearer " + secretToken + "x"}}, "", false},
				{"the token as the basic-auth user", basic(secretToken, "wrong"), "", false},
				{"a wrong basic-auth password", basic("operator", "wrong"), "", false},
				{"the stylesheet without the token", nil, "static/console.css", false},
				{"an order without the token", nil, "orders/" + en.TaskID, false},
				{"the dead letters without the token", nil, "dead-letters", false},
				{"the bearer token", http.Header{"Authorization": {"Bearer " + secretToken}}, "", true},
				{"the basic-auth password", basic("operator", secretToken), "", true},
				{"the basic-auth password, an order", basic("", secretToken), "orders/" + en.TaskID, true},
				{"the basic-auth password, a bulk confirmation", basic("", secretToken), "bulk/replay?class=rejected", true},
				{"the bearer token, a confirmation", http.Header{"Authorization": {"Bearer " + secretToken}}, "dead-letters/" + en.TaskID + "/replay", true},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					req, _ := http.NewRequest(http.MethodGet, f.url+BasePath+c.path, nil)
					for k, v := range c.header {
						req.Header[k] = v
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					var body strings.Builder
					_, _ = io.Copy(&body, resp.Body)
					want := http.StatusUnauthorized
					if c.ok {
						want = http.StatusOK
					}
					if resp.StatusCode != want {
						t.Fatalf("GET = %d, want %d", resp.StatusCode, want)
					}
					if !c.ok && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
						t.Errorf("401 without a basic-auth challenge: %q", resp.Header.Get("WWW-Authenticate"))
					}
					if strings.Contains(body.String(), secretToken) || strings.Contains(strings.Join(flatten(resp.Header), " "), secretToken) {
						t.Fatal("the token appears in the response")
					}
				})
			}
			// A POST with a valid form but no token is refused before anything happens.
			_, confirm := f.get(BasePath+"dead-letters/"+en.TaskID+"/replay", http.Header{"Authorization": {"Bearer " + secretToken}})
			if status, _, _ := f.post(BasePath+"dead-letters/"+en.TaskID+"/replay", map[string]string{"csrf": csrfFrom(t, confirm)}, nil); status != http.StatusUnauthorized {
				t.Fatalf("POST without the token = %d, want 401", status)
			}
			if _, ok, _ := f.dls.Get(context.Background(), en.TaskID); !ok {
				t.Fatal("a POST without the token replayed the dead letter")
			}
			status, _, _ := f.post(BasePath+"dead-letters/"+en.TaskID+"/replay", map[string]string{"csrf": csrfFrom(t, confirm)}, basic("operator", secretToken))
			if status != http.StatusSeeOther {
				t.Fatalf("POST with the token = %d, want 303", status)
			}
			f.wait(en.IdempotencyKey, "succeeded")
		})
	}
}

func flatten(h http.Header) []string {
	var out []string
	for k, vs := range h {
		out = append(out, k+": "+strings.Join(vs, ","))
	}
	return out
}

// TestOverviewOfAQueueNothingWasEnqueuedTo: a fresh deployment's overview says the queue does not
// exist yet, and shows no error. asynq's GetQueueInfo does not wrap ErrQueueNotFound, so the
// overview used to show its "does not exist" as an error too.
func TestOverviewOfAQueueNothingWasEnqueuedTo(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	status, page := f.get(BasePath, nil)
	if status != http.StatusOK {
		t.Fatalf("overview: %d\n%s", status, page)
	}
	if !strings.Contains(section(t, page, "queue"), "The queue does not exist yet") {
		t.Errorf("queue section does not say the queue does not exist yet:\n%s", section(t, page, "queue"))
	}
	if strings.Contains(page, `role="alert"`) {
		t.Errorf("the overview of a new queue shows an error:\n%s", page)
	}
}

// TestEveryActionNeedsTheTokenAndTheForm: every POST of the console, the new ones too, is refused
// without CONSOLE_TOKEN (401), without the form's CSRF token or from another site (403), and does
// nothing then.
func TestEveryActionNeedsTheTokenAndTheForm(t *testing.T) {
	f := newFixture(t, Auth{Addr: "0.0.0.0:9464", Token: cph.Secret(secretToken)})
	en := f.deadLetter("guarded-1")
	auth := http.Header{"Authorization": {"Bearer " + secretToken}}
	_, page := f.get(BasePath+"dead-letters/"+en.TaskID+"/replay", auth)
	token := csrfFrom(t, page)
	actions := []struct {
		path string
		form url.Values
	}{
		{"dead-letters/" + en.TaskID + "/replay", url.Values{}},
		{"dead-letters/" + en.TaskID + "/delete", url.Values{}},
		{"bulk/replay", url.Values{"id": {en.TaskID}}},
		{"bulk/delete", url.Values{"class": {"rejected"}, "upto": {"99999999999999"}, "n": {"1"}}},
		{"queue/pause", url.Values{}},
	}
	withHeaders := func(hs ...http.Header) http.Header {
		out := http.Header{}
		for _, h := range hs {
			for k, v := range h {
				out[k] = v
			}
		}
		return out
	}
	for _, a := range actions {
		for _, c := range []struct {
			name   string
			csrf   string
			header http.Header
			want   int
		}{
			{"no console token", token, nil, http.StatusUnauthorized},
			{"no CSRF token", "", auth, http.StatusForbidden},
			{"a wrong CSRF token", strings.Repeat("0", len(token)), auth, http.StatusForbidden},
			{"from another site", token, withHeaders(auth, http.Header{"Sec-Fetch-Site": {"cross-site"}}), http.StatusForbidden},
		} {
			form := url.Values{}
			for k, v := range a.form {
				form[k] = v
			}
			if c.csrf != "" {
				form.Set("csrf", c.csrf)
			}
			if status, _, body := f.postValues(BasePath+a.path, form, c.header); status != c.want {
				t.Errorf("POST %s, %s = %d, want %d\n%s", a.path, c.name, status, c.want, body)
			}
		}
	}
	if _, ok, _ := f.dls.Get(context.Background(), en.TaskID); !ok {
		t.Fatal("a refused action took the dead letter")
	}
	if paused, _ := f.op.Paused(context.Background()); paused {
		t.Fatal("a refused action paused the queue")
	}
}
