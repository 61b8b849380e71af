package tasks

import (
	"context"
	"fmt"
	"sort"
	"time"

	"cphpurchase/internal/cph"
)

// API is what the pipeline needs of the CPH API; *cph.Client is the real one.
type API interface {
	Purchase(ctx context.Context, projectID string, req *cph.PurchaseRequest) (*cph.PurchaseResponse, error)
	ListServers(ctx context.Context, projectID string, f cph.ListFilter) (*cph.ServerList, error)
}

// clockSkew widens the reconciliation window: post_started comes from one machine's clock and
// create_time from the API's.
const clockSkew = 2 * time.Minute

// maxReconcilePages bounds one reconciliation: 100 pages of 100 servers with the order's name.
const maxReconcilePages = 100

// reconcile looks for the servers an earlier purchase call for o may have created, by name and
// creation time. It returns the order they belong to, reconstructed from the server list, or nil
// when there is none. A purchase of several servers names them server_name-0001, -0002, …
func reconcile(ctx context.Context, api API, o *Order, since time.Time) (*cph.PurchaseResponse, error) {
	want := map[string]bool{}
	if n := o.Request.ServerCount(); n <= 1 {
		want[o.Request.ServerName] = true
	} else {
		for i := 1; i <= n; i++ {
			want[fmt.Sprintf("%s-%04d", o.Request.ServerName, i)] = true
		}
	}
	since = since.Add(-clockSkew)

	var found []cph.Server
	filter := cph.ListFilter{ServerName: o.Request.ServerName, CreateSince: since, Limit: 100}
	for page := 0; page < maxReconcilePages; page++ {
		list, err := api.ListServers(ctx, o.ProjectID, filter)
		if err != nil {
			return nil, fmt.Errorf("reconcile: list servers: %w", err)
		}
		for _, s := range list.Servers {
			if !want[s.ServerName] {
				continue
			}
			if t, err := time.Parse(cph.CreateTimeLayout, s.CreateTime); err == nil && t.Before(since) {
				continue
			}
			found = append(found, s)
		}
		filter.Offset += len(list.Servers)
		if len(list.Servers) == 0 || filter.Offset >= list.Count {
			break
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	// Should two orders match (another buyer used the same name), the earliest one is ours: it
	// was created closest to our call.
	sort.SliceStable(found, func(i, j int) bool { return found[i].CreateTime < found[j].CreateTime })
	orderID := found[0].Metadata.OrderID
	resp := &cph.PurchaseResponse{OrderID: orderID, ProductID: found[0].Metadata.ProductID}
	for _, s := range found {
		if s.Metadata.OrderID == orderID {
			resp.ServerIDs = append(resp.ServerIDs, s.ServerID)
		}
	}
	return resp, nil
}
