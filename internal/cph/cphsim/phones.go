package cphsim

import (
	"net/http"
	"time"
)

// phoneJSON is a phone as GET /v1/{project_id}/cloud-phone/phones lists it.
type phoneJSON struct {
	PhoneID        string `json:"phone_id"`
	PhoneName      string `json:"phone_name"`
	ServerID       string `json:"server_id"`
	PhoneModelName string `json:"phone_model_name"`
	Status         int    `json:"status"`
	Type           int    `json:"type"`
	CreateTime     string `json:"create_time"`
}

type phoneListResponse struct {
	RequestID string      `json:"request_id"`
	Count     int         `json:"count"`
	Phones    []phoneJSON `json:"phones"`
}

// listPhones serves GET /v1/{project_id}/cloud-phone/phones: the phones of the project's listed
// servers, with server_id, offset and limit (1–100, default 100); count is every match.
func (s *Server) listPhones(x *exchange, project string) {
	x.call.ProjectID = project
	if !s.authorize(x, project) {
		return
	}
	q := x.r.URL.Query()
	offset, limit, err := parsePage(q)
	if err != nil {
		x.fail(http.StatusBadRequest, codeInvalidParam, "Invalid parameter: "+err.Error())
		return
	}
	all := s.store.phones(project, q.Get("server_id"), s.opts.Now())
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	x.reply(http.StatusOK, phoneListResponse{RequestID: x.call.RequestID, Count: len(all), Phones: append([]phoneJSON{}, page...)})
}

// BSS order statuses the simulator answers with (cph.OrderPayment reads them).
const (
	bssPendingPayment = 6
	bssCompleted      = 5
)

type bssOrderInfo struct {
	OrderID         string `json:"order_id"`
	ServiceTypeCode string `json:"service_type_code"`
	Status          int    `json:"status"`
	OrderType       int    `json:"order_type"`
	CreateTime      string `json:"create_time"`
	PaymentTime     string `json:"payment_time,omitempty"`
}

type bssOrderResponse struct {
	TotalCount     int          `json:"total_count"`
	OrderInfo      bssOrderInfo `json:"order_info"`
	OrderLineItems []struct{}   `json:"order_line_items"`
}

// bssLayout is how BSS writes times.
const bssLayout = "2006-01-02T15:04:05Z"

// orderDetails serves BSS's GET /v2/orders/customer-orders/details/{order_id}: completed when the
// order was paid automatically or through PayOrder, pending payment otherwise.
func (s *Server) orderDetails(x *exchange, orderID string) {
	o, ok := s.store.order(orderID)
	if !s.authorize(x, o.ProjectID) {
		return
	}
	if !ok {
		x.fail(http.StatusNotFound, codeNoSuchOrder, "The order does not exist: "+orderID)
		return
	}
	x.call.ProjectID, x.call.ServerName, x.call.OrderID = o.ProjectID, o.ServerName, o.OrderID
	info := bssOrderInfo{OrderID: o.OrderID, ServiceTypeCode: "hws.service.type.cph", Status: bssPendingPayment, OrderType: 1,
		CreateTime: o.Time.UTC().Format(bssLayout)}
	var paid time.Time
	switch {
	case o.AutoPay:
		paid = o.Time
	case o.PaidAt != nil:
		paid = *o.PaidAt
	}
	if !paid.IsZero() {
		info.Status, info.PaymentTime = bssCompleted, paid.UTC().Format(bssLayout)
	}
	x.reply(http.StatusOK, bssOrderResponse{TotalCount: 1, OrderInfo: info, OrderLineItems: []struct{}{}})
}
