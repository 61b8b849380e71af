package bench

import (
	"encoding/json"
	"fmt"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
)

// benchProject is the project of every benchmark order.
const benchProject = "0b1c000000000000000000000000bench"

// requestTemplate is a realistic purchase body: one server, paid automatically, a new EIP and a
// dedicated bandwidth, as a batch run would send.
const requestTemplate = `{
	"server_name": "bench", "server_model_name": "physical.kg1.4xlarge.cp",
	"phone_model_name": "kg1.cp.c20.d64SSD.e1v1", "image_id": "20060220200717f201120a2300000e91",
	"count": 1, "extend_param": {"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 1},
	"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
	"nics": [{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908"}],
	"public_ip": {"eip": {"type": "5_bgp"}},
	"band_width": {"band_width_share_type": 0, "band_width_size": 300, "band_width_charge_mode": 1}}`

// newOrders returns n valid orders, each for its own server and with its own idempotency key,
// both named from prefix, as the lines of a bulk file would be.
func newOrders(prefix string, n int) ([]*tasks.Order, error) {
	var tmpl cph.PurchaseRequest
	if err := json.Unmarshal([]byte(requestTemplate), &tmpl); err != nil {
		return nil, fmt.Errorf("order template: %w", err)
	}
	orders := make([]*tasks.Order, n)
	for i := range orders {
		req := tmpl // the copy shares the template's nested values, which nobody changes
		req.ServerName = fmt.Sprintf("%s-%d", prefix, i)
		orders[i] = &tasks.Order{
			IdempotencyKey: fmt.Sprintf("bench/%s/%d", prefix, i),
			ProjectID:      benchProject,
			Request:        &req,
			Metadata:       map[string]string{"bench": prefix},
		}
	}
	if err := orders[0].Validate(); err != nil {
		return nil, fmt.Errorf("order template: %w", err)
	}
	return orders, nil
}
