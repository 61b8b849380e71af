package strictjson

import (
	"slices"
	"strings"
	"testing"
)

// apiExample is the request of the CPH purchase API page's "Example Requests", verbatim: a
// realistic nested document, decoded into request (fixture_test.go). Most decode cases below are
// a change to it, so that their paths and byte offsets are those a purchase order shows.
const apiExample = `{ "server_name" : "cph-kertus-1110", "server_model_name" : "physical.kg1.4xlarge.cp", "phone_model_name" : "kg1.cp.c20.d64SSD.e1v1", "image_id" : "20060220200717f201120a2300000e91", "count" : 1, "keypair_name" : "keypair", "ports" : [ { "name" : "myServer1", "listen_port" : 20000, "internet_accessible" : "false" }, { "name" : "myServer2", "listen_port" : 20001, "internet_accessible" : "true" } ], "extend_param" : { "charging_mode" : 0, "period_type" : 2, "period_num" : 1, "is_auto_pay" : 0 }, "tenant_vpc_id" : "fca063f6-b942-42a8-9004-e5545f58d6a2", "nics" : [ { "subnet_id" : "f1cbfc37-eb42-4357-a0ec-9e4f11950908" } ], "public_ip" : { "eip" : { "type" : "5_bgp" } }, "band_width" : { "band_width_share_type" : 0, "band_width_size" : 300, "band_width_charge_mode" : 1 } }`

const uuidB = "f1cbfc37-eb42-4357-a0ec-9e4f11950908"

func errLines(err error) []string {
	if err == nil {
		return nil
	}
	es, ok := err.(FieldErrors)
	if !ok {
		return []string{"not FieldErrors: " + err.Error()}
	}
	if len(es) == 0 {
		return nil
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.String()
	}
	return out
}

// sameLines compares want and got line by line, reporting both in full on a difference.
func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got %d errors:\n\t%s\nwant %d:\n\t%s",
			len(got), joinLines(got), len(want), joinLines(want))
	}
}

func joinLines(ls []string) string {
	return strings.Join(ls, "\n\t")
}
