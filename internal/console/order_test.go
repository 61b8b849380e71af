package console

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

// TestOrderPageShowsTheLifecycle: a bought order's page shows its readiness lifecycle, once its
// tracking has started: the state, and each server with its phones.
func TestOrderPageShowsTheLifecycle(t *testing.T) {
	f := newFixture(t, Auth{Addr: "127.0.0.1:9464"})
	en := f.submit(order("lifecycle-1"))
	bought := f.wait(en.IdempotencyKey, "succeeded")
	f.waitState(en.TaskID, asynq.TaskStateCompleted)
	path := BasePath + "orders/" + url.PathEscape(en.IdempotencyKey)
	if _, page := f.get(path, nil); !strings.Contains(section(t, page, "lifecycle"), "bought while readiness tracking was off") {
		t.Errorf("a bought order without a lifecycle record:\n%s", section(t, page, "lifecycle"))
	}
	purchased := time.Now().Add(-2 * time.Minute).UTC()
	_, err := f.op.Readiness().Start(t.Context(), tasks.Readiness{
		IdempotencyKey: en.IdempotencyKey, OrderID: bought.OrderID, State: tasks.LifecycleCreating,
		Servers:     []tasks.ServerReadiness{{ServerID: "server-7", State: tasks.LifecycleCreating, Phones: []tasks.PhoneReadiness{{PhoneID: "p1"}, {PhoneID: "p2"}}}},
		PurchasedAt: purchased, Checks: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, page := f.get(path, nil)
	lifecycle := section(t, page, "lifecycle")
	for _, w := range []string{`id="lifecycle-state" class="tag lifecycle-creating">creating<`, "<code>server-7</code>", "<td>2</td>", `<time datetime="` + purchased.Format(time.RFC3339) + `"`} {
		if !strings.Contains(lifecycle, w) {
			t.Errorf("the lifecycle lacks %q:\n%s", w, lifecycle)
		}
	}
}
