package tasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cphpurchase/internal/cph"
)

// apiClockMargin widens a call's window on both sides: the window is on Redis's clock, the
// servers' create_time on the API's. Both are NTP-synchronised in any sane setup; two minutes is
// far more than they drift apart.
const apiClockMargin = 2 * time.Minute

// maxReconcilePages bounds one reconciliation: 100 pages of 100 servers created in one call's
// window under one name stem. A list that does not end within it is an error, never "not found".
const maxReconcilePages = 100

// partialRecheck is how soon reconciliation looks again at an order whose servers are not all
// listed yet.
const partialRecheck = 10 * time.Second

// callWindow is when an order placed by one unresolved purchase call can have been created: from
// the posting mark to the call's deadline plus the grace, widened by apiClockMargin.
type callWindow struct{ since, until time.Time }

// window is u's call window.
func (h *Handler) window(u *Unresolved) callWindow {
	return callWindow{since: u.Started.Add(-apiClockMargin), until: h.callEnds(u).Add(h.cfg.ReconcileGrace + apiClockMargin)}
}

// callEnds is u's call deadline; a mark written before deadlines were recorded stands for a call of
// CallTimeout, as the ledger's clear script takes it.
func (h *Handler) callEnds(u *Unresolved) time.Time {
	if u.Ends.IsZero() {
		return u.Started.Add(h.cfg.CallTimeout)
	}
	return u.Ends
}

// nameHold is how long a purchase call holds its name locks unless its outcome clears them: its
// whole window, so no other key's order with one of the names can be created inside it. The
// margin counts twice: once for the end of this window, once for the start of the next key's.
func (h *Handler) nameHold() time.Duration {
	return h.cfg.CallTimeout + h.cfg.ReconcileGrace + 2*apiClockMargin
}

// listedOrder is one order found in the server list.
type listedOrder struct {
	OrderID   string
	ProductID string
	ServerIDs []string
	names     []string
	// Complete: its servers are exactly the ones the request buys; otherwise some of them, so far.
	Complete bool
}

// serverNames are the names the API gives the servers of a purchase: server_name for one,
// server_name-0001, -0002, … for several.
func serverNames(r *cph.PurchaseRequest) []string {
	n := r.ServerCount()
	if n <= 1 {
		return []string{r.ServerName}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%04d", r.ServerName, i+1)
	}
	return names
}

// listOrders reads, to the end, the servers whose names contain o's server name created inside w,
// and returns the orders whose listed servers all bear names of o's purchase, each name once;
// Complete when they are all of them. Another key's order that shares a server name with o's
// (one named "web" of two servers and one named "web-0001" of one both create a "web-0001") is
// never unresolved inside o's window, by the name locks, and a resolved one is claimed. A list
// that cannot be read to the end, whose count does not add up, or that holds a time it cannot
// read is an error: "not found" must be proven.
func listOrders(ctx context.Context, api API, o *Order, w callWindow) ([]listedOrder, error) {
	want := serverNames(o.Request)
	filter := cph.ListFilter{
		ServerName:  o.Request.ServerName,
		CreateSince: w.since,
		CreateUntil: w.until.Add(time.Second), // the API's filter counts whole seconds
		Limit:       cph.DefaultListLimit,
	}
	byOrder := map[string]*listedOrder{}
	var ids []string
	total := -1
	for page := 0; ; page++ {
		if page == maxReconcilePages {
			return nil, fmt.Errorf("reconcile: the server list did not end within %d pages", maxReconcilePages)
		}
		list, err := api.ListServers(ctx, o.ProjectID, filter)
		if err != nil {
			return nil, fmt.Errorf("reconcile: list servers: %w", err)
		}
		switch {
		case total < 0:
			total = list.Count
		case list.Count != total:
			return nil, fmt.Errorf("reconcile: the server list changed while it was read (count %d, then %d)", total, list.Count)
		}
		for _, s := range list.Servers {
			created, err := time.Parse(cph.CreateTimeLayout, s.CreateTime)
			if err != nil {
				return nil, fmt.Errorf("reconcile: server %s has a create_time that cannot be read (%q): %w", s.ServerID, s.CreateTime, err)
			}
			if created.Before(w.since.Truncate(time.Second)) || created.After(w.until) {
				continue
			}
			if s.Metadata.OrderID == "" {
				if slices.Contains(want, s.ServerName) {
					return nil, fmt.Errorf("reconcile: server %s (%s) has no order id to tell whose it is", s.ServerID, s.ServerName)
				}
				continue
			}
			lo := byOrder[s.Metadata.OrderID]
			if lo == nil {
				lo = &listedOrder{OrderID: s.Metadata.OrderID, ProductID: s.Metadata.ProductID}
				byOrder[s.Metadata.OrderID] = lo
				ids = append(ids, s.Metadata.OrderID)
			}
			lo.ServerIDs = append(lo.ServerIDs, s.ServerID)
			lo.names = append(lo.names, s.ServerName)
		}
		filter.Offset += len(list.Servers)
		if filter.Offset > total {
			return nil, fmt.Errorf("reconcile: the server list gave %d servers but counted %d", filter.Offset, total)
		}
		if filter.Offset == total {
			break
		}
		if len(list.Servers) == 0 {
			return nil, fmt.Errorf("reconcile: the server list ended after %d of the %d servers it counted", filter.Offset, total)
		}
	}
	var out []listedOrder
	for _, id := range ids {
		lo := byOrder[id]
		if !namesOf(lo.names, want) {
			continue
		}
		lo.Complete = len(lo.names) == len(want)
		out = append(out, *lo)
	}
	return out, nil
}

// namesOf reports whether names are distinct members of want.
func namesOf(names, want []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] || !slices.Contains(want, n) {
			return false
		}
		seen[n] = true
	}
	return true
}

// reconcile settles an earlier purchase call whose outcome is unknown. done is true when the
// delivery ends here (err then says how); false means the earlier call placed no order.
//
// The order is found by identity, never by name alone: a candidate is an order in the server list
// whose servers are exactly the request's, created inside the call's window, and which no other key
// has claimed. The name locks (Ledger.MarkPosting) kept every other key from calling for an order
// with any of these server names during the window. One candidate is claimed atomically; several are an ambiguous dead letter that
// names them; none proves absence only after the grace, and then only under RebuyAfterGrace.
func (d *delivery) reconcile(ctx context.Context, claim Claim, spent bool) (done bool, err error) {
	h := d.h
	u := claim.Unresolved
	w := h.window(u)
	d.log.Info().Time("call_started", u.Started).Msg("an earlier purchase call has no known outcome: reconciling")
	if claim.Now.Sub(w.until) > h.cfg.Ledger.Retention()-apiClockMargin {
		return true, d.deadLetter(ctx, ClassAmbiguous, fmt.Errorf(
			"an earlier purchase call (%s) may have placed the order, and it is older than the ledger remembers which key each order belongs to, so no listed order can be proven to be this key's: check the BSS orders, then replay with --rebuy or delete this dead letter",
			u.Started.UTC().Format(time.RFC3339)))
	}
	found, err := listOrders(ctx, h.cfg.API, d.order, w)
	if err == nil {
		found, err = d.unclaimed(ctx, found)
	}
	if err != nil {
		if spent {
			return true, d.deadLetter(ctx, ClassAmbiguous,
				fmt.Errorf("an earlier purchase call may have placed the order and the server list could not be read to confirm it: %w", err))
		}
		return true, d.comeBack(ctx, outcomeRetry, "", retryCounted(err))
	}
	h.cfg.Observer.Reconciled(len(found) > 0)
	switch {
	case len(found) > 1:
		return true, d.deadLetterCandidates(ctx, found)
	case len(found) == 1 && found[0].Complete:
		o := found[0]
		d.log.Info().Str("order_id", o.OrderID).Msg("reconciled: the earlier call placed the order")
		return true, d.succeed(ctx, &cph.PurchaseResponse{OrderID: o.OrderID, ProductID: o.ProductID, ServerIDs: o.ServerIDs}, true)
	case len(found) == 1:
		err := fmt.Errorf("order %s has %d of its %d servers listed so far", found[0].OrderID, len(found[0].ServerIDs), d.order.Request.ServerCount())
		if spent {
			return true, d.deadLetterCandidates(ctx, found)
		}
		return true, d.comeBack(ctx, outcomeWaiting, "", retryUncounted(err, partialRecheck))
	}
	return d.notFound(ctx, claim, spent)
}

// unclaimed drops the orders that another idempotency key has claimed.
func (d *delivery) unclaimed(ctx context.Context, found []listedOrder) ([]listedOrder, error) {
	if len(found) == 0 {
		return nil, nil
	}
	ids := make([]string, len(found))
	for i, o := range found {
		ids[i] = o.OrderID
	}
	holders, err := d.h.cfg.Ledger.Claimed(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []listedOrder
	for i, o := range found {
		if holders[i] == "" || holders[i] == d.hold.Key {
			out = append(out, o)
		}
	}
	return out, nil
}

// notFound decides what the absence of the order means: nothing yet (inside the grace), nothing
// provable (an order that waits for payment lists no servers; a replayed dead letter's evidence is
// stale; RebuyNever), or proof that the call placed nothing. In the cases that prove nothing the
// mark stays, so that a replay reconciles again before anything is bought.
func (d *delivery) notFound(ctx context.Context, claim Claim, spent bool) (bool, error) {
	h := d.h
	u := claim.Unresolved
	if !d.order.Request.AutoPay() {
		return true, d.deadLetter(ctx, ClassAmbiguous, errors.New(
			"an earlier purchase call may have placed the order, and without extend_param.is_auto_pay=1 such an "+
				"order waits for payment in BSS and has no servers to find: check the BSS orders, then replay with --rebuy or delete this dead letter"))
	}
	if left := h.callEnds(u).Add(h.cfg.ReconcileGrace).Sub(claim.Now); left > 0 {
		return true, d.notFoundYet(ctx, &GraceError{Left: left}, spent)
	}
	switch {
	case u.NoRebuy:
		return true, d.deadLetter(ctx, ClassAmbiguous, errors.New(
			"replayed: the earlier purchase call's order is still not listed, but an absence seen this long after the call proves nothing "+
				"(its servers may have been deleted): check the BSS orders, then replay with --rebuy or delete this dead letter"))
	case h.cfg.Policy == RebuyNever:
		return true, d.deadLetter(ctx, ClassAmbiguous, fmt.Errorf(
			"an earlier purchase call had no answer and its order is not listed %s after the call's deadline; RECONCILE_POLICY=never forbids buying again: check the BSS orders, then replay with --rebuy or delete this dead letter",
			h.cfg.ReconcileGrace))
	}
	// The script checks the grace again, on Redis's clock at the moment it clears the mark.
	err := h.cfg.Ledger.ClearPosting(detached(ctx), d.hold, ClearArgs{Grace: h.cfg.ReconcileGrace, CallTimeout: h.cfg.CallTimeout, NameLinger: 2 * apiClockMargin})
	var early *GraceError
	switch {
	case errors.As(err, &early):
		return true, d.notFoundYet(ctx, early, spent)
	case err != nil:
		return true, retryUncounted(err, time.Second)
	}
	d.log.Info().Msg("reconciled: the earlier call placed no order")
	return false, nil
}

// notFoundYet waits, uncounted, for the grace to pass; on a spent budget it ends the order as
// ambiguous instead.
func (d *delivery) notFoundYet(ctx context.Context, early *GraceError, spent bool) error {
	if spent {
		return d.deadLetter(ctx, ClassAmbiguous, fmt.Errorf("an earlier purchase call may have placed the order: %w", early))
	}
	wait := min(early.Left, d.h.recheck())
	d.log.Info().Dur("left", early.Left).Dur("wait", wait).Msg("not found yet: looking again before concluding that nothing was placed")
	return d.comeBack(ctx, outcomeWaiting, "", retryUncounted(early, wait))
}

// recheck is how often reconciliation looks for an order while the grace runs: a late commit is
// found soon after it lands, not only when the grace is over.
func (h *Handler) recheck() time.Duration {
	return min(max(h.cfg.ReconcileGrace/10, time.Second), time.Minute)
}

// deadLetterCandidates ends the order as ambiguous, naming the orders that could be its own.
func (d *delivery) deadLetterCandidates(ctx context.Context, found []listedOrder) error {
	ids := make([]string, len(found))
	for i, o := range found {
		ids[i] = o.OrderID
	}
	return d.deadLetter(ctx, ClassAmbiguous, &candidatesError{ids: ids})
}

// candidatesError says which orders could be this key's when reconciliation cannot prove which.
type candidatesError struct{ ids []string }

func (e *candidatesError) Error() string {
	if len(e.ids) == 1 {
		return fmt.Sprintf("order %s may be this key's, but not all of its servers are listed: check it in BSS, then replay or delete this dead letter", e.ids[0])
	}
	return fmt.Sprintf("%d unclaimed orders match this purchase in the call's window (%s): which one is this key's cannot be proven; check them in BSS, then replay or delete this dead letter",
		len(e.ids), strings.Join(e.ids, ", "))
}
