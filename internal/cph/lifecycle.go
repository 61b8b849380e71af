package cph

import (
	"context"
	"errors"
	"net/http"
)

// The calls that follow an order after its purchase, until its servers and phones are usable:
// GetServer (ShowCloudPhoneServerDetail) in client.go, ListPhones (ListCloudPhones) and GetOrder
// (BSS ShowCustomerOrderDetails) here. They are GETs: they change nothing, and a caller may treat
// every error as "look again later", except a server the API does not know (IsNotFound).

// Phone is one cloud phone as GET /v1/{project_id}/cloud-phone/phones lists it.
type Phone struct {
	PhoneID    string `json:"phone_id"`
	PhoneName  string `json:"phone_name"`
	ServerID   string `json:"server_id"`
	Status     int    `json:"status"`
	CreateTime string `json:"create_time"`
}

// PhoneList is one page of the phone list.
type PhoneList struct {
	RequestID string  `json:"request_id"`
	Count     int     `json:"count"`
	Phones    []Phone `json:"phones"`
}

// PhoneFilter narrows the phone list to one server; Limit is 1–100 and defaults to 100 when zero.
type PhoneFilter struct {
	ServerID string
	Offset   int
	Limit    int
}

// ListPhones reads one page of the project's phones (GET /v1/{project_id}/cloud-phone/phones).
func (c *Client) ListPhones(ctx context.Context, projectID string, f PhoneFilter) (*PhoneList, error) {
	path, err := apiPath("v1", projectID, "cloud-phone", "phones")
	if err != nil {
		return nil, err
	}
	q := pageQuery(f.Offset, f.Limit)
	if f.ServerID != "" {
		q.Set("server_id", f.ServerID)
	}
	return getJSON[PhoneList](ctx, c, path, q)
}

// CustomerOrder is the part of a BSS customer order that says whether it is paid.
type CustomerOrder struct {
	OrderID string `json:"order_id"`
	// Status is the BSS order status; OrderPayment reads it.
	Status      int    `json:"status"`
	CreateTime  string `json:"create_time,omitempty"`
	PaymentTime string `json:"payment_time,omitempty"`
}

// GetOrder reads one BSS customer order (GET /v2/orders/customer-orders/details/{order_id}).
// BSS is a service of its own: call it on a Client made for the BSS endpoint.
func (c *Client) GetOrder(ctx context.Context, orderID string) (*CustomerOrder, error) {
	path, err := apiPath("v2", "orders", "customer-orders", "details", orderID)
	if err != nil {
		return nil, err
	}
	ans, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		OrderInfo *CustomerOrder `json:"order_info"`
	}
	if err := decodeAnswer(ans, &out); err != nil {
		return nil, err
	}
	if out.OrderInfo == nil {
		return nil, &Error{Class: ClassAmbiguous, HTTPStatus: ans.status, Sent: true,
			RequestID: headerRequestID(ans.header), Message: "order details answer has no order_info"}
	}
	return out.OrderInfo, nil
}

// IsNotFound reports whether err is the API's 404: the server (or order) named does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.HTTPStatus == http.StatusNotFound
}
