package cph

import "encoding/json"

// exampleBody is the smallest realistic purchase: one server of the API page's example flavor and
// image, paid automatically, a new EIP and a dedicated bandwidth.
const exampleBody = `{
	"server_name": "example", "server_model_name": "physical.kg1.4xlarge.cp",
	"phone_model_name": "kg1.cp.c20.d64SSD.e1v1", "image_id": "20060220200717f201120a2300000e91",
	"count": 1, "extend_param": {"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 1},
	"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
	"nics": [{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908"}],
	"public_ip": {"eip": {"type": "5_bgp"}},
	"band_width": {"band_width_share_type": 0, "band_width_size": 300, "band_width_charge_mode": 1}}`

// ExampleRequest returns a valid purchase request for one server named name, built from the API
// page's example but paid automatically (extend_param.is_auto_pay 1): an order placed without
// auto-pay waits for payment and cannot be reconciled. The demo, the benchmarks and the tests buy
// it; each call returns a fresh copy to change.
func ExampleRequest(name string) *PurchaseRequest {
	var r PurchaseRequest
	if err := json.Unmarshal([]byte(exampleBody), &r); err != nil {
		panic("cph: the example request does not decode: " + err.Error())
	}
	r.ServerName = name
	return &r
}
