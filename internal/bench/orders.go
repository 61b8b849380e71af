package bench

import (
	"fmt"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
)

// benchProject is the project of every benchmark order.
const benchProject = "0b1c000000000000000000000000bench"

// newOrders returns n valid orders, each for its own server and with its own idempotency key,
// both named from prefix, as the lines of a bulk file would be.
func newOrders(prefix string, n int) ([]*tasks.Order, error) {
	tmpl := *cph.ExampleRequest("bench")
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
