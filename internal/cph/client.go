package cph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client defaults.
const (
	// DefaultTimeout bounds one HTTP attempt (CPH_TIMEOUT).
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent names the worker to the API's logs.
	DefaultUserAgent = "cphpurchase"
	// DefaultListLimit is the page size of ListServers when the filter gives none; it is also the
	// API's maximum.
	DefaultListLimit = 100
)

// Client calls the CPH API and says, for every failed call, what happened to it: every error it
// returns is (or wraps) an *Error whose Class tells whether the purchase may have been placed. It
// is safe for concurrent use by many handlers; create one per process and share it.
type Client struct {
	base         *url.URL
	tokens       TokenSource
	http         *http.Client
	timeout      time.Duration
	userAgent    string
	beforeResend func(ctx context.Context) error
}

// ClientOptions tunes a Client; the zero value is a good production setting.
type ClientOptions struct {
	// HTTPClient sends the requests. nil means a client of the Client's own, whose transport keeps
	// connections alive for a worker with about a hundred concurrent handlers, speaks HTTP/1.1 only
	// (a broken connection then makes one purchase ambiguous, not every purchase multiplexed on
	// it), and follows no redirects (a 3xx is reported as ClassRejected: the endpoint is wrong, and
	// a purchase must not be re-sent to an address nobody configured).
	HTTPClient *http.Client
	// Timeout bounds each HTTP attempt, including reading the answer (CPH_TIMEOUT); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// UserAgent is sent with every request; empty means DefaultUserAgent.
	UserAgent string
	// BeforeResend, when set, is called before a request refused with 401 is sent again with a
	// fresh token; an error stops the re-send. The API's gateway counts the refused call and the
	// re-send alike, so a worker waits here for its fleet-wide rate limit, as it does before the
	// first send.
	BeforeResend func(ctx context.Context) error
}

// NewClient returns a Client for the CPH API at endpoint, an absolute http or https URL such as
// https://cph.cn-east-3.myhuaweicloud.com (a path prefix is kept). tokens supplies X-Auth-Token.
func NewClient(endpoint string, tokens TokenSource, opts ClientOptions) (*Client, error) {
	if err := checkEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("cph: endpoint: %w", err)
	}
	if tokens == nil {
		return nil, errors.New("cph: a TokenSource is required")
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("cph: timeout must not be negative, got %s", opts.Timeout)
	}
	base, _ := url.Parse(strings.TrimRight(endpoint, "/"))
	c := &Client{base: base, tokens: tokens, http: opts.HTTPClient, timeout: opts.Timeout, userAgent: opts.UserAgent, beforeResend: opts.BeforeResend}
	if c.http == nil {
		c.http = newHTTPClient()
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	return c, nil
}

// Format prints the endpoint only: a Client holds a TokenSource, whose secrets fmt must not reach.
func (c *Client) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "cph.Client(%s)", c.base.Redacted())
}

// Purchase places one order: POST /v2/{project_id}/cloud-phone/servers with req as the body. It
// returns the answer only when it is a 200 with an order id. Any other outcome is an *Error whose
// Class says what to do (see docs/design.md): in particular ClassAmbiguous means the order may
// exist, and the purchase must be reconciled before it is ever sent again.
//
// A 401 is answered by invalidating the token and sending once more with a fresh one: the API did
// not process the refused request, so this cannot buy twice.
func (c *Client) Purchase(ctx context.Context, projectID string, req *PurchaseRequest) (*PurchaseResponse, error) {
	if req == nil {
		return nil, &Error{Class: ClassRejected, Message: "purchase request is nil"}
	}
	path, err := apiPath("v2", projectID, "cloud-phone", "servers")
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &Error{Class: ClassRejected, Message: "encoding the purchase request: " + err.Error(), Err: err}
	}
	ans, err := c.do(ctx, http.MethodPost, path, nil, body)
	if err != nil {
		return nil, err
	}
	var out PurchaseResponse
	if err := decodeAnswer(ans, &out); err != nil {
		return nil, err
	}
	if out.OrderID == "" {
		e := &Error{
			Class: ClassAmbiguous, HTTPStatus: ans.status, Sent: true,
			RequestID: sanitize(out.RequestID, maxRequestIDLen),
			Message:   "answer has no order_id: the order may exist",
		}
		if e.RequestID == "" {
			e.RequestID = headerRequestID(ans.header)
		}
		return nil, e
	}
	return &out, nil
}

// ListServers reads one page of the server list (GET /v1/{project_id}/cloud-phone/servers), which
// is how an ambiguous purchase is reconciled. Its errors are *Error like Purchase's; as a GET
// changes nothing, a caller can treat any of them as "try later".
func (c *Client) ListServers(ctx context.Context, projectID string, f ListFilter) (*ServerList, error) {
	path, err := apiPath("v1", projectID, "cloud-phone", "servers")
	if err != nil {
		return nil, err
	}
	return getJSON[ServerList](ctx, c, path, f.query())
}

// GetServer reads one server (GET /v1/{project_id}/cloud-phone/servers/{server_id}). An unknown
// server is a ClassRejected *Error with HTTPStatus 404.
func (c *Client) GetServer(ctx context.Context, projectID, serverID string) (*Server, error) {
	path, err := apiPath("v1", projectID, "cloud-phone", "servers", serverID)
	if err != nil {
		return nil, err
	}
	ans, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	// The API answers with the server's fields at the top level; accept {"server":{…}} as well.
	var out struct {
		Server
		Wrapped *Server `json:"server"`
	}
	if err := decodeAnswer(ans, &out); err != nil {
		return nil, err
	}
	if out.ServerID == "" && out.Wrapped != nil {
		return out.Wrapped, nil
	}
	return &out.Server, nil
}

// query encodes the filter as the API's query parameters. Times are Unix seconds; a limit outside
// 1–100 becomes 100.
func (f ListFilter) query() url.Values {
	q := pageQuery(f.Offset, f.Limit)
	if f.ServerName != "" {
		q.Set("server_name", f.ServerName)
	}
	if !f.CreateSince.IsZero() {
		q.Set("create_since", strconv.FormatInt(f.CreateSince.Unix(), 10))
	}
	if !f.CreateUntil.IsZero() {
		q.Set("create_until", strconv.FormatInt(f.CreateUntil.Unix(), 10))
	}
	return q
}

// apiPath joins path segments, escaping each, and refuses ids that are empty or would change the
// path's shape ("." and ".." are not escaped by URL encoding, and a server or proxy may resolve
// them).
func apiPath(segments ...string) (string, error) {
	var b strings.Builder
	for _, s := range segments {
		if s == "" || s == "." || s == ".." {
			return "", &Error{Class: ClassRejected, Message: fmt.Sprintf("invalid path segment %q", s)}
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String(), nil
}

// getJSON makes a GET call and decodes its 2xx answer into a T.
func getJSON[T any](ctx context.Context, c *Client, path string, q url.Values) (*T, error) {
	ans, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	var out T
	if err := decodeAnswer(ans, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// decodeAnswer decodes a 2xx answer into out. A body that does not decode is ClassAmbiguous: the
// server said yes to something, and for a purchase an order may exist.
func decodeAnswer(ans *answer, out any) error {
	if err := json.Unmarshal(ans.body, out); err != nil {
		return &Error{
			Class: ClassAmbiguous, HTTPStatus: ans.status, Sent: true, Err: err,
			RequestID: headerRequestID(ans.header),
			Message:   sanitize("unreadable answer: "+err.Error()+": "+excerpt(ans.body), maxMessageLen),
		}
	}
	return nil
}

// pageQuery is the query of one page of a list call: limit (a limit outside 1–100 becomes 100)
// and offset.
func pageQuery(offset, limit int) url.Values {
	q := url.Values{}
	if limit <= 0 || limit > DefaultListLimit {
		limit = DefaultListLimit
	}
	q.Set("limit", strconv.Itoa(limit))
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	return q
}
