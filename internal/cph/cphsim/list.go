package cphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cphpurchase/internal/cph"
)

// serverJSON is a server as the list and detail calls show it. It carries a few fields beyond
// what reconciliation reads, so a client that decodes strictly is caught here and not in
// production.
type serverJSON struct {
	ServerID         string       `json:"server_id"`
	ServerName       string       `json:"server_name"`
	ServerModelName  string       `json:"server_model_name"`
	PhoneModelName   string       `json:"phone_model_name"`
	KeypairName      string       `json:"keypair_name"`
	Status           int          `json:"status"`
	VPCID            string       `json:"vpc_id"`
	AvailabilityZone string       `json:"availability_zone"`
	CreateTime       string       `json:"create_time"`
	UpdateTime       string       `json:"update_time"`
	Metadata         metadataJSON `json:"metadata"`
}

type metadataJSON struct {
	OrderID      string `json:"order_id"`
	ProductID    string `json:"product_id"`
	ChargingMode string `json:"charging_mode"`
}

// json is the server as the API shows it at now.
func (srv *simServer) json(now time.Time) serverJSON {
	t := srv.Created.Format(cph.CreateTimeLayout)
	return serverJSON{
		ServerID: srv.ID, ServerName: srv.Name, ServerModelName: srv.ServerModel, PhoneModelName: srv.PhoneModel,
		KeypairName: srv.KeypairName, Status: srv.status(now), VPCID: srv.VPCID, AvailabilityZone: srv.AZ,
		CreateTime: t, UpdateTime: t,
		Metadata: metadataJSON{OrderID: srv.OrderID, ProductID: srv.ProductID, ChargingMode: srv.ChargingMode},
	}
}

// listQuery is the parsed query of GET /v1/{project_id}/cloud-phone/servers.
type listQuery struct {
	offset, limit int
	name          string    // contains
	since, until  time.Time // inclusive; zero means unbounded
	status        int       // -1 means any
}

const maxListLimit = 100

// parsePage reads a list call's offset (at least 0) and limit (1–100, 100 when not given).
func parsePage(q url.Values) (offset, limit int, err error) {
	limit = maxListLimit
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("offset must be an integer of at least 0, got %q", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxListLimit {
			return 0, 0, fmt.Errorf("limit must be an integer from 1 to %d, got %q", maxListLimit, v)
		}
	}
	return offset, limit, nil
}

func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{name: q.Get("server_name"), status: -1}
	var err error
	if lq.offset, lq.limit, err = parsePage(q); err != nil {
		return lq, err
	}
	if v := q.Get("status"); v != "" {
		if lq.status, err = strconv.Atoi(v); err != nil || lq.status < 0 {
			return lq, fmt.Errorf("status must be a server status code, got %q", v)
		}
	}
	if lq.since, err = parseTimeParam("create_since", q.Get("create_since")); err != nil {
		return lq, err
	}
	if lq.until, err = parseTimeParam("create_until", q.Get("create_until")); err != nil {
		return lq, err
	}
	return lq, nil
}

// parseTimeParam reads Unix seconds or the create_time layout: the SDK documents seconds, and a
// client that echoes a create_time back should work too.
func parseTimeParam(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(sec, 0).UTC(), nil
	}
	t, err := time.Parse(cph.CreateTimeLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s must be Unix seconds or %s, got %q", name, cph.CreateTimeLayout, v)
	}
	return t, nil
}

func (lq listQuery) match(srv *simServer, now time.Time) bool {
	return (lq.name == "" || strings.Contains(srv.Name, lq.name)) &&
		(lq.since.IsZero() || !srv.Created.Before(lq.since)) &&
		(lq.until.IsZero() || !srv.Created.After(lq.until)) &&
		(lq.status < 0 || srv.status(now) == lq.status)
}

// listResponse is the list's answer; Count is every match, before paging.
type listResponse struct {
	RequestID string       `json:"request_id"`
	Count     int          `json:"count"`
	Servers   []serverJSON `json:"servers"`
}

// list serves GET /v1/{project_id}/cloud-phone/servers: the project's listed servers, oldest
// first, filtered, then paged.
func (s *Server) list(x *exchange, project string) {
	x.call.ProjectID = project
	if !s.authorize(x, project) {
		return
	}
	lq, err := parseListQuery(x.r.URL.Query())
	if err != nil {
		x.fail(http.StatusBadRequest, codeInvalidParam, "Invalid parameter: "+err.Error())
		return
	}
	x.call.ServerName = lq.name
	now := s.opts.Now()
	page, total := s.store.find(project, lq, now)
	resp := listResponse{RequestID: x.call.RequestID, Count: total, Servers: make([]serverJSON, len(page))}
	for i, srv := range page {
		resp.Servers[i] = srv.json(now)
	}
	x.reply(http.StatusOK, resp)
}

// find returns one page of the project's listed servers matching lq, and the number of matches.
func (st *store) find(project string, lq listQuery, now time.Time) (page []*simServer, total int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	for _, srv := range st.byProject[project] {
		if !lq.match(srv, now) {
			continue
		}
		if total >= lq.offset && len(page) < lq.limit {
			page = append(page, srv)
		}
		total++
	}
	return page, total
}

// serverDetail is GET …/servers/{server_id}: the server, with the request id beside its fields.
type serverDetail struct {
	RequestID string `json:"request_id"`
	serverJSON
}

// get serves GET /v1/{project_id}/cloud-phone/servers/{server_id}.
func (s *Server) get(x *exchange, project, id string) {
	x.call.ProjectID = project
	if !s.authorize(x, project) {
		return
	}
	srv, ok := s.store.get(project, id)
	if !ok {
		x.fail(http.StatusNotFound, codeNotFound, "The cloud phone server does not exist: "+id)
		return
	}
	x.call.ServerName = srv.Name
	x.reply(http.StatusOK, serverDetail{RequestID: x.call.RequestID, serverJSON: srv.json(s.opts.Now())})
}
