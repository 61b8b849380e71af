package console

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"
)

// chromiumPath is where Debian's chromium package puts the browser; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium for the test, or skips the test when there is none (and fails
// it under CI, which installs one).
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("SKIP: no browser at %s, so the end-to-end console test does not run; install Debian's chromium (apt-get install -y chromium) to run it. CI installs it, and with CI set this test fails instead.", chromiumPath)
		}
		t.Fatalf("CI is set, but there is no browser at %s: .ci/run should have installed Debian's chromium", chromiumPath)
	}
	profile, err := os.MkdirTemp("", "console-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: a browser helper process may still write to its profile while it exits, and
	// a leftover file must not fail the test.
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAllocator := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAllocator)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(cancelBrowser)
	return ctx
}

// text is the text of the element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// present reports whether the page has an element sel selects.
func present(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+strconv.Quote(sel)+`) !== null`))
	if err != nil {
		t.Fatalf("looking for %s: %v", sel, err)
	}
	return ok
}

// screenshot logs where a screenshot of the page is, for a person to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), name+".png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the console: %s (%d bytes)", shot, len(png))
}

// TestBrowserReplaysADeadLetter drives the console in headless Chromium as an operator would: an
// order rejected for arrears shows as a dead letter with its class and error; after the account is
// topped up (the simulator accepts again) the operator clicks Replay, confirms, and sees the order
// succeed in the console's recent results, and on its own page; the ledger agrees.
func TestBrowserReplaysADeadLetter(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	en := f.deadLetter("browser-1")

	row := `#dead-letters tr[data-task="` + en.TaskID + `"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(f.url+BasePath+"dead-letters"), chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		t.Fatalf("the dead letter does not show: %v", err)
	}
	got := text(t, ctx, row)
	for _, want := range []string{en.TaskID, en.IdempotencyKey, "rejected", "CPS.0006", "arrears", "ago"} {
		if !strings.Contains(got, want) {
			t.Errorf("dead-letter row %q lacks %q", got, want)
		}
	}

	// The account is topped up: the API accepts the order now.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+` a[data-action="replay"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	); err != nil {
		t.Fatalf("no confirmation step after Replay: %v", err)
	}
	if heading := text(t, ctx, "#confirm-step h2"); !strings.Contains(heading, en.TaskID) {
		t.Fatalf("confirmation heading %q does not name the dead letter", heading)
	}
	if _, ok, _ := f.dls.Get(ctx, en.TaskID); !ok {
		t.Fatal("the dead letter went before the replay was confirmed")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("flash"))); err != nil {
		t.Fatalf("confirming the replay: %v", err)
	}
	if flash := text(t, ctx, "#flash"); !strings.Contains(flash, "Replayed "+en.TaskID) {
		t.Fatalf("flash %q", flash)
	}
	if present(t, ctx, row) {
		t.Fatal("the replayed dead letter is still listed")
	}

	// Reload, as an operator would, until the order shows as succeeded in the recent results.
	succeeded := `#results tr[data-key="` + en.IdempotencyKey + `"][data-status="succeeded"]`
	var resultText string
	deadline := time.Now().Add(90 * time.Second)
	for attempt := 0; resultText == "" && time.Now().Before(deadline) && attempt < 300; attempt++ {
		if attempt > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(f.url+BasePath), chromedp.WaitVisible(chromedp.ID("results"))); err != nil {
			t.Fatal(err)
		}
		if present(t, ctx, succeeded) {
			resultText = text(t, ctx, succeeded)
		}
	}
	if resultText == "" {
		t.Fatal("the replayed order never showed as succeeded in the console's recent results")
	}
	orders := f.sim.OrdersFor("browser-1")
	if len(orders) != 1 || !strings.Contains(resultText, orders[0].OrderID) {
		t.Fatalf("results row %q; simulator orders %+v: want the one order", resultText, orders)
	}
	r := f.wait(en.IdempotencyKey, "succeeded")
	if r.OrderID != orders[0].OrderID {
		t.Fatalf("ledger result %+v, want order %s", r, orders[0].OrderID)
	}

	// The result links to the order's page.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(succeeded+" a")), chromedp.WaitVisible(chromedp.ID("order"))); err != nil {
		t.Fatalf("following the result to its order: %v", err)
	}
	if id, state := text(t, ctx, "#task-id"), text(t, ctx, "#state"); id != en.TaskID || state != "completed" {
		t.Errorf("the order's page shows task %q in state %q, want %s completed", id, state, en.TaskID)
	}
	if !strings.Contains(text(t, ctx, "#result"), orders[0].OrderID) {
		t.Error("the order's page does not show its order id")
	}
	screenshot(t, ctx, "order")
}

// TestBrowserPausesReplaysAClassAndRefreshes drives the rest as an operator would: pause the queue
// (every page says so), replay every rejected dead letter after one confirmation that says how
// many, delete a ticked one, resume, watch the overview refresh itself until the orders are bought
// and the chart counts them, and find an order with the search box.
func TestBrowserPausesReplaysAClassAndRefreshes(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	rejected := []string{f.deadLetter("browser-a").IdempotencyKey, f.deadLetter("browser-b").IdempotencyKey, f.deadLetter("browser-c").IdempotencyKey}
	f.enqueueRaw([]byte("\xff not json"), "browser-garbage")
	f.waitState("browser-garbage", asynq.TaskStateArchived)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.url+BasePath),
		chromedp.WaitVisible(chromedp.ID("pause")),
		chromedp.Click(chromedp.ID("pause")),
		chromedp.WaitVisible(chromedp.ID("paused")),
		chromedp.Navigate(f.url+BasePath+"dead-letters"),
		chromedp.WaitVisible(chromedp.CSS(`#classes a[data-class="rejected"]`)),
	); err != nil {
		t.Fatalf("pausing the queue: %v", err)
	}
	if !present(t, ctx, "#paused") {
		t.Fatal("the dead letters page does not say the queue is paused")
	}

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#classes a[data-class="rejected"]`)),
		chromedp.WaitVisible(chromedp.ID("replay-all")),
	); err != nil {
		t.Fatalf("filtering the rejected: %v", err)
	}
	if got := text(t, ctx, "#replay-all"); got != "Replay all 3 rejected…" {
		t.Errorf("bulk replay button %q", got)
	}
	screenshot(t, ctx, "dead-letters")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("replay-all")), chromedp.WaitVisible(chromedp.ID("bulk-count"))); err != nil {
		t.Fatalf("no confirmation of the bulk replay: %v", err)
	}
	if n, heading := text(t, ctx, "#bulk-count"), text(t, ctx, "#bulk-heading"); n != "3" || !strings.Contains(heading, "of class rejected") {
		t.Fatalf("the confirmation says %q (%q), want 3 of class rejected", n, heading)
	}
	screenshot(t, ctx, "bulk-confirmation")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("flash"))); err != nil {
		t.Fatalf("confirming the bulk replay: %v", err)
	}
	if got := text(t, ctx, "#flash"); got != "Replayed 3 of 3 dead letters of class rejected." {
		t.Errorf("flash %q", got)
	}
	for _, key := range rejected {
		// Paused: the replayed orders wait on the queue.
		if st, err := f.op.Status(ctx, key); err != nil || st.State != "pending" {
			t.Errorf("replayed %s while paused: %+v, %v; want pending", key, st, err)
		}
	}

	garbage := `#dead-letters tr[data-task="browser-garbage"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.url+BasePath+"dead-letters"),
		chromedp.WaitVisible(chromedp.CSS(garbage)),
		chromedp.Click(chromedp.CSS(garbage+` input[type="checkbox"]`)),
		chromedp.Click(chromedp.ID("delete-selected")),
		chromedp.WaitVisible(chromedp.ID("bulk-count")),
	); err != nil {
		t.Fatalf("deleting a selection: %v", err)
	}
	if n := text(t, ctx, "#bulk-count"); n != "1" {
		t.Fatalf("the confirmation counts %s selected, want 1", n)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("flash"))); err != nil {
		t.Fatalf("confirming the delete: %v", err)
	}
	if got := text(t, ctx, "#flash"); got != "Deleted 1 of 1 dead letters selected." {
		t.Errorf("flash %q", got)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.url+BasePath),
		chromedp.WaitVisible(chromedp.ID("resume")),
		chromedp.Click(chromedp.ID("resume")),
		chromedp.WaitVisible(chromedp.ID("pause")),
	); err != nil {
		t.Fatalf("resuming the queue: %v", err)
	}
	if present(t, ctx, "#paused") {
		t.Fatal("the overview still says the queue is paused")
	}

	// The overview refreshes itself: no navigation from here until the orders show as bought.
	if err := chromedp.Do(ctx, chromedp.Navigate(f.url+BasePath+"?refresh=5"), chromedp.WaitVisible(chromedp.ID("results"))); err != nil {
		t.Fatal(err)
	}
	conds := []string{`document.getElementById("chart-succeeded")?.textContent === "3"`}
	for _, key := range rejected {
		conds = append(conds, `document.querySelector(`+strconv.Quote(`#results tr[data-key="`+key+`"][data-status="succeeded"]`)+`) !== null`)
	}
	bought := false
	for deadline := time.Now().Add(2 * time.Minute); !bought && time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		// Evaluating while the page reloads may fail: try again.
		bought, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](strings.Join(conds, " && ")))
	}
	if !bought {
		t.Fatal("the overview never refreshed itself to show the three replayed orders bought")
	}
	if got := text(t, ctx, "#chart-dead-lettered"); got != "4" {
		t.Errorf("the chart counts %s dead-lettered in the last hour, want 4", got)
	}
	screenshot(t, ctx, "overview")

	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.url+BasePath+"?refresh=0"),
		chromedp.WaitVisible(chromedp.ID("search")),
		chromedp.SetValue(chromedp.ID("search"), rejected[1]),
		chromedp.Submit(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.ID("order")),
	); err != nil {
		t.Fatalf("searching for an order: %v", err)
	}
	if key, state := text(t, ctx, "#order h2"), text(t, ctx, "#state"); !strings.Contains(key, rejected[1]) || state != "completed" {
		t.Errorf("the search found %q in state %q", key, state)
	}
}
