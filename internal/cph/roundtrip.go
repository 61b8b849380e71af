package cph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// maxAnswerBody bounds how much of an answer the client reads; CPH answers are a few KiB.
const maxAnswerBody = 1 << 20

// answer is a complete HTTP answer, body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// newHTTPClient is the default transport of a Client: keep-alive sized for a worker with about a
// hundred concurrent handlers, HTTP/1.1 only, no redirects.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	t.Protocols = &protocols
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// do sends one API request with a token, retrying once with a fresh token after a 401 /
// APIGW.0301, and returns a 2xx answer or an *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte) (*answer, error) {
	var refused *Error
	for i := range 2 {
		if i > 0 && c.beforeResend != nil {
			if err := c.beforeResend(ctx); err != nil {
				return nil, &Error{Class: ClassRetryable, Message: "request not sent again after a refused token: " + err.Error(), Err: err}
			}
		}
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, tokenError(ctx, err)
		}
		ans, err := c.send(ctx, tok, method, path, query, body)
		if err != nil {
			return nil, err
		}
		ans.body = scrub(ans.body, tok)
		if ans.status/100 == 2 {
			return ans, nil
		}
		refused = ParseError(ans.status, ans.header, ans.body)
		if refused.Class != ClassAuth {
			return nil, refused
		}
		// The API refused the token without processing the request: drop it and try once more.
		c.tokens.Invalidate(tok)
	}
	return nil, refused
}

// tokenError reports a TokenSource failure: nothing was sent. A caller whose ctx ended, or whose
// token source is only unavailable for now (ErrTokenUnavailable), is told to retry; any other
// failure is ClassAuth.
func tokenError(ctx context.Context, err error) *Error {
	if ctx.Err() != nil || errors.Is(err, ErrTokenUnavailable) {
		return &Error{Class: ClassRetryable, Message: "request not sent: no token: " + err.Error(), Err: err}
	}
	return &Error{Class: ClassAuth, Message: "no token: " + err.Error(), Err: err}
}

// send makes one HTTP attempt under the per-attempt timeout and reads the whole answer. Without
// an answer it returns an *Error classified by whether the request was completely written, which
// httptrace's WroteRequest tells: a request the server has not fully received cannot have been
// acted on, one it has may have been. WroteRequest fires once the request is in the connection's
// write buffer, just before the final flush, so a flush that then fails is reported as sent: the
// error leans to ambiguous, never to a retry of something that arrived.
func (c *Client) send(ctx context.Context, tok Secret, method, path string, query url.Values, body []byte) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})
	req, err := c.newRequest(ctx, tok, method, path, query, body)
	if err != nil {
		return nil, &Error{Class: ClassRejected, Message: "building the request: " + err.Error(), Err: err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(err, wrote.Load())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody))
	ans := &answer{status: resp.StatusCode, header: resp.Header, body: data}
	if err != nil && resp.StatusCode/100 == 2 {
		// A success whose body broke off: whatever it said, the request was processed.
		e := transportError(fmt.Errorf("reading the answer: %w", err), true)
		e.HTTPStatus = resp.StatusCode
		e.RequestID = headerRequestID(resp.Header)
		return nil, e
	}
	// An error answer whose body broke off is still classified by its status.
	return ans, nil
}

func (c *Client) newRequest(ctx context.Context, tok Secret, method, path string, query url.Values, body []byte) (*http.Request, error) {
	// path is escaped already; the base keeps its own escaping.
	raw := c.base.EscapedPath() + path
	u := *c.base
	u.Path, _ = url.PathUnescape(raw)
	u.RawPath = raw
	u.RawQuery = query.Encode()

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", tok.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// scrub replaces the token in an answer body before anything is taken from it, in case a server
// or proxy echoes the request headers into an error page.
func scrub(body []byte, tok Secret) []byte {
	if tok == "" || !bytes.Contains(body, []byte(tok.Reveal())) {
		return body
	}
	return bytes.ReplaceAll(body, []byte(tok.Reveal()), []byte(redacted))
}
