package cphsim

import (
	"fmt"
	"net/http"
	"time"
)

// purchaseResponse is the 200 body of a purchase, as the API page shows it.
type purchaseResponse struct {
	RequestID string   `json:"request_id"`
	OrderID   string   `json:"order_id"`
	ProductID string   `json:"product_id"`
	ServerIDs []string `json:"server_ids"`
}

// purchase serves POST /v2/{project_id}/cloud-phone/servers: rate limit, auth, body, then the
// fault that decides whether an order is committed and what the caller is told. It reports
// whether the body was refused as invalid.
//
// The rate limit comes first because it belongs to the gateway, which throttles before it looks
// at tokens or bodies; every purchase POST counts against it, as every POST the fleet sends
// counts against CPH_RATE_LIMIT.
func (s *Server) purchase(x *exchange, project string) (invalid bool) {
	x.call.ProjectID = project
	now := s.opts.Now()
	s.rec.purchaseArrived(now)
	if s.limit != nil && !s.limit.allow(now) {
		x.call.RateLimited = true
		x.throttle(s.opts.retryAfterSeconds())
		return false
	}
	if !s.authorize(x, project) {
		return false
	}
	raw, ok := readBody(x)
	if !ok {
		return false
	}
	body, bad := parsePurchase(raw)
	if body.ServerName != nil {
		x.call.ServerName = *body.ServerName
	}
	if bad != nil {
		x.fail(http.StatusBadRequest, bad.code, bad.msg)
		return true
	}

	call := PurchaseCall{ProjectID: project, ServerName: *body.ServerName, Seq: s.rec.nextSeq(*body.ServerName), Request: raw}
	fault := s.decide(call)
	if fault.Kind < 0 || fault.Kind >= numFaultKinds {
		panic(fmt.Sprintf("cphsim: Options.Decide returned an unknown fault kind %d", int(fault.Kind)))
	}
	if fault.After < 0 {
		panic(fmt.Sprintf("cphsim: Options.Decide returned a negative After %v", fault.After))
	}
	x.call.Fault = fault.Kind
	s.rec.countFault(fault.Kind)

	switch fault.Kind {
	case FaultThrottle:
		x.throttle(s.opts.retryAfterSeconds())
		return false
	case FaultFailBeforeCommit:
		x.fail(http.StatusServiceUnavailable, codeBackendDown, "The backend service is unavailable")
		return false
	case FaultReject:
		code := fault.Code
		if code == "" {
			code = s.opts.RejectCode
		}
		x.fail(http.StatusBadRequest, code, rejectMessage(code))
		return false
	case FaultLateCommit:
		s.lateCommit(x, s.newOrder(project, x.call.RequestID, body, raw, fault.Kind), fault.After)
		return false
	}

	n := s.newOrder(project, x.call.RequestID, body, raw, fault.Kind)
	n.now = s.opts.Now()
	order := s.store.commit(n)
	x.call.OrderID = order.OrderID
	switch fault.Kind {
	case FaultFailAfterCommit:
		x.fail(http.StatusInternalServerError, codeInternal, "Internal error, please try again later")
	case FaultHangAfterCommit:
		if sleep(x.r.Context(), s.opts.HangFor) {
			x.fail(http.StatusGatewayTimeout, codeBackendTimeout, msgBackendTimeout)
		}
	case FaultDropAfterCommit:
		x.drop()
	default:
		x.reply(http.StatusOK, purchaseResponse{RequestID: x.call.RequestID, OrderID: order.OrderID, ProductID: order.ProductID, ServerIDs: order.ServerIDs})
	}
	return false
}

// lateCommit answers 504 at once and has the order committed after (0: Options.LateCommitAfter),
// as a gateway that gave up on a backend that went on to commit. The answer is flushed before the
// timer starts, so the order cannot exist before the caller has been told 504. The commit is the
// one a normal purchase makes, with the clock read when it happens.
func (s *Server) lateCommit(x *exchange, n newOrder, after time.Duration) {
	if after == 0 {
		after = s.opts.LateCommitAfter
	}
	x.fail(http.StatusGatewayTimeout, codeBackendTimeout, msgBackendTimeout)
	http.NewResponseController(x.w).Flush() // where it cannot, the answer goes out when the handler returns
	s.late.schedule(after, func() {
		n.now = s.opts.Now()
		s.store.commit(n)
	})
}

// decide asks Options.Decide, or draws from the rates.
func (s *Server) decide(c PurchaseCall) Fault {
	if s.opts.Decide != nil {
		return s.opts.Decide(c)
	}
	return s.rates.pick(s.opts.Seed, s.opts.RejectRate, s.opts.RejectCode, c)
}
