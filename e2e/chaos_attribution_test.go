package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// The attribution checks of the chaos run: which idempotency key each order the simulator placed
// belongs to, as the results stream, the ledger's claims and the dead letters report it.
//
// What can be proven, and how:
//
//   - The simulator keeps every committed order with the exact body of the purchase call that
//     placed it (Order.Request) and that call's request id. Two requests are the same purchase when
//     their fingerprints (project and canonical request, tasks.Order.Fingerprint) are equal; the
//     keys whose request has an order's fingerprint are its requesters: the keys one of whose
//     deliveries can have sent the call that placed it. Every order but those of identical groups
//     has exactly one requester: a name no other key buys, or a keypair_name no other key sends.
//     For those, "the order was placed by a call for this key's request" is proven exactly.
//   - In an identical group several keys sent byte-identical requests, and neither the API nor the
//     simulator records which key sent a call (the API takes no client token): there the checks
//     prove only that the order is one of that request (name, count and every other field), that no
//     two keys report it, and that the group holds no more orders than keys. Two keys of the group
//     that swapped their orders would pass; a key reporting an order of another request would not.
//   - A result that the purchase call's own answer gave (not reconciled) names the request id of
//     the call that placed the order: that links the result to the very call, not only the request.
//     A reconciled result carries no request id; the order's call is known (Order.RequestID), but
//     not which delivery sent it, nor whether that call was inside the key's own posting window,
//     since the ledger forgets a call's window once the key succeeds.
//   - The ledger's claim index (Ledger.Claimed) must name, for each reported order, the key that
//     reports it.
//
// Reported means: named by the last result of its key, a success, or an ambiguous dead letter's
// candidate_order_ids. An ambiguous dead letter without candidates (the order had not been listed
// when the key gave up, or a replay found no order where an absence proves nothing) covers at most
// one order that nobody else reports, of its own key's request: the order it says may exist. A
// dead letter that a replay superseded reports nothing any more.

// attribution is what check 2 found.
type attribution struct {
	placed     int
	requesters map[string][]string // fingerprint → keys whose request it is
	succeeded  int                 // last results that are successes
	exact      int                 // … whose order has one requester: proven to be the key's
	byRequest  int                 // … proven only up to a request several keys sent
	byAnswer   int                 // … whose result carries the placing call's request id
	reconciled int
	// Orders by how they are reported.
	bySuccess, byCandidate, byBareDL int
	// Ambiguous dead letters that are the last result of their key: key → candidate order ids.
	ambiguous map[string][]string
	// Ambiguous dead letters ever written (replays superseded some).
	ambiguousEver int
	// Orders placed by a call with a fault that committed them and hid it, by kind.
	postCommitOrders map[cphsim.FaultKind]int

	twoKeys, notTheirs, unreported, doubleBuys, claims []string
}

// placedOrders waits for the simulator's late commits to land and returns every order it placed.
func (c *chaosRun) placedOrders() []cphsim.Order {
	if !testkit.Poll(chaosLateCommit+10*time.Second, func() bool { return c.sim.stats().PendingLateCommits == 0 }) {
		c.t.Errorf("the simulator still has %d late commits pending", c.sim.stats().PendingLateCommits)
	}
	return c.sim.orders()
}

// requestFingerprint is the fingerprint of the purchase o was placed for, from the body the
// simulator received.
func requestFingerprint(o cphsim.Order) (string, error) {
	var r cph.PurchaseRequest
	if err := json.Unmarshal(o.Request, &r); err != nil {
		return "", fmt.Errorf("order %s: request body: %w", o.OrderID, err)
	}
	return (&tasks.Order{ProjectID: o.ProjectID, Request: &r}).Fingerprint(), nil
}

// attribute checks the placed orders against the results stream, the ledger's claims and the
// ambiguous dead letters.
func (c *chaosRun) attribute(stream map[string][]tasks.Result, placed []cphsim.Order) *attribution {
	t := c.t
	a := &attribution{placed: len(placed), requesters: map[string][]string{}, ambiguous: map[string][]string{},
		postCommitOrders: map[cphsim.FaultKind]int{}}
	orderOf := map[string]*chaosOrder{}
	for _, o := range c.orders {
		orderOf[o.key] = o
		if !o.invalid {
			fp := o.order.Fingerprint()
			a.requesters[fp] = append(a.requesters[fp], o.key)
		}
	}
	byID := map[string]cphsim.Order{}
	fpOf := map[string]string{} // order id → fingerprint
	for _, o := range placed {
		byID[o.OrderID] = o
		fp, err := requestFingerprint(o)
		if err != nil {
			t.Errorf("  %v", err)
		}
		fpOf[o.OrderID] = fp
		if slices.Contains(chaosPostCommitKinds, o.Fault) {
			a.postCommitOrders[o.Fault]++
		}
	}
	calls := map[string]cphsim.Call{} // request id → purchase call
	var all []cphsim.Call
	c.sim.must(c.sim.get("calls", &all))
	for _, call := range all {
		if call.Method == "POST" && strings.HasSuffix(call.Path, "/cloud-phone/servers") {
			calls[call.RequestID] = call
		}
	}
	describe := func(o cphsim.Order) string {
		return fmt.Sprintf("order %s (%s ×%d, fault %s, committed %s, call %s, request of %v)", o.OrderID, o.ServerName,
			len(o.ServerIDs), o.Fault, o.Time.Format("15:04:05.000"), o.RequestID, a.requesters[fpOf[o.OrderID]])
	}

	// Every order id a success reports, in any entry of the stream, belongs to one key.
	reportedBy := map[string][]string{} // order id → keys whose successes name it
	for key, rs := range stream {
		for _, r := range rs {
			if r.Status == tasks.StatusSucceeded && !slices.Contains(reportedBy[r.OrderID], key) {
				reportedBy[r.OrderID] = append(reportedBy[r.OrderID], key)
			}
		}
	}
	for id, keys := range reportedBy {
		if len(keys) > 1 {
			sort.Strings(keys)
			a.twoKeys = append(a.twoKeys, fmt.Sprintf("order %s is reported by %d keys: %v", id, len(keys), keys))
		}
	}

	// The last result of each key: its success, or its dead letter and what that names.
	last := map[string]tasks.Result{}
	for key, rs := range stream {
		if len(rs) > 0 {
			last[key] = rs[len(rs)-1]
		}
		for _, r := range rs {
			if r.Status == tasks.StatusDeadLettered && r.Error != nil && r.Error.Class == tasks.ClassAmbiguous {
				a.ambiguousEver++
			}
		}
	}
	finalOwner := map[string]string{}    // order id → key whose last result is its success
	candidateOf := map[string][]string{} // order id → keys whose last result names it a candidate
	bare := map[string][]string{}        // fingerprint → keys whose last result is an ambiguous dead letter without candidates
	var claimIDs, claimKeys []string
	for key, r := range last {
		switch {
		case r.Status == tasks.StatusSucceeded:
			a.succeeded++
			finalOwner[r.OrderID] = key
			claimIDs, claimKeys = append(claimIDs, r.OrderID), append(claimKeys, key)
			if r.Reconciled {
				a.reconciled++
			}
			a.checkTheirs(key, orderOf[key], r, byID, fpOf, calls)
		case r.Error != nil && r.Error.Class == tasks.ClassAmbiguous:
			a.ambiguous[key] = r.Error.Candidates
			for _, id := range r.Error.Candidates {
				candidateOf[id] = append(candidateOf[id], key)
				if _, ok := byID[id]; !ok {
					a.notTheirs = append(a.notTheirs, fmt.Sprintf("%s: its ambiguous dead letter names order %s, which the simulator never placed", key, id))
				}
			}
			if len(r.Error.Candidates) == 0 && orderOf[key] != nil {
				fp := orderOf[key].order.Fingerprint()
				bare[fp] = append(bare[fp], key)
			}
		}
	}

	// The ledger's claim index agrees with the successes.
	if len(claimIDs) > 0 {
		holders, err := tasks.NewLedger(c.tr.rdb, c.tr.keys, 0).Claimed(context.Background(), claimIDs)
		if err != nil {
			t.Fatalf("ledger claims: %v", err)
		}
		for i, h := range holders {
			if h != claimKeys[i] {
				a.claims = append(a.claims, fmt.Sprintf("order %s: reported by %s, claimed in the ledger by %q", claimIDs[i], claimKeys[i], h))
			}
		}
	}

	// Every placed order is reported, and no request has more orders than keys, unless the extra
	// ones are named as candidates by an ambiguous dead letter.
	type requestOrders struct{ all, named []string }
	perRequest := map[string]*requestOrders{}
	bareUsed := map[string]int{} // fingerprint → bare dead letters that cover an order already
	for _, o := range placed {
		fp := fpOf[o.OrderID]
		ro := perRequest[fp]
		if ro == nil {
			ro = &requestOrders{}
			perRequest[fp] = ro
		}
		ro.all = append(ro.all, o.OrderID)
		if len(a.requesters[fp]) == 0 {
			a.notTheirs = append(a.notTheirs, fmt.Sprintf("%s: no key sent this request", describe(o)))
		}
		switch {
		case finalOwner[o.OrderID] != "":
			a.bySuccess++
		case len(candidateOf[o.OrderID]) > 0:
			a.byCandidate++
			ro.named = append(ro.named, o.OrderID)
		case bareUsed[fp] < len(bare[fp]):
			a.byBareDL++
			bareUsed[fp]++
		default:
			a.unreported = append(a.unreported, fmt.Sprintf("%s is reported by nobody: %s", describe(o), c.history(a.requesters[fpOf[o.OrderID]], stream, o.OrderID)))
		}
	}
	for fp, ro := range perRequest {
		if keys := a.requesters[fp]; len(ro.all)-len(ro.named) > len(keys) {
			var lines []string
			for _, id := range ro.all {
				lines = append(lines, describe(byID[id]))
			}
			a.doubleBuys = append(a.doubleBuys, fmt.Sprintf("%d orders for the request of %v (%d named by an ambiguous dead letter): %s; %s",
				len(ro.all), keys, len(ro.named), strings.Join(lines, "; "), c.history(keys, stream, "")))
		}
	}
	return a
}

// checkTheirs checks that the order key's success reports is one its request placed.
func (a *attribution) checkTheirs(key string, co *chaosOrder, r tasks.Result, byID map[string]cphsim.Order, fpOf map[string]string, calls map[string]cphsim.Call) {
	if co == nil {
		return // check 1 reports a result for an unknown key
	}
	o, ok := byID[r.OrderID]
	if !ok {
		a.notTheirs = append(a.notTheirs, fmt.Sprintf("%s: reports order %q, which the simulator never placed", key, r.OrderID))
		return
	}
	req := co.order.Request
	var wrong []string
	if o.ProjectID != co.order.ProjectID {
		wrong = append(wrong, fmt.Sprintf("project %s, not %s", o.ProjectID, co.order.ProjectID))
	}
	if o.ServerName != req.ServerName {
		wrong = append(wrong, fmt.Sprintf("server name %s, not %s", o.ServerName, req.ServerName))
	}
	if len(o.ServerIDs) != req.ServerCount() {
		wrong = append(wrong, fmt.Sprintf("%d servers, not %d", len(o.ServerIDs), req.ServerCount()))
	}
	if !slices.Equal(slices.Sorted(slices.Values(o.ServerIDs)), slices.Sorted(slices.Values(r.ServerIDs))) {
		wrong = append(wrong, fmt.Sprintf("servers %v, the result says %v", o.ServerIDs, r.ServerIDs))
	}
	fp := fpOf[o.OrderID]
	if fp != co.order.Fingerprint() {
		wrong = append(wrong, fmt.Sprintf("placed for the request of %v", a.requesters[fp]))
	}
	call, ok := calls[o.RequestID]
	switch {
	case !ok:
		wrong = append(wrong, fmt.Sprintf("no purchase call %s placed it", o.RequestID))
	case call.ServerName != o.ServerName || o.Time.Before(call.Time):
		wrong = append(wrong, fmt.Sprintf("its call %s was for %s at %s", o.RequestID, call.ServerName, call.Time.Format("15:04:05.000")))
	}
	if !r.Reconciled {
		if r.RequestID != o.RequestID {
			wrong = append(wrong, fmt.Sprintf("the call's answer had request id %s, the order's call is %s", r.RequestID, o.RequestID))
		} else {
			a.byAnswer++
		}
	}
	if len(wrong) > 0 {
		a.notTheirs = append(a.notTheirs, fmt.Sprintf("%s reports order %s (reconciled %v), which is not its: %s", key, o.OrderID, r.Reconciled, strings.Join(wrong, "; ")))
		return
	}
	if len(a.requesters[fp]) == 1 {
		a.exact++
	} else {
		a.byRequest++
	}
}

// history says what the results stream and the workers' logs hold for keys, to report an order
// nobody owns; orderID, when set, is looked for in superseded dead letters.
func (c *chaosRun) history(keys []string, stream map[string][]tasks.Result, orderID string) string {
	var parts []string
	for _, key := range keys {
		var rs []string
		for _, r := range stream[key] {
			s := r.Status
			if r.Status == tasks.StatusSucceeded {
				s += fmt.Sprintf(" %s (reconciled %v)", r.OrderID, r.Reconciled)
			} else if r.Error != nil {
				s += fmt.Sprintf(" %s %v: %s", r.Error.Class, r.Error.Candidates, r.Error.Message)
				if orderID != "" && slices.Contains(r.Error.Candidates, orderID) {
					s += " [named it, superseded by a replay]"
				}
			}
			rs = append(rs, s)
		}
		parts = append(parts, fmt.Sprintf("%s (task %s): [%s]", key, tasks.TaskID(key), strings.Join(rs, " | ")))
	}
	return strings.Join(parts, "; ")
}

// report states the attribution checks, one verdict each.
func (a *attribution) report(c *chaosRun) {
	t := c.t
	c.verdict(len(a.twoKeys) == 0 && len(a.claims) == 0,
		"every order id a success reports belongs to one key: %d orders reported by two or more keys, %d disagree with the ledger's claims",
		len(a.twoKeys), len(a.claims))
	for _, s := range append(a.twoKeys, a.claims...) {
		t.Errorf("  %s", s)
	}
	c.verdict(len(a.notTheirs) == 0,
		"no key reports an order it did not place: %d successes checked against the simulator's orders (name, count, servers, request body, "+
			"placing call): %d proven the key's exactly, %d up to a request several keys sent, %d by the call's own answer; %d wrong",
		a.succeeded, a.exact, a.byRequest, a.byAnswer, len(a.notTheirs))
	for _, s := range a.notTheirs {
		t.Errorf("  %s", s)
	}
	c.verdict(len(a.unreported) == 0,
		"every paid order is reported: %d placed, %d by their key's success, %d as an ambiguous dead letter's candidate, "+
			"%d by an ambiguous dead letter of their request without candidates, %d by nobody",
		a.placed, a.bySuccess, a.byCandidate, a.byBareDL, len(a.unreported))
	for _, s := range a.unreported {
		t.Errorf("  %s", s)
	}
	c.verdict(len(a.doubleBuys) == 0,
		"no key bought twice: %d requests with more orders than keys, not counting ambiguous dead letters' candidates", len(a.doubleBuys))
	for _, s := range a.doubleBuys {
		t.Errorf("  %s", s)
	}
}

// summary prints the lines of the chaos summary about shared names, faults and attribution.
func (a *attribution) summary(c *chaosRun, st cphsim.Stats, reconciled int) {
	valid, followers, groups, identical, families := 0, 0, map[int]bool{}, map[int]bool{}, map[int]bool{}
	sharing := 0
	for _, o := range c.orders {
		if o.invalid {
			continue
		}
		valid++
		if o.group == 0 {
			continue
		}
		sharing++
		groups[o.group] = true
		if o.follower {
			followers++
		}
		if o.identical {
			identical[o.group] = true
		}
		if o.family {
			families[o.group] = true
		}
	}
	decided, post := 0, 0
	var kinds []string
	for k, n := range st.Faults {
		decided += n
		if slices.Contains(chaosPostCommitKinds, k) {
			post += n
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	sort.Strings(kinds)
	pct := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return 100 * float64(n) / float64(of)
	}
	var cands []string
	hist := map[int]int{}
	for key, ids := range a.ambiguous {
		hist[len(ids)]++
		cands = append(cands, fmt.Sprintf("%s: %d %v", key, len(ids), ids))
	}
	sort.Strings(cands)
	var histS []string
	for n, k := range hist {
		histS = append(histS, fmt.Sprintf("%d with %d candidates", k, n))
	}
	sort.Strings(histS)
	var orderFaults []string
	for k, n := range a.postCommitOrders {
		orderFaults = append(orderFaults, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(orderFaults)
	c.t.Logf("chaos summary seed=%d, shared names: %d of %d valid orders (%.0f%%) reuse another key's server name, %d keys in %d groups "+
		"(%d with identical requests, %d name families); post-commit faults: %d of %d purchase calls that reached the fault decision "+
		"(%.0f%%: %s), %d orders placed behind one (%s); %d orders reconciled; ambiguous dead letters: %d at the end (%s), %d ever; "+
		"attribution: %d successes, %d proven exactly, %d up to the request, %d by the call's answer, %d wrong, %d orders reported by two keys, "+
		"%d placed orders = %d by success + %d as candidates + %d by a candidate-less ambiguous dead letter + %d unreported; %d double buys",
		c.seed, followers, valid, pct(followers, valid), sharing, len(groups), len(identical), len(families),
		post, decided, pct(post, decided), strings.Join(kinds, ", "), sumFaults(a.postCommitOrders), strings.Join(orderFaults, ", "),
		reconciled, len(a.ambiguous), strings.Join(histS, ", "), a.ambiguousEver,
		a.succeeded, a.exact, a.byRequest, a.byAnswer, len(a.notTheirs), len(a.twoKeys),
		a.placed, a.bySuccess, a.byCandidate, a.byBareDL, len(a.unreported), len(a.doubleBuys))
	for _, s := range cands {
		c.t.Logf("  ambiguous dead letter %s", s)
	}
	// What the workers logged of the paths that shared names and hidden commits take.
	c.mu.Lock()
	workers := slices.Clone(c.started)
	c.mu.Unlock()
	logged := map[string]int{}
	for _, w := range workers {
		w.eachLog(func(m map[string]any) bool {
			if msg, _ := m["message"].(string); msg != "" {
				logged[msg]++
			}
			return true
		})
	}
	c.t.Logf("chaos summary seed=%d, worker logs: %d waits for another key's unresolved call on the same name, "+
		"%d reconciliations that found the order, %d that found it not yet and looked again, %d that proved no order after the grace (then bought again)",
		c.seed, logged["another key's purchase call for this server name has no known outcome yet: waiting"],
		logged["reconciled: the earlier call placed the order"],
		logged["not found yet: looking again before concluding that nothing was placed"],
		logged["reconciled: the earlier call placed no order"])
}

func sumFaults(m map[cphsim.FaultKind]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// explainBursts logs every stretch of one second in which the API counted more than allowed
// purchase calls, or refused one for the rate limit, with the storm's last action before it: what
// delayed some calls after their slots and not others.
func (c *chaosRun) explainBursts(allowed int) {
	var all []cphsim.Call
	c.sim.must(c.sim.get("calls", &all))
	var calls []cphsim.Call
	for _, call := range all {
		if call.Method == "POST" && strings.HasSuffix(call.Path, "/cloud-phone/servers") {
			calls = append(calls, call)
		}
	}
	sort.Slice(calls, func(i, j int) bool { return calls[i].Time.Before(calls[j].Time) })
	c.mu.Lock()
	events := slices.Clone(c.events)
	c.mu.Unlock()
	// around lists the storm's actions from 5 s before at to 1 s after (the test notices that
	// Redis is back only when it next polls it, after the workers may have).
	around := func(at time.Time) string {
		var s []string
		for _, e := range events {
			switch d := at.Sub(e.at); {
			case d >= 0 && d <= 5*time.Second:
				s = append(s, fmt.Sprintf("%q %s before", e.what, d.Round(time.Millisecond)))
			case d < 0 && d >= -time.Second:
				s = append(s, fmt.Sprintf("%q %s after", e.what, (-d).Round(time.Millisecond)))
			}
		}
		if len(s) == 0 {
			return "no storm action within 5 s before it"
		}
		return "storm: " + strings.Join(s, ", ")
	}
	lo, shownTo := 0, -1
	for hi := range calls {
		for !calls[lo].Time.After(calls[hi].Time.Add(-time.Second)) {
			lo++
		}
		if hi-lo+1 <= allowed && !calls[hi].RateLimited {
			continue
		}
		if lo <= shownTo { // part of a stretch already shown: extend it
			for _, call := range calls[shownTo+1 : hi+1] {
				c.t.Logf("    %s %s status %d %s fault %s", call.Time.Format("15:04:05.000"), call.ServerName, call.Status, call.Code, call.Fault)
			}
			shownTo = hi
			continue
		}
		c.t.Logf("  %d purchase calls within 1 s up to %s (%s):", hi-lo+1, calls[hi].Time.Format("15:04:05.000"), around(calls[lo].Time))
		for _, call := range calls[lo : hi+1] {
			c.t.Logf("    %s %s status %d %s fault %s", call.Time.Format("15:04:05.000"), call.ServerName, call.Status, call.Code, call.Fault)
		}
		shownTo = hi
	}
	if best := densestSecond(c.sim); len(best) > 0 {
		c.t.Logf("  the densest second starts at %s: %d calls", best[0].Time.Format("15:04:05.000"), len(best))
	}
	// For the diagnosis only, not the verdict: the same count without the calls sent while Redis
	// was down or within 2 s of its return, when the calls held at their posting mark go out.
	var outages [][2]time.Time
	for i, e := range events {
		if e.what != "Redis SHUTDOWN" {
			continue
		}
		end := e.at.Add(time.Minute)
		for _, f := range events[i+1:] {
			if f.what == "Redis back after a restart" {
				end = f.at
				break
			}
		}
		outages = append(outages, [2]time.Time{e.at, end.Add(2 * time.Second)})
	}
	var rest []cphsim.Call
	refused := 0
	for _, call := range calls {
		if !slices.ContainsFunc(outages, func(o [2]time.Time) bool { return !call.Time.Before(o[0]) && !call.Time.After(o[1]) }) {
			rest = append(rest, call)
			if call.RateLimited {
				refused++
			}
		}
	}
	most := 0
	for lo, hi := 0, 0; hi < len(rest); hi++ {
		for !rest[lo].Time.After(rest[hi].Time.Add(-time.Second)) {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	c.t.Logf("  without the calls of the Redis outages and the 2 s after them (%d of %d calls left out): at most %d in any second, %d refused",
		len(calls)-len(rest), len(calls), most, refused)
	// A starved machine delays calls by varying amounts, which the limiter cannot take out: say
	// how busy this one is (other tests may share it).
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		c.t.Logf("  load average now (1, 5, 15 min): %s on %d CPUs", strings.Join(strings.Fields(string(load))[:3], ", "), runtime.NumCPU())
	}
}
