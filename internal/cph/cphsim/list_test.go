package cphsim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
)

func listServers(t *testing.T, ts *httptest.Server, token, query string) cph.ServerList {
	t.Helper()
	var l cph.ServerList
	r := mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers?"+query, token, nil)
	decode(t, r, http.StatusOK, &l)
	if l.RequestID != r.header.Get("X-Request-Id") || !hex32.MatchString(l.RequestID) {
		t.Errorf("request_id %q, X-Request-Id %q", l.RequestID, r.header.Get("X-Request-Id"))
	}
	return l
}

func names(l cph.ServerList) []string {
	var out []string
	for _, s := range l.Servers {
		out = append(out, s.ServerName)
	}
	return out
}

func TestListFiltersAndPages(t *testing.T) {
	clock := newClock()
	t0 := clock.Now()
	_, ts := start(t, cphsim.Options{Now: clock.Now})
	// alpha at t0, beta (2 servers) at t0+1m, alphabet at t0+2m; another project's server.
	purchase(t, ts, "", purchaseBody("alpha", 1))
	clock.Advance(time.Minute)
	purchase(t, ts, "", purchaseBody("beta", 2))
	clock.Advance(time.Minute)
	purchase(t, ts, "", purchaseBody("alphabet", 1))
	mustDo(t, http.MethodPost, ts.URL+"/v2/other-project/cloud-phone/servers", "", purchaseBody("alpha-other", 1))

	unix := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).Unix(), 10) }
	layout := func(d time.Duration) string { return t0.Add(d).Format(cph.CreateTimeLayout) }
	tests := []struct {
		query string
		count int
		want  []string
	}{
		{"", 4, []string{"alpha", "beta-0001", "beta-0002", "alphabet"}},
		{"server_name=alpha", 2, []string{"alpha", "alphabet"}},
		{"server_name=bet", 3, []string{"beta-0001", "beta-0002", "alphabet"}},
		{"server_name=beta-0002", 1, []string{"beta-0002"}},
		{"server_name=gamma", 0, nil},
		{"limit=2", 4, []string{"alpha", "beta-0001"}},
		{"limit=2&offset=2", 4, []string{"beta-0002", "alphabet"}},
		{"limit=2&offset=4", 4, nil},
		{"offset=3", 4, []string{"alphabet"}},
		{"create_since=" + unix(time.Minute), 3, []string{"beta-0001", "beta-0002", "alphabet"}},
		{"create_until=" + unix(time.Minute), 3, []string{"alpha", "beta-0001", "beta-0002"}},
		{"create_since=" + unix(30*time.Second) + "&create_until=" + unix(90*time.Second), 2, []string{"beta-0001", "beta-0002"}},
		{"create_since=" + layout(2*time.Minute), 1, []string{"alphabet"}},
		{"create_until=" + layout(-time.Second), 0, nil},
		{"status=5&server_name=alpha", 2, []string{"alpha", "alphabet"}},
		{"status=10", 0, nil},
		{"server_name=a&create_since=" + unix(time.Minute) + "&limit=1&offset=1", 3, []string{"beta-0002"}},
	}
	for _, tt := range tests {
		l := listServers(t, ts, "", tt.query)
		if l.Count != tt.count || fmt.Sprint(names(l)) != fmt.Sprint(tt.want) {
			t.Errorf("?%s: count %d, servers %v; want %d, %v", tt.query, l.Count, names(l), tt.count, tt.want)
		}
	}

	l := listServers(t, ts, "", "server_name=alpha&limit=1")
	if s := l.Servers[0]; s.CreateTime != t0.Format(cph.CreateTimeLayout) || s.Status != cph.ServerStatusRunning || s.Metadata.OrderID == "" {
		t.Errorf("server = %+v", s)
	}
	if l.Servers == nil {
		t.Error("servers is null, want []")
	}
}

// An empty page is [] on the wire, not null.
func TestListEmptyIsArray(t *testing.T) {
	_, ts := start(t, cphsim.Options{})
	r := mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers", "", nil)
	var raw map[string]any
	decode(t, r, http.StatusOK, &raw)
	if s, ok := raw["servers"].([]any); !ok || len(s) != 0 || raw["count"] != float64(0) {
		t.Errorf("body = %s", r.body)
	}
}

// create_time is second-granular, so a filter at the second of creation finds the server even
// when it was created later within that second.
func TestListSinceIsSecondGranular(t *testing.T) {
	clock := newClock()
	_, ts := start(t, cphsim.Options{Now: clock.Now})
	since := clock.Now().Unix()
	clock.Advance(900 * time.Millisecond)
	purchase(t, ts, "", purchaseBody("late", 1))
	if l := listServers(t, ts, "", "create_since="+strconv.FormatInt(since, 10)+"&create_until="+strconv.FormatInt(since, 10)); l.Count != 1 {
		t.Errorf("count = %d, want 1", l.Count)
	}
}

func TestListRejectsBadQuery(t *testing.T) {
	_, ts := start(t, cphsim.Options{})
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "offset=-1", "offset=x", "create_since=yesterday",
		"create_until=2026-11-25+18:00:00", "status=x", "status=-1"} {
		r := mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers?"+q, "", nil)
		wantError(t, r, http.StatusBadRequest, "CPS.0005")
	}
	for _, q := range []string{"limit=1", "limit=100", "offset=0", "create_since=0"} {
		if r := mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers?"+q, "", nil); r.status != 200 {
			t.Errorf("?%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestGetServer(t *testing.T) {
	_, ts := start(t, cphsim.Options{})
	var bought cph.PurchaseResponse
	decode(t, purchase(t, ts, "", purchaseBody("one", 1)), 200, &bought)
	id := bought.ServerIDs[0]

	r := mustDo(t, http.MethodGet, ts.URL+"/v1/"+project+"/cloud-phone/servers/"+id, "", nil)
	var got struct {
		RequestID string `json:"request_id"`
		cph.Server
	}
	decode(t, r, 200, &got)
	if got.ServerID != id || got.ServerName != "one" || got.Metadata.OrderID != bought.OrderID || got.RequestID != r.header.Get("X-Request-Id") {
		t.Errorf("server = %+v", got)
	}
	for _, path := range []string{
		"/v1/" + project + "/cloud-phone/servers/0123456789abcdef0123456789abcdef",
		"/v1/other-project/cloud-phone/servers/" + id,
	} {
		wantError(t, mustDo(t, http.MethodGet, ts.URL+path, "", nil), http.StatusNotFound, "CPS.0015")
	}
}
