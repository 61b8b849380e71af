package cph

import "time"

// PurchaseResponse is the 200 answer to a purchase: one order, one product, a server id a server.
type PurchaseResponse struct {
	RequestID string   `json:"request_id"`
	OrderID   string   `json:"order_id"`
	ProductID string   `json:"product_id"`
	ServerIDs []string `json:"server_ids"`
}

// Server is one cloud phone server as GET /v1/{project_id}/cloud-phone/servers lists it.
// Metadata.OrderID ties a server to the order that bought it, which is what reconciliation needs.
type Server struct {
	ServerID   string         `json:"server_id"`
	ServerName string         `json:"server_name"`
	Status     int            `json:"status"`
	CreateTime string         `json:"create_time"`
	Metadata   ServerMetadata `json:"metadata"`
}

// ServerMetadata is the part of a server's metadata that links it to its order.
type ServerMetadata struct {
	OrderID      string `json:"order_id"`
	ProductID    string `json:"product_id"`
	ChargingMode string `json:"charging_mode,omitempty"`
}

// ServerList is one page of the server list.
type ServerList struct {
	RequestID string   `json:"request_id"`
	Count     int      `json:"count"`
	Servers   []Server `json:"servers"`
}

// ListFilter narrows the server list. ServerName matches fuzzily (the API's "contains");
// Limit is 1–100 and defaults to 100 when zero.
type ListFilter struct {
	ServerName  string
	CreateSince time.Time
	CreateUntil time.Time
	Offset      int
	Limit       int
}

// CreateTimeLayout is how the API writes a server's create_time (UTC).
const CreateTimeLayout = "2006-01-02T15:04:05Z"
