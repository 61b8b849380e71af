package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cphpurchase/internal/cph"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pagedAPI serves a fixed server list a page at a time, with a count it may lie about.
type pagedAPI struct {
	API
	servers []cph.Server
	count   func(page int) int // nil: the true total
	short   bool               // every page after the first is empty
	pages   int
}

func (a *pagedAPI) ListServers(_ context.Context, _ string, f cph.ListFilter) (*cph.ServerList, error) {
	page := a.pages
	a.pages++
	count := len(a.servers)
	if a.count != nil {
		count = a.count(page)
	}
	lo, hi := min(f.Offset, len(a.servers)), min(f.Offset+f.Limit, len(a.servers))
	out := a.servers[lo:hi]
	if a.short && page > 0 {
		out = nil
	}
	return &cph.ServerList{Count: count, Servers: out}, nil
}

func server(id, name, order string, at time.Time) cph.Server {
	return cph.Server{ServerID: id, ServerName: name, CreateTime: at.UTC().Format(cph.CreateTimeLayout),
		Metadata: cph.ServerMetadata{OrderID: order}}
}

func TestListOrders(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Second)
	w := callWindow{since: at.Add(-time.Minute), until: at.Add(time.Minute)}
	two := order("web")
	n := 2
	two.Request.Count = &n
	many := make([]cph.Server, 250)
	for i := range many {
		many[i] = server(fmt.Sprint("s", i), fmt.Sprint("webby-", i), fmt.Sprint("o", i), at)
	}
	for _, tc := range []struct {
		name    string
		o       *Order
		api     *pagedAPI
		want    []string // order ids, "+" suffix when complete
		wantErr string
	}{
		{"one complete order", two, &pagedAPI{servers: []cph.Server{
			server("a", "web-0001", "O1", at), server("b", "web-0002", "O1", at)}}, []string{"O1+"}, ""},
		{"servers of one name from two orders are two partial orders", two, &pagedAPI{servers: []cph.Server{
			server("a", "web-0001", "O1", at), server("b", "web-0002", "O2", at)}}, []string{"O1", "O2"}, ""},
		{"an order with a foreign name is not ours", order("web"), &pagedAPI{servers: []cph.Server{
			server("a", "web", "O1", at), server("b", "webby", "O1", at)}}, nil, ""},
		{"an order of web ×2 is not one of web-0001 ×1", order("web-0001"), &pagedAPI{servers: []cph.Server{
			server("a", "web-0001", "O1", at), server("b", "web-0002", "O1", at), server("c", "web-0001", "O2", at)}}, []string{"O2+"}, ""},
		{"outside the window", order("web"), &pagedAPI{servers: []cph.Server{
			server("a", "web", "O1", at.Add(-time.Hour)), server("b", "web", "O2", at.Add(time.Hour))}}, nil, ""},
		{"pages read to the end", order("webby-249"), &pagedAPI{servers: many}, []string{"o249+"}, ""},
		{"a count that is not the total", order("web"), &pagedAPI{servers: many, short: true}, nil, "ended after 100 of the 250"},
		{"a count that changes", order("web"), &pagedAPI{servers: many, count: func(p int) int { return 250 + p }}, nil, "changed while it was read"},
		{"a count below what was given", order("web"), &pagedAPI{servers: many[:150], count: func(int) int { return 120 }}, nil, "gave 150 servers but counted 120"},
		{"an unreadable create_time", order("web"), &pagedAPI{servers: []cph.Server{{ServerID: "a", ServerName: "web", CreateTime: "yesterday", Metadata: cph.ServerMetadata{OrderID: "O1"}}}}, nil, "cannot be read"},
		{"our name without an order id", order("web"), &pagedAPI{servers: []cph.Server{{ServerID: "a", ServerName: "web", CreateTime: at.Format(cph.CreateTimeLayout)}}}, nil, "no order id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listOrders(context.Background(), tc.api, tc.o, w)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range got {
				id := o.OrderID
				if o.Complete {
					id += "+"
				}
				ids = append(ids, id)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Fatalf("orders = %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestListOrdersStopsAtThePageLimit(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Second)
	servers := make([]cph.Server, 100*maxReconcilePages+1)
	for i := range servers {
		servers[i] = server(fmt.Sprint("s", i), "other", fmt.Sprint("o", i), at)
	}
	_, err := listOrders(context.Background(), &pagedAPI{servers: servers}, order("web"),
		callWindow{since: at.Add(-time.Minute), until: at.Add(time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "did not end within") {
		t.Fatalf("err = %v; want the page limit as an error, never \"not found\"", err)
	}
}

// A mark written before call deadlines were recorded (a legacy record, or a dead letter of one) has
// no Ends: the handler, the ledger's clear script and a replay all read it as a call of
// CallTimeout, never as one that ended when it began.
func TestAMarkWithoutADeadlineIsACallOfCallTimeout(t *testing.T) {
	tr := newTestRedis(t)
	ctx := context.Background()
	l := NewLedger(tr.rdb, tr.keys, 0)
	h := NewHandler(HandlerConfig{Ledger: l, CallTimeout: 30 * time.Second, ReconcileGrace: time.Minute})
	started := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	if err := l.Reopen(ctx, Reopening{Key: "legacy", Unresolved: &Unresolved{Started: started}}); err != nil {
		t.Fatal(err)
	}
	c := mustAcquire(t, l, "legacy", "a")
	if c.Unresolved == nil || !c.Unresolved.Started.Equal(started) || !c.Unresolved.Ends.IsZero() {
		t.Fatalf("restored mark = %+v; want its start and no deadline", c.Unresolved)
	}
	if got, want := h.window(c.Unresolved).until, started.Add(30*time.Second+time.Minute+apiClockMargin); !got.Equal(want) {
		t.Fatalf("window ends %v, want %v", got, want)
	}
	// The clear script reads it the same way: the grace counts from start + CallTimeout.
	var early *GraceError
	err := l.ClearPosting(ctx, testHold("legacy", "a"), ClearArgs{Grace: 2 * time.Hour, CallTimeout: 30 * time.Second})
	if !errors.As(err, &early) || early.Left < time.Hour || early.Left > time.Hour+31*time.Second {
		t.Fatalf("ClearPosting an hour into a 2h grace = %v; want about an hour left", err)
	}
}
