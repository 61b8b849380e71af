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
)

// chromiumPath is where Debian's chromium package puts the browser; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserReplaysADeadLetter drives the console in headless Chromium as an operator would: an
// order rejected for arrears shows as a dead letter with its class and error; after the account is
// topped up (the simulator accepts again) the operator clicks Replay, confirms, and sees the order
// succeed in the console's recent results; the ledger agrees.
func TestBrowserReplaysADeadLetter(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("SKIP: no browser at %s, so the end-to-end console test does not run; install Debian's chromium (apt-get install -y chromium) to run it. CI installs it, and with CI set this test fails instead.", chromiumPath)
		}
		t.Fatalf("CI is set, but there is no browser at %s: .ci/run should have installed Debian's chromium", chromiumPath)
	}
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	en := f.deadLetter("browser-1")

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
	defer cancel()
	ctx, cancelAllocator := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAllocator()
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	defer cancelBrowser()

	overview := f.url + BasePath
	row := `#dead-letters tr[data-task="` + en.TaskID + `"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(overview), chromedp.WaitVisible(chromedp.CSS(row))); err != nil {
		t.Fatalf("the dead letter does not show: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{en.TaskID, en.IdempotencyKey, "rejected", "CPS.0006", "arrears"} {
		if !strings.Contains(text, want) {
			t.Errorf("dead-letter row %q lacks %q", text, want)
		}
	}

	// The account is topped up: the API accepts the order now.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+` a[data-action="replay"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	); err != nil {
		t.Fatalf("no confirmation step after Replay: %v", err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#confirm-step h2")))
	if err != nil || !strings.Contains(heading, en.TaskID) {
		t.Fatalf("confirmation heading %q (%v) does not name the dead letter", heading, err)
	}
	if _, ok, _ := f.dls.Get(ctx, en.TaskID); !ok {
		t.Fatal("the dead letter went before the replay was confirmed")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("flash"))); err != nil {
		t.Fatalf("confirming the replay: %v", err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("flash")))
	if err != nil || !strings.Contains(flash, "Replayed "+en.TaskID) {
		t.Fatalf("flash %q (%v)", flash, err)
	}

	// Reload, as an operator would, until the order shows as succeeded in the recent results.
	succeeded := strconv.Quote(`#results tr[data-key="` + en.IdempotencyKey + `"][data-status="succeeded"]`)
	var resultText string
	deadline := time.Now().Add(90 * time.Second)
	for attempt := 0; resultText == "" && time.Now().Before(deadline) && attempt < 300; attempt++ {
		if attempt > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(overview), chromedp.WaitVisible(chromedp.ID("results"))); err != nil {
			t.Fatal(err)
		}
		resultText, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+succeeded+`)?.innerText ?? ""`))
		if err != nil {
			t.Fatal(err)
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
	gone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+strconv.Quote(row)+`) === null`))
	if err != nil || !gone {
		t.Fatalf("the replayed dead letter is still listed (%v)", err)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "console.png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the console after the replay: %s (%d bytes)", shot, len(png))
}
