package cphsim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"cphpurchase/internal/cph/cphsim"
)

const exampleBody = `{"server_name":"web-01","server_model_name":"physical.kg1.4xlarge.cp",
"phone_model_name":"kg1.cp.c20.d64SSD.e1v1","image_id":"20060220200717f201120a2300000e91","count":1,
"extend_param":{"charging_mode":0,"period_type":2,"period_num":1,"is_auto_pay":1},
"tenant_vpc_id":"fca063f6-b942-42a8-9004-e5545f58d6a2",
"nics":[{"subnet_id":"f1cbfc37-eb42-4357-a0ec-9e4f11950908"}],"public_ip":{"eip":{"type":"5_bgp"}},
"band_width":{"band_width_share_type":0,"band_width_size":300,"band_width_charge_mode":1}}`

// The first attempt for a server name fails after the order was committed: the caller sees a
// 500, yet the money is spent. A worker that simply retried would buy twice.
func ExampleNew() {
	sim := cphsim.New(cphsim.Options{
		Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
			if c.Seq == 1 {
				return cphsim.Fault{Kind: cphsim.FaultFailAfterCommit}
			}
			return cphsim.Fault{Kind: cphsim.FaultNone}
		},
	})
	ts := httptest.NewServer(sim)
	defer ts.Close()

	res, err := http.Post(ts.URL+"/v2/my-project/cloud-phone/servers", "application/json", strings.NewReader(exampleBody))
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("status:", res.StatusCode)
	fmt.Println("orders placed:", len(sim.OrdersFor("web-01")))
	// Output:
	// status: 500
	// orders placed: 1
}
