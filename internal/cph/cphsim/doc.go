// Package cphsim simulates the Huawei Cloud Phone Host (CPH) purchase API and the IAM token API,
// so that the purchase worker can be built, demonstrated (worker --embedded), chaos-tested and
// benchmarked without a cloud account. A *Server is an http.Handler:
//
//	sim := cphsim.New(cphsim.Options{FailAfterRate: 0.1, Seed: 1})
//	ts := httptest.NewServer(sim)
//	// point the client at ts.URL, run, then:
//	orders := sim.OrdersFor("web-01") // what was really bought
//
// # Routes
//
//   - POST /v2/{project_id}/cloud-phone/servers buys servers. In order: the rate limit (429
//     APIGW.0308, counted as a violation), X-Auth-Token (401 APIGW.0301), the body (400 with
//     CPS.0005 for a malformed body or an unknown field, CPS.0024 count, CPS.0028 flavor,
//     CPS.0030 image, CPS.0031 band_width), then the fault. An order of count servers is named
//     server_name for one server and server_name-0001, -0002, … for several; its servers are
//     running (status 5) at once, or after Options.CreateTime (see Lifecycle). Without
//     extend_param.is_auto_pay = 1 the order is committed but its servers are not listed, as on
//     the real API where the order waits for payment, until PayOrder.
//   - GET /v1/{project_id}/cloud-phone/servers lists the project's servers, oldest first, with
//     offset (≥ 0), limit (1–100, default 100), server_name (contains), create_since and
//     create_until (inclusive; Unix seconds or 2006-01-02T15:04:05Z) and status; count is the
//     number of matches before paging.
//   - GET /v1/{project_id}/cloud-phone/servers/{server_id} answers one server, or 404 CPS.0015.
//   - GET /v1/{project_id}/cloud-phone/phones lists the phones of the listed servers (server_id,
//     offset, limit); GET /v2/orders/customer-orders/details/{order_id} is BSS's order details:
//     status 6 (pending payment) until paid, then 5 (completed).
//   - POST /v3/auth/tokens issues a project-scoped token for password auth (201, token in
//     X-Subject-Token), valid for Options.TokenTTL; wrong credentials get 401 IAM.0004. A token
//     works only for the project it was scoped to (403 CPS.0001 otherwise).
//
// Every other route answers 404 APIGW.0101. Every answer carries X-Request-Id equal to the body's
// request_id, and errors use the API's body {"error_code","error_msg","request_id"}.
// Options.Latency delays every API call.
//
// # Faults
//
// Each purchase call that passes the checks gets a Fault: from Options.Decide when set, otherwise
// drawn with the Options rates. The draw is a hash of Seed, project, server name and the call's
// Seq, not of arrival order, so a seeded run is repeatable even under concurrency (LateCommitRate
// is drawn after every other kind, so adding it keeps a seed's other faults). Throttle,
// FailBeforeCommit and Reject place no order; FailAfterCommit, HangAfterCommit and
// DropAfterCommit place one and hide it from the caller; see FaultKind.
//
// LateCommit answers 504 APIGW.0202 at once with no order placed, and commits the order on a
// real timer Fault.After (default Options.LateCommitAfter, 5s) later, exactly as a normal
// purchase would: same names, a new order id, create time Options.Now at the commit. It is a
// gateway timeout whose backend went on, and what makes reconciling once, right after the
// answer, not enough. PendingLateCommits (and Stats) counts the commits still to come; a test
// waits for 0 before it counts orders. Reset cancels pending commits along with the orders it
// forgets; Close cancels them for good. A Server that is never closed commits them on their
// timers, harmlessly, even after its HTTP server has stopped, and even while SetDown is on.
//
// # Lifecycle
//
// Every server of an order, and each of its Options.PhonesPerServer phones, is creating for
// Options.CreateTime after the order is committed (or paid), on Options.Now's clock; then its
// Fate shows: running, abnormal, one phone failed, or creating for ever. The fate comes from
// Options.Lifecycle, or is drawn per order from the lifecycle rates like the faults. PayOrder pays
// an order that waits for payment; DeleteServer deletes a server as its owner would.
//
// # Auth
//
// With neither Options.Tokens nor Options.IAMUser the simulator is open: any token, or none,
// works, and IAM gives a token to anyone. Otherwise only the static tokens and the tokens IAM
// issued to the configured user work. ExpireTokens ends every token known so far.
//
// # Inspection
//
// In the same process, Calls, Orders, OrdersFor and Stats say what happened. For a simulator in
// another process (the cphsim command), WithDebug serves the same under /_sim/ on the API's own
// listener, beside the API paths but never among them; see WithDebug.
package cphsim
