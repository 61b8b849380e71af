package cphsim

import (
	"errors"
	"fmt"
	"time"

	"cphpurchase/internal/cph"
)

// Fate is what becomes of the servers of an order after it is placed (or, for an order that waits
// for payment, once it is paid). Every server starts creating, with phones creating too; after
// Options.CreateTime the fate shows.
type Fate int

const (
	// FateReady: the servers run (status 5) and their phones run (status 2).
	FateReady Fate = iota
	// FateAbnormal: the servers end abnormal (status 2), their phones abnormal (-7).
	FateAbnormal
	// FatePhoneFails: the servers run, but the first phone of each fails creation (-8).
	FatePhoneFails
	// FateNeverReady: the servers and phones stay creating for ever.
	FateNeverReady

	numFates = iota
)

// String returns the snake_case name used in JSON.
func (f Fate) String() string {
	switch f {
	case FateReady:
		return "ready"
	case FateAbnormal:
		return "abnormal"
	case FatePhoneFails:
		return "phone_fails"
	case FateNeverReady:
		return "never_ready"
	}
	return fmt.Sprintf("Fate(%d)", int(f))
}

// MarshalText writes the name, so the debug routes' JSON is readable.
func (f Fate) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (f *Fate) UnmarshalText(b []byte) error {
	for k := range Fate(numFates) {
		if k.String() == string(b) {
			*f = k
			return nil
		}
	}
	return fmt.Errorf("cphsim: unknown fate %q", b)
}

// OrderCall is what Options.Lifecycle sees of an order being committed, to choose its Fate.
type OrderCall struct {
	ProjectID  string
	ServerName string
	AutoPay    bool
}

// fate asks Options.Lifecycle, or draws from the lifecycle rates: a pure function of the seed,
// the project and the server name, so that a seeded run repeats its fates.
func (s *Server) fate(c OrderCall) Fate {
	if s.opts.Lifecycle != nil {
		return s.opts.Lifecycle(c)
	}
	u := unitHash(s.opts.Seed, c.ProjectID, "lifecycle\x00"+c.ServerName, 0)
	for _, r := range []struct {
		fate Fate
		rate float64
	}{{FateAbnormal, s.opts.AbnormalRate}, {FatePhoneFails, s.opts.PhoneFailRate}, {FateNeverReady, s.opts.NeverReadyRate}} {
		if u < r.rate {
			return r.fate
		}
		u -= r.rate
	}
	return FateReady
}

// newOrder is what a valid purchase asks for, with its servers' fate decided.
func (s *Server) newOrder(project, requestID string, body *purchaseBody, raw []byte, fault FaultKind) newOrder {
	return newOrder{
		projectID: project, requestID: requestID, req: body, raw: raw, fault: fault,
		fate:       s.fate(OrderCall{ProjectID: project, ServerName: *body.ServerName, AutoPay: body.autoPay()}),
		createTime: s.opts.CreateTime, phones: s.opts.PhonesPerServer,
	}
}

// status is the server's status at now.
func (srv *simServer) status(now time.Time) int {
	switch {
	case srv.Fate == FateNeverReady || now.Before(srv.ReadyAt):
		return cph.ServerStatusCreating
	case srv.Fate == FateAbnormal:
		return cph.ServerStatusAbnormal
	}
	return cph.ServerStatusRunning
}

// phoneStatus is the status of the server's i-th phone at now.
func (srv *simServer) phoneStatus(i int, now time.Time) int {
	switch {
	case srv.Fate == FateNeverReady || now.Before(srv.ReadyAt):
		return cph.PhoneStatusCreating
	case srv.Fate == FateAbnormal:
		return cph.PhoneStatusAbnormal
	case srv.Fate == FatePhoneFails && i == 0:
		return cph.PhoneStatusCreationFailed
	}
	return cph.PhoneStatusRunning
}

// ErrNoSuchOrder and ErrNoSuchServer are what PayOrder and DeleteServer say of an unknown id.
var (
	ErrNoSuchOrder  = errors.New("cphsim: no such order")
	ErrNoSuchServer = errors.New("cphsim: no such server")
)

// PayOrder pays an order that waits for payment, as its customer would in the console: its
// servers appear in the list and start creating, Options.CreateTime from now. Paying an order
// that is paid already (or paid automatically) changes nothing.
func (s *Server) PayOrder(orderID string) error {
	return s.store.pay(orderID, s.opts.Now(), s.opts.CreateTime)
}

// DeleteServer deletes a server, as its owner would: the list and the detail call no longer know
// it.
func (s *Server) DeleteServer(serverID string) error { return s.store.deleteServer(serverID) }

func (st *store) pay(orderID string, now time.Time, createTime time.Duration) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	i, ok := st.orderIDs[orderID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoSuchOrder, orderID)
	}
	o := &st.all[i]
	if o.AutoPay || o.PaidAt != nil {
		return nil
	}
	paid := now
	o.PaidAt = &paid
	for _, id := range o.ServerIDs {
		old, ok := st.servers[id]
		if !ok {
			continue // deleted meanwhile
		}
		srv := *old // servers are never changed once stored: readers may hold the old one
		srv.Listed, srv.Created, srv.ReadyAt = true, now.UTC().Truncate(time.Second), now.Add(createTime)
		st.servers[id] = &srv
		st.byProject[srv.ProjectID] = append(st.byProject[srv.ProjectID], &srv)
	}
	return nil
}

func (st *store) deleteServer(id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	srv, ok := st.servers[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoSuchServer, id)
	}
	delete(st.servers, id)
	list := st.byProject[srv.ProjectID]
	for i, s := range list {
		if s.ID == id {
			st.byProject[srv.ProjectID] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	return nil
}

// order returns a copy of the order with id, and whether there is one.
func (st *store) order(id string) (Order, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	i, ok := st.orderIDs[id]
	if !ok {
		return Order{}, false
	}
	return st.all[i], true
}

// phones returns the phones of the project's listed servers (one server's when serverID is set),
// in order, with their statuses at now.
func (st *store) phones(project, serverID string, now time.Time) []phoneJSON {
	st.mu.RLock()
	defer st.mu.RUnlock()
	var out []phoneJSON
	for _, srv := range st.byProject[project] {
		if serverID != "" && srv.ID != serverID {
			continue
		}
		for i, id := range srv.PhoneIDs {
			out = append(out, phoneJSON{
				PhoneID: id, PhoneName: fmt.Sprintf("%s-phone-%02d", srv.Name, i+1), ServerID: srv.ID,
				PhoneModelName: srv.PhoneModel, Status: srv.phoneStatus(i, now),
				CreateTime: srv.Created.Format(cph.CreateTimeLayout),
			})
		}
	}
	return out
}
