package cphsim

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// simServer is one cloud phone server. It is never modified once stored, so readers may use it
// after the store's lock is released.
type simServer struct {
	ID, Name, ProjectID     string
	Created                 time.Time // truncated to the second, as the API reports it
	OrderID, ProductID      string
	ChargingMode            string
	ServerModel, PhoneModel string
	KeypairName, VPCID, AZ  string
	Listed                  bool // the order was paid (automatically or by PayOrder), so the list shows it
	// ReadyAt is when the server and its phones stop creating and show their Fate.
	ReadyAt  time.Time
	Fate     Fate
	PhoneIDs []string
}

// store holds what the purchases created. Lookups by id and name are maps; the list walks one
// project's servers, which is what the real API's fuzzy name filter forces anyway.
type store struct {
	mu        sync.RWMutex
	all       []Order
	orderIDs  map[string]int          // order id → index into all
	byName    map[string][]int        // server_name → indexes into all
	servers   map[string]*simServer   // server id → server (listed or not)
	byProject map[string][]*simServer // project → listed servers, oldest first
}

func newStore() *store {
	st := &store{}
	st.clear()
	return st
}

func (st *store) clear() {
	st.all = nil
	st.orderIDs = map[string]int{}
	st.byName = map[string][]int{}
	st.servers = map[string]*simServer{}
	st.byProject = map[string][]*simServer{}
}

func (st *store) reset() {
	st.mu.Lock()
	st.clear()
	st.mu.Unlock()
}

// newOrder is what a valid purchase asks for.
type newOrder struct {
	projectID, requestID string
	req                  *purchaseBody
	raw                  []byte
	fault                FaultKind
	now                  time.Time
	// fate is what becomes of the servers (Server.fate), createTime how long they take to show it,
	// phones how many phones each server has.
	fate       Fate
	createTime time.Duration
	phones     int
}

// commit places the order: count servers, named as the API names them, listed only when the
// order is paid automatically. Ids are drawn before the lock and redrawn under it only on the
// rare collision, to keep the critical section short.
func (st *store) commit(n newOrder) Order {
	count := *n.req.Count
	o := Order{
		OrderID:    newOrderID(n.now),
		ProductID:  productID(*n.req.ServerModelName),
		ProjectID:  n.projectID,
		ServerName: *n.req.ServerName,
		ServerIDs:  make([]string, count),
		RequestID:  n.requestID,
		Time:       n.now,
		Fault:      n.fault,
		AutoPay:    n.req.autoPay(),
		Request:    n.raw,
		Fate:       n.fate,
	}
	created := n.now.UTC().Truncate(time.Second)
	servers := make([]*simServer, count)
	for i := range servers {
		o.ServerIDs[i] = newID()
		servers[i] = &simServer{
			ID:           o.ServerIDs[i],
			Name:         serverName(o.ServerName, i, count),
			ProjectID:    n.projectID,
			Created:      created,
			OrderID:      o.OrderID,
			ProductID:    o.ProductID,
			ChargingMode: strconv.Itoa(*n.req.ExtendParam.ChargingMode),
			ServerModel:  *n.req.ServerModelName,
			PhoneModel:   *n.req.PhoneModelName,
			KeypairName:  n.req.KeypairName,
			VPCID:        *n.req.TenantVPCID,
			AZ:           n.req.AvailabilityZone,
			Listed:       o.AutoPay,
			ReadyAt:      n.now.Add(n.createTime),
			Fate:         n.fate,
			PhoneIDs:     make([]string, n.phones),
		}
		for j := range servers[i].PhoneIDs {
			servers[i].PhoneIDs[j] = newID()
		}
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	for _, dup := st.orderIDs[o.OrderID]; dup; _, dup = st.orderIDs[o.OrderID] {
		o.OrderID = newOrderID(n.now)
	}
	st.orderIDs[o.OrderID] = len(st.all)
	for i, srv := range servers {
		for _, dup := st.servers[srv.ID]; dup; _, dup = st.servers[srv.ID] {
			srv.ID = newID()
		}
		srv.OrderID = o.OrderID
		o.ServerIDs[i] = srv.ID
		st.servers[srv.ID] = srv
	}
	if o.AutoPay {
		st.byProject[o.ProjectID] = append(st.byProject[o.ProjectID], servers...)
	}
	st.byName[o.ServerName] = append(st.byName[o.ServerName], len(st.all))
	st.all = append(st.all, o)
	return o
}

// serverName is the name of the i-th of count servers: the name itself for one server, and
// name-0001, name-0002, … for several, as the API page describes.
func serverName(name string, i, count int) string {
	if count == 1 {
		return name
	}
	return fmt.Sprintf("%s-%04d", name, i+1)
}

// orders returns copies of the orders for name, or of all orders when name is empty.
func (st *store) orders(name string) []Order {
	st.mu.RLock()
	var out []Order
	if name == "" {
		out = slices.Clone(st.all)
	} else {
		idx := st.byName[name]
		out = make([]Order, len(idx))
		for i, j := range idx {
			out[i] = st.all[j]
		}
	}
	st.mu.RUnlock()
	for i := range out { // the caller may change what it gets without touching the store
		out[i].ServerIDs = slices.Clone(out[i].ServerIDs)
		out[i].Request = slices.Clone(out[i].Request)
	}
	if out == nil {
		out = []Order{}
	}
	return out
}

func (st *store) counts() (orders, servers int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.all), len(st.servers)
}

// get returns the server with id if it belongs to project and is listed; a server of an unpaid
// order does not exist yet as far as the CPH API is concerned.
func (st *store) get(project, id string) (*simServer, bool) {
	st.mu.RLock()
	srv, ok := st.servers[id]
	st.mu.RUnlock()
	if !ok || srv.ProjectID != project || !srv.Listed {
		return nil, false
	}
	return srv, true
}
