package cph

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fullRequest is a valid request that sets every field, each to a value other than its default:
// it is already in canonical form.
const fullRequest = `{"server_name": "full", "server_model_name": "physical.kg1.4xlarge.cp",
	"phone_model_name": "kg1.cp.c20.d64SSD.e1v1", "image_id": "20060220200717f201120a2300000e91",
	"count": 3, "keypair_name": "ops",
	"ports": [{"name": "web", "listen_port": 10080, "internet_accessible": "true"},
	          {"name": "ssh", "listen_port": 10022, "internet_accessible": "false"}],
	"extend_param": {"charging_mode": 0, "period_type": 3, "period_num": 2, "is_auto_pay": 1, "is_auto_renew": 1,
	                 "enterprise_project_id": "b3f4a7c2-1d2e-4f5a-8b9c-0d1e2f3a4b5c"},
	"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
	"nics": [{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908", "ipv6_enable": true,
	          "ipv6_bandwidth": {"band_width_id": "bw-v6"}},
	         {"subnet_id": "0c9f54d2-7a1b-4e3c-9d8e-1f2a3b4c5d6e"}],
	"public_ip": {"ids": ["eip-1"], "eip": {"type": "5_bgp"}, "count": 2},
	"phone_count_per_ip": 2,
	"phone_data_volume": {"volume_type": "SSD", "size": 64},
	"server_share_data_volume": {"volume_type": "GPSSD", "size": 128},
	"band_width": {"band_width_id": "bw-1", "band_width_size": 300, "band_width_share_type": 1, "band_width_charge_mode": 0},
	"availability_zone": "cn-east-3a"}`

func decodeRequest(t *testing.T, body string) *PurchaseRequest {
	t.Helper()
	r, err := DecodePurchaseRequest([]byte(body))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

func marshal(t *testing.T, r *PurchaseRequest) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCanonicalShortFormIsItself: a request that spells out no default canonicalises to itself,
// byte for byte, so that its derived key is the one it had before canonicalisation existed.
func TestCanonicalShortFormIsItself(t *testing.T) {
	short := exampleRequest(t)
	short.ExtendParam.IsAutoPay = nil // the API page's example writes the default "is_auto_pay": 0
	for name, r := range map[string]*PurchaseRequest{
		"every field set": decodeRequest(t, fullRequest),
		"API example":     short,
		"no ports":        ExampleRequest("x"),
	} {
		t.Run(name, func(t *testing.T) {
			if got, want := string(r.CanonicalJSON()), marshal(t, r); got != want {
				t.Fatalf("canonical JSON differs from the short form's own:\n got %s\nwant %s", got, want)
			}
			if !reflect.DeepEqual(r.Canonical(), r) {
				t.Fatalf("Canonical() = %+v, want a copy of %+v", r.Canonical(), r)
			}
		})
	}
}

// TestCanonicalEquivalentSpellings: each case writes the same purchase as its short form; both
// must have one canonical JSON.
func TestCanonicalEquivalentSpellings(t *testing.T) {
	cases := []struct {
		name  string
		short func(r *PurchaseRequest) // applied to both spellings, to make the short form
		long  func(r *PurchaseRequest) // applied to the long spelling only
	}{
		{"is_auto_pay 0", func(r *PurchaseRequest) { r.ExtendParam.IsAutoPay = nil },
			func(r *PurchaseRequest) { r.ExtendParam.IsAutoPay = intp(0) }},
		{"is_auto_renew 0", func(r *PurchaseRequest) { r.ExtendParam.IsAutoRenew = nil },
			func(r *PurchaseRequest) { r.ExtendParam.IsAutoRenew = intp(0) }},
		{"enterprise_project_id 0", func(r *PurchaseRequest) { r.ExtendParam.EnterpriseProjectID = "" },
			func(r *PurchaseRequest) { r.ExtendParam.EnterpriseProjectID = "0" }},
		{"public_ip.count 1", func(r *PurchaseRequest) { r.PublicIP.Count = nil },
			func(r *PurchaseRequest) { r.PublicIP.Count = intp(1) }},
		{"ipv6_enable false", func(r *PurchaseRequest) { r.NICs[1].IPv6Enable = nil },
			func(r *PurchaseRequest) { r.NICs[1].IPv6Enable = boolp(false) }},
		{"internet_accessible TRUE", nil,
			func(r *PurchaseRequest) { r.Ports[0].InternetAccessible = strp("TRUE") }},
		{"internet_accessible True", nil,
			func(r *PurchaseRequest) { r.Ports[0].InternetAccessible = strp("True") }},
		{"internet_accessible FALSE", nil,
			func(r *PurchaseRequest) { r.Ports[1].InternetAccessible = strp("FALSE") }},
		{"internet_accessible no", nil,
			func(r *PurchaseRequest) { r.Ports[1].InternetAccessible = strp("no") }},
		{"internet_accessible empty", nil,
			func(r *PurchaseRequest) { r.Ports[1].InternetAccessible = strp("") }},
		{"internet_accessible \" true\" is not true", nil,
			func(r *PurchaseRequest) { r.Ports[1].InternetAccessible = strp(" true") }},
		{"ports empty list", func(r *PurchaseRequest) { r.Ports = nil },
			func(r *PurchaseRequest) { r.Ports = []Port{} }},
		{"public_ip.ids empty list", func(r *PurchaseRequest) { r.PublicIP.IDs = nil },
			func(r *PurchaseRequest) { r.PublicIP.IDs = []string{} }},
		{"nics empty list", func(r *PurchaseRequest) { r.NICs = nil },
			func(r *PurchaseRequest) { r.NICs = []NIC{} }},
		{"every default at once", func(r *PurchaseRequest) {
			r.ExtendParam.IsAutoPay, r.ExtendParam.IsAutoRenew, r.ExtendParam.EnterpriseProjectID = nil, nil, ""
			r.PublicIP.Count, r.PublicIP.IDs, r.NICs[1].IPv6Enable = nil, nil, nil
		}, func(r *PurchaseRequest) {
			r.ExtendParam.IsAutoPay, r.ExtendParam.IsAutoRenew, r.ExtendParam.EnterpriseProjectID = intp(0), intp(0), "0"
			r.PublicIP.Count, r.PublicIP.IDs, r.NICs[1].IPv6Enable = intp(1), []string{}, boolp(false)
			r.Ports[0].InternetAccessible, r.Ports[1].InternetAccessible = strp("tRuE"), strp("False")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			short, long := decodeRequest(t, fullRequest), decodeRequest(t, fullRequest)
			if tc.short != nil {
				tc.short(short)
				tc.short(long)
			}
			tc.long(long)
			if reflect.DeepEqual(short, long) {
				t.Fatal("the case does not change the request")
			}
			if got, want := string(long.CanonicalJSON()), string(short.CanonicalJSON()); got != want {
				t.Fatalf("two spellings of one purchase differ:\n long %s\nshort %s", got, want)
			}
			if got, want := string(short.CanonicalJSON()), marshal(t, short); got != want {
				t.Fatalf("the short form is not its own canonical form:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestCanonicalDistinguishesPurchases: a value that changes what is bought must change the
// canonical JSON, defaults included when they are not the default.
func TestCanonicalDistinguishesPurchases(t *testing.T) {
	cases := map[string]func(r *PurchaseRequest){
		"count":                        func(r *PurchaseRequest) { r.Count = intp(4) },
		"is_auto_pay absent":           func(r *PurchaseRequest) { r.ExtendParam.IsAutoPay = nil },
		"is_auto_renew absent":         func(r *PurchaseRequest) { r.ExtendParam.IsAutoRenew = nil },
		"enterprise_project_id absent": func(r *PurchaseRequest) { r.ExtendParam.EnterpriseProjectID = "" },
		"public_ip.count absent":       func(r *PurchaseRequest) { r.PublicIP.Count = nil },
		"public_ip.count 0":            func(r *PurchaseRequest) { r.PublicIP.Count = intp(0) },
		"ipv6_enable absent":           func(r *PurchaseRequest) { r.NICs[0].IPv6Enable = nil },
		"port opened":                  func(r *PurchaseRequest) { r.Ports[1].InternetAccessible = strp("TRUE") },
		"port closed":                  func(r *PurchaseRequest) { r.Ports[0].InternetAccessible = strp("false") },
		"ports reordered":              func(r *PurchaseRequest) { r.Ports[0], r.Ports[1] = r.Ports[1], r.Ports[0] },
		"nics reordered":               func(r *PurchaseRequest) { r.NICs[0], r.NICs[1] = r.NICs[1], r.NICs[0] },
		"band_width_size":              func(r *PurchaseRequest) { r.BandWidth.BandWidthSize = intp(301) },
		"phone_data_volume absent":     func(r *PurchaseRequest) { r.PhoneDataVolume = nil },
	}
	base := string(decodeRequest(t, fullRequest).CanonicalJSON())
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			r := decodeRequest(t, fullRequest)
			change(r)
			if string(r.CanonicalJSON()) == base {
				t.Fatalf("a different purchase has the same canonical JSON %s", base)
			}
		})
	}
}

// TestCanonicalDoesNotMutate: the request sent to the API stays exactly as given, and the
// canonical copy shares no memory with it, so that changing one cannot change the other.
func TestCanonicalDoesNotMutate(t *testing.T) {
	long := `{"server_name": "long", "server_model_name": "m", "phone_model_name": "p", "image_id": "i", "count": 1,
		"ports": [{"name": "web", "listen_port": 10080, "internet_accessible": "TRUE"}],
		"extend_param": {"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 0, "is_auto_renew": 0,
		                 "enterprise_project_id": "0"},
		"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
		"nics": [{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908", "ipv6_enable": false,
		          "ipv6_bandwidth": {"band_width_id": "bw-v6"}}],
		"public_ip": {"ids": [], "eip": {"type": "5_bgp"}, "count": 1},
		"phone_count_per_ip": 1,
		"phone_data_volume": {"volume_type": "SSD", "size": 64},
		"server_share_data_volume": {"volume_type": "SSD", "size": 64},
		"band_width": {"band_width_id": "bw", "band_width_size": 1, "band_width_share_type": 1, "band_width_charge_mode": 0}}`
	for name, body := range map[string]string{"explicit defaults": long, "every field set": fullRequest} {
		t.Run(name, func(t *testing.T) {
			r, pristine := decodeRequest(t, body), decodeRequest(t, body)
			before := marshal(t, r)
			c := r.Canonical()
			_ = r.CanonicalJSON()
			if !reflect.DeepEqual(r, pristine) || marshal(t, r) != before {
				t.Fatalf("Canonical changed the request:\n got %s\nwant %s", marshal(t, r), before)
			}
			shared := map[uintptr]string{}
			addresses(reflect.ValueOf(r), "request", shared)
			seen := map[uintptr]string{}
			addresses(reflect.ValueOf(c), "canonical", seen)
			for p, path := range seen {
				if orig, ok := shared[p]; ok {
					t.Errorf("%s shares memory with %s", path, orig)
				}
			}
		})
	}
	if (*PurchaseRequest)(nil).Canonical() != nil {
		t.Error("Canonical of nil is not nil")
	}
	if got := string((*PurchaseRequest)(nil).CanonicalJSON()); got != "null" {
		t.Errorf("CanonicalJSON of nil = %s, want null", got)
	}
}

// TestCanonicalIsIdempotent: the canonical form of a canonical form is itself.
func TestCanonicalIsIdempotent(t *testing.T) {
	r := decodeRequest(t, fullRequest)
	r.ExtendParam.IsAutoPay, r.PublicIP.Count, r.Ports[0].InternetAccessible = intp(0), intp(1), strp("TRUE")
	once := r.Canonical()
	if got, want := string(once.CanonicalJSON()), string(r.CanonicalJSON()); got != want {
		t.Fatalf("canonical twice %s, once %s", got, want)
	}
}

// addresses records, under the path that reaches it, the memory of every pointer and non-empty
// slice reachable from v.
func addresses(v reflect.Value, path string, into map[uintptr]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		into[v.Pointer()] = path
		addresses(v.Elem(), path, into)
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		into[v.Pointer()] = path
		for i := range v.Len() {
			addresses(v.Index(i), path+"["+itoa(i)+"]", into)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			addresses(v.Field(i), path+"."+v.Type().Field(i).Name, into)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
