package cph

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"cphpurchase/internal/strictjson"
)

// The decoder itself (unknown fields, types, numbers, duplicates, malformed input, paths) is
// tested in internal/strictjson. These tests hold the purchase types to the API's JSON shape: every
// nested object refuses unknown fields at its request path, every field has the JSON type the API
// page gives it.

// decodeCase is a change to the API example (or a whole document when from is empty) and the
// errors DecodePurchaseRequest must report.
type decodeCase struct {
	name     string
	from, to string
	want     []string
}

func runDecodeCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.to
			if tc.from != "" {
				doc = strings.Replace(apiExample, tc.from, tc.to, 1)
				if doc == apiExample {
					t.Fatalf("%q is not in the example", tc.from)
				}
			}
			r, err := DecodePurchaseRequest([]byte(doc))
			sameLines(t, errLines(err), tc.want)
			if (r == nil) != (err != nil) {
				t.Errorf("got request %v with error %v; want exactly one of them", r, err)
			}
		})
	}
}

func TestDecodeAPIExample(t *testing.T) {
	r := exampleRequest(t)
	if r.ServerName != "cph-kertus-1110" || r.ServerCount() != 1 || len(r.Ports) != 2 ||
		*r.Ports[1].InternetAccessible != "true" || *r.ExtendParam.PeriodType != 2 ||
		r.NICs[0].SubnetID != uuidB || r.PublicIP.EIP.Type != "5_bgp" || *r.BandWidth.BandWidthSize != 300 {
		t.Errorf("decoded example differs from the document: %+v", r)
	}
}

func TestDecodeUnknownFields(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"top level", `"count" : 1`, `"count" : 1, "foo": 1`, []string{"request.foo: unknown field"}},
		{"in extend_param", `"period_num" : 1`, `"period_num" : 1, "is_autopay": 1`,
			[]string{"request.extend_param.is_autopay: unknown field"}},
		{"in the second port", `"listen_port" : 20001`, `"listen_port" : 20001, "foo": {"a": [1]}`,
			[]string{"request.ports[1].foo: unknown field"}},
		{"in a nic's ipv6_bandwidth", `{ "subnet_id" : "f1cbfc37-eb42-4357-a0ec-9e4f11950908" }`,
			`{ "subnet_id" : "` + uuidB + `", "ipv6_bandwidth": {"band_width_id": "b", "size": 5} }`,
			[]string{"request.nics[0].ipv6_bandwidth.size: unknown field"}},
		{"in public_ip.eip", `"type" : "5_bgp"`, `"type" : "5_bgp", "bandwidth": 5`,
			[]string{"request.public_ip.eip.bandwidth: unknown field"}},
		{"in band_width", `"band_width_size" : 300`, `"band_width_size" : 300, "size": 300`,
			[]string{"request.band_width.size: unknown field"}},
		{"in phone_data_volume", `"count" : 1`, `"count" : 1, "phone_data_volume": {"volume_type": "SSD", "size": 10, "iops": 1}`,
			[]string{"request.phone_data_volume.iops: unknown field"}},
		{"differs in case only", `"count" : 1`, `"Count" : 1`, []string{"request.Count: unknown field"}},
		{"Go field name instead of JSON name", `"count" : 1`, `"count" : 1, "ServerName": "x"`,
			[]string{"request.ServerName: unknown field"}},
	})
}

func TestDecodeWrongTypes(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"count as a string", `"count" : 1`, `"count" : "1"`, []string{"request.count: must be an integer, got string"}},
		{"count 1.5", `"count" : 1`, `"count" : 1.5`, []string{"request.count: must be an integer, got 1.5"}},
		{"server_name as a number", `"server_name" : "cph-kertus-1110"`, `"server_name" : 5`,
			[]string{"request.server_name: must be a string, got number"}},
		{"ports as an object", "", `{"ports": {"name": "web"}}`, []string{"request.ports: must be an array, got object"}},
		{"a port as a string", `{ "name" : "myServer1", "listen_port" : 20000, "internet_accessible" : "false" }`, `"web"`,
			[]string{"request.ports[0]: must be an object, got string"}},
		{"internet_accessible as a boolean", `"internet_accessible" : "true"`, `"internet_accessible" : true`,
			[]string{"request.ports[1].internet_accessible: must be a string, got boolean"}},
		{"ipv6_enable as a string", `{ "subnet_id" : "f1cbfc37-eb42-4357-a0ec-9e4f11950908" }`,
			`{ "subnet_id" : "` + uuidB + `", "ipv6_enable": "true" }`,
			[]string{"request.nics[0].ipv6_enable: must be a boolean, got string"}},
		{"nics as a string", `"nics" : [ { "subnet_id" : "f1cbfc37-eb42-4357-a0ec-9e4f11950908" } ]`, `"nics" : "x"`,
			[]string{"request.nics: must be an array, got string"}},
		{"public_ip.ids as a string", `"public_ip" : {`, `"public_ip" : { "ids": "eip-1",`,
			[]string{"request.public_ip.ids: must be an array, got string"}},
		{"public_ip.ids element as a number", `"public_ip" : {`, `"public_ip" : { "ids": ["a", 5],`,
			[]string{"request.public_ip.ids[1]: must be a string, got number"}},
		{"extend_param as an array", `"extend_param" : {`, `"extend_param" : [], "x": {`,
			[]string{"request.extend_param: must be an object, got array", "request.x: unknown field"}},
		{"band_width_size as a string", `"band_width_size" : 300`, `"band_width_size" : "300"`,
			[]string{"request.band_width.band_width_size: must be an integer, got string"}},
		{"the document as an array", "", `[]`, []string{"request: must be an object, got array"}},
		{"malformed", "", `{"count": 1`, []string{"request: malformed JSON at byte 11: unexpected end of input"}},
	})
}

func TestDecodeReturnsFieldErrors(t *testing.T) {
	_, err := DecodePurchaseRequest([]byte(`{"count": "x"}`))
	var fe strictjson.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Path != "request.count" {
		t.Fatalf("err = %#v, want FieldErrors for request.count", err)
	}
	if got, want := err.Error(), "request.count: must be an integer, got string"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestDecodeNullDocument(t *testing.T) {
	r, err := DecodePurchaseRequest([]byte(`null`))
	if err != nil || !reflect.DeepEqual(r, &PurchaseRequest{}) {
		t.Fatalf("got %+v, %v; want an empty request (Validate reports what is missing)", r, err)
	}
}

// order has the JSON shape of a purchase order (internal/tasks.Order, which this package may not
// import), the document a worker decodes for every delivery.
type order struct {
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	ProjectID      string            `json:"project_id,omitempty"`
	Request        *PurchaseRequest  `json:"request"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// BenchmarkDecodeOrder is the strict decoding of a realistic order, ExampleRequest in the order's
// shape as internal/tasks.DecodeOrder reads it, without the validation that
// internal/tasks.BenchmarkDecodeOrderValidate adds.
func BenchmarkDecodeOrder(b *testing.B) {
	payload, err := json.Marshal(order{
		ProjectID: "0123456789abcdef0123456789abcdef",
		Request:   ExampleRequest("x"),
		Metadata:  map[string]string{"test": "x"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var o order
		if err := strictjson.Decode(payload, "", &o); err != nil {
			b.Fatal(err)
		}
	}
}
