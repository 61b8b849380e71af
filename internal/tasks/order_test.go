package tasks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"cphpurchase/internal/strictjson"
)

func TestDecodeOrderBadInput(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	manyUnknown := `{"request":{` + strings.Repeat(`"x":1,`, 5000) + `"y":1}}`
	cases := []struct {
		name     string
		payload  string
		wantPath string
		maxErrs  int
	}{
		{"not JSON", "\xff\xfe not json", "(root)", 1},
		{"not an object", `[1,2,3]`, "(root)", 1},
		{"huge", `{"request":{"server_name":"` + strings.Repeat("a", MaxOrderBytes) + `"}}`, "(root)", 1},
		{"deeply nested", `{"metadata":` + deep + `}`, "", 1},
		{"unknown envelope field", `{"request":{},"token":"x"}`, "token", 1},
		{"metadata not strings", `{"request":{},"metadata":{"a":1}}`, "metadata.a", 1},
		{"many problems", manyUnknown, "", MaxFieldErrors + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeOrder([]byte(tc.payload))
			var fields strictjson.FieldErrors
			if !errors.As(err, &fields) || len(fields) == 0 {
				t.Fatalf("err = %v, want field errors", err)
			}
			if len(fields) > tc.maxErrs && tc.maxErrs > 1 {
				t.Fatalf("%d field errors, want at most %d", len(fields), tc.maxErrs)
			}
			if tc.wantPath != "" && fields[0].Path != tc.wantPath {
				t.Fatalf("first path = %q, want %q (%v)", fields[0].Path, tc.wantPath, err)
			}
		})
	}
}

func TestOrderValidateAndKey(t *testing.T) {
	o := order("key-1")
	if err := o.Validate(); err != nil {
		t.Fatalf("valid order: %v", err)
	}
	same := order("key-1")
	same.Metadata = map[string]string{"other": "metadata"}
	if o.Key() != same.Key() {
		t.Fatal("metadata changed the derived key: the same purchase must buy once")
	}
	if other := order("key-2"); other.Key() == o.Key() {
		t.Fatal("different requests share a derived key")
	}
	o.ProjectID = ""
	o.IdempotencyKey = strings.Repeat("k", MaxKeyBytes+1)
	err := o.Validate()
	var fields strictjson.FieldErrors
	if !errors.As(err, &fields) || len(fields) != 2 || fields[0].Path != "idempotency_key" || fields[1].Path != "project_id" {
		t.Fatalf("err = %v", err)
	}
}

// keyProject is the project of the orders of the key tests.
const keyProject = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

// keyShortForm is a valid order written in the short form: no default spelt out, ports open as
// "true" and closed as "false". The key tests write other spellings of it by replacing text.
const keyShortForm = `{"project_id":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","request":{"server_name":"pin-a",` +
	`"server_model_name":"physical.kg1.4xlarge.cp","phone_model_name":"kg1.cp.c20.d64SSD.e1v1",` +
	`"image_id":"20060220200717f201120a2300000e91","count":2,` +
	`"ports":[{"name":"web","listen_port":10080,"internet_accessible":"true"},` +
	`{"name":"ssh","listen_port":10022,"internet_accessible":"false"}],` +
	`"extend_param":{"charging_mode":0,"period_type":2,"period_num":1,"is_auto_pay":1},` +
	`"tenant_vpc_id":"fca063f6-b942-42a8-9004-e5545f58d6a2",` +
	`"nics":[{"subnet_id":"f1cbfc37-eb42-4357-a0ec-9e4f11950908"}],` +
	`"public_ip":{"eip":{"type":"5_bgp"}},` +
	`"band_width":{"band_width_share_type":0,"band_width_size":300,"band_width_charge_mode":1}}}`

// keyShortFormPretty is keyShortForm laid out for reading, and keyFullForm a short-form order that
// sets every other optional field to a value other than its default.
const (
	keyShortFormPretty = `{"project_id":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","request":{
	"server_name": "pin-a", "server_model_name": "physical.kg1.4xlarge.cp",
	"phone_model_name": "kg1.cp.c20.d64SSD.e1v1", "image_id": "20060220200717f201120a2300000e91",
	"count": 2,
	"ports": [{"name": "web", "listen_port": 10080, "internet_accessible": "true"},
	          {"name": "ssh", "listen_port": 10022, "internet_accessible": "false"}],
	"extend_param": {"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 1},
	"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
	"nics": [{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908"}],
	"public_ip": {"eip": {"type": "5_bgp"}},
	"band_width": {"band_width_share_type": 0, "band_width_size": 300, "band_width_charge_mode": 1}}}`

	keyFullForm = `{"project_id":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","request":{
	"server_name": "pin-b", "server_model_name": "physical.kg1.4xlarge.cp",
	"phone_model_name": "kg1.cp.c20.d64SSD.e1v1", "image_id": "20060220200717f201120a2300000e91",
	"count": 1, "keypair_name": "ops",
	"extend_param": {"charging_mode": 0, "period_type": 3, "period_num": 1, "is_auto_pay": 1, "is_auto_renew": 1,
	                 "enterprise_project_id": "b3f4a7c2-1d2e-4f5a-8b9c-0d1e2f3a4b5c"},
	"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
	"nics": [{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908", "ipv6_enable": true,
	          "ipv6_bandwidth": {"band_width_id": "bw-v6"}}],
	"public_ip": {"count": 0},
	"phone_count_per_ip": 2,
	"phone_data_volume": {"volume_type": "SSD", "size": 64},
	"band_width": {"band_width_share_type": 1, "band_width_id": "bw-shared", "band_width_charge_mode": 0},
	"availability_zone": "cn-east-3a"}}`
)

// keyOrder decodes and validates an order, failing the test on any problem.
func keyOrder(t *testing.T, payload string) *Order {
	t.Helper()
	o, err := DecodeOrder([]byte(payload))
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, payload)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("validate: %v\n%s", err, payload)
	}
	return o
}

// respell replaces each old text of pairs (old, new, old, new, …) in s, which must hold it once.
func respell(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("%q occurs %d times, want once", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// TestOrderKeyPinned locks compatibility: an order written in the short form derives the key it
// derived before the request was canonicalised (computed then with sha256 of the project id, NUL
// and json.Marshal of the request), so that keys already stored by running systems still match.
func TestOrderKeyPinned(t *testing.T) {
	cases := []struct{ name, payload, want string }{
		{"short form", keyShortForm, "sha256:b8cf42307edab6a75f5043464c92756249ff390971af222e906ca3bb2171a972"},
		{"short form, laid out", keyShortFormPretty, "sha256:b8cf42307edab6a75f5043464c92756249ff390971af222e906ca3bb2171a972"},
		{"every optional field set", keyFullForm, "sha256:fa5b59431c418cdb3f1e049709102acf219c21055247f1fc7581de8175fcee44"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := keyOrder(t, tc.payload)
			if got := o.Key(); got != tc.want {
				t.Fatalf("Key() = %s, want %s: keys derived by running systems would no longer match", got, tc.want)
			}
			if got := "sha256:" + o.Fingerprint(); got != tc.want {
				t.Fatalf("sha256:Fingerprint() = %s, want the derived key %s", got, tc.want)
			}
		})
	}
}

// TestOrderKeyEquivalentSpellings: each case writes the purchase of keyShortForm (changed by
// both, if given) another way; every spelling must derive the short form's key.
func TestOrderKeyEquivalentSpellings(t *testing.T) {
	const manualPay = `,"is_auto_pay":1` // removed by both to get a short form without auto-pay
	cases := []struct {
		name    string
		both    []string // replacements making the short form, applied to both spellings
		variant []string // replacements making the other spelling
	}{
		{"is_auto_pay 0", []string{manualPay, ""},
			[]string{`"period_num":1`, `"period_num":1,"is_auto_pay":0`}},
		{"is_auto_renew 0", nil, []string{`"period_num":1`, `"period_num":1,"is_auto_renew":0`}},
		{"enterprise_project_id 0", nil, []string{`"period_num":1`, `"period_num":1,"enterprise_project_id":"0"`}},
		{"public_ip.count 1", nil, []string{`"public_ip":{`, `"public_ip":{"count":1,`}},
		{"public_ip.ids empty", nil, []string{`"public_ip":{`, `"public_ip":{"ids":[],`}},
		{"ipv6_enable false", nil, []string{`9e4f11950908"}`, `9e4f11950908","ipv6_enable":false}`}},
		{"internet_accessible TRUE", nil, []string{`"internet_accessible":"true"`, `"internet_accessible":"TRUE"`}},
		{"internet_accessible True", nil, []string{`"internet_accessible":"true"`, `"internet_accessible":"True"`}},
		{"internet_accessible FALSE", nil, []string{`"internet_accessible":"false"`, `"internet_accessible":"FALSE"`}},
		{"internet_accessible no", nil, []string{`"internet_accessible":"false"`, `"internet_accessible":"no"`}},
		{"ports empty", []string{`"ports":[{"name":"web","listen_port":10080,"internet_accessible":"true"},` +
			`{"name":"ssh","listen_port":10022,"internet_accessible":"false"}],`, ""},
			[]string{`"count":2`, `"count":2,"ports":[]`}},
		{"optional fields null or empty", nil, []string{`"count":2`,
			`"count":2,"keypair_name":"","availability_zone":null,"phone_count_per_ip":null,"phone_data_volume":null`}},
		{"metadata", nil, []string{`"request":`, `"metadata":{"batch":"7"},"request":`}},
		{"every default spelt out", []string{manualPay, ""}, []string{
			`"period_num":1`, `"period_num":1,"is_auto_pay":0,"is_auto_renew":0,"enterprise_project_id":"0"`,
			`"public_ip":{`, `"public_ip":{"count":1,"ids":[],`,
			`9e4f11950908"}`, `9e4f11950908","ipv6_enable":false}`,
			`"internet_accessible":"true"`, `"internet_accessible":"tRUE"`,
			`"internet_accessible":"false"`, `"internet_accessible":"False"`}},
		{"auto-pay order, defaults spelt out", nil, []string{
			`"period_num":1`, `"period_num":1,"is_auto_renew":0`,
			`"public_ip":{`, `"public_ip":{"count":1,`,
			`"internet_accessible":"true"`, `"internet_accessible":"TRUE"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			short := respell(t, keyShortForm, tc.both...)
			variant := respell(t, short, tc.variant...)
			want, got := keyOrder(t, short), keyOrder(t, variant)
			if got.Key() != want.Key() {
				t.Fatalf("two spellings of one purchase derive different keys:\n%s\n  %s\n%s\n  %s",
					variant, got.Key(), short, want.Key())
			}
		})
	}

	// Another layout of the short form: fields in another order (the envelope's too), other white
	// space, metadata, the defaults spelt out and the ports' booleans in capitals.
	reordered := `{
  "metadata": {"source": "test"},
  "request": {
    "band_width": {"band_width_charge_mode": 1, "band_width_size": 300, "band_width_share_type": 0},
    "public_ip":  {"count": 1, "eip": {"type": "5_bgp"}},
    "nics": [ { "ipv6_enable": false, "subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908" } ],
    "tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
    "extend_param": {"is_auto_renew": 0, "is_auto_pay": 1, "period_num": 1, "period_type": 2, "charging_mode": 0},
    "ports": [
      {"internet_accessible": "TRUE", "listen_port": 10080, "name": "web"},
      {"internet_accessible": "FALSE", "listen_port": 10022, "name": "ssh"}
    ],
    "count": 2,
    "image_id": "20060220200717f201120a2300000e91",
    "phone_model_name": "kg1.cp.c20.d64SSD.e1v1",
    "server_model_name": "physical.kg1.4xlarge.cp",
    "server_name": "pin-a"
  },
  "project_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
}`
	if got, want := keyOrder(t, reordered).Key(), keyOrder(t, keyShortForm).Key(); got != want {
		t.Fatalf("a reordered, spelt-out layout derives %s, the short form %s", got, want)
	}
}

// TestOrderKeyDistinguishesPurchases: an order that buys something else derives another key.
func TestOrderKeyDistinguishesPurchases(t *testing.T) {
	cases := []struct {
		name    string
		variant []string
	}{
		{"count", []string{`"count":2`, `"count":3`}},
		{"server_name", []string{`"server_name":"pin-a"`, `"server_name":"pin-c"`}},
		{"period_num", []string{`"period_num":1`, `"period_num":2`}},
		{"is_auto_pay absent", []string{`,"is_auto_pay":1`, ""}},
		{"is_auto_renew 1", []string{`"period_num":1`, `"period_num":1,"is_auto_renew":1`}},
		{"public_ip.count 0", []string{`"public_ip":{`, `"public_ip":{"count":0,`}},
		{"public_ip.count 2", []string{`"public_ip":{`, `"public_ip":{"count":2,`}},
		{"ipv6_enable true", []string{`9e4f11950908"}`, `9e4f11950908","ipv6_enable":true}`}},
		{"port opened", []string{`"internet_accessible":"false"`, `"internet_accessible":"True"`}},
		{"project", []string{`"project_id":"` + keyProject + `"`, `"project_id":"ffffffffffffffffffffffffffffffff"`}},
	}
	base := keyOrder(t, keyShortForm)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := keyOrder(t, respell(t, keyShortForm, tc.variant...))
			if o.Key() == base.Key() || o.Fingerprint() == base.Fingerprint() {
				t.Fatalf("a different purchase derives the short form's key %s", base.Key())
			}
		})
	}
}

// TestOrderFingerprintIgnoresKeyAndMetadata: the fingerprint names the purchase, not the key that
// names it nor the metadata that travels with it; a given key is used as is.
func TestOrderFingerprintIgnoresKeyAndMetadata(t *testing.T) {
	derived := keyOrder(t, keyShortForm)
	keyed := keyOrder(t, respell(t, keyShortForm, `{"project_id"`, `{"idempotency_key":"batch-7/pin-a","project_id"`))
	keyed.Metadata = map[string]string{"batch": "7"}
	if keyed.Key() != "batch-7/pin-a" {
		t.Fatalf("Key() = %q, want the given key", keyed.Key())
	}
	if keyed.Fingerprint() != derived.Fingerprint() {
		t.Fatalf("the idempotency key or metadata changed the fingerprint: %s, without them %s",
			keyed.Fingerprint(), derived.Fingerprint())
	}
	if derived.Key() != "sha256:"+derived.Fingerprint() {
		t.Fatalf("derived Key() = %s, want sha256:%s", derived.Key(), derived.Fingerprint())
	}
	if fp := derived.Fingerprint(); len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("Fingerprint() = %q, want 64 lower-case hex digits", fp)
	}
}

// TestOrderKeyDoesNotChangeRequest: deriving the key leaves the request as given, since it is
// what is sent to the API.
func TestOrderKeyDoesNotChangeRequest(t *testing.T) {
	o := keyOrder(t, respell(t, keyShortForm,
		`,"is_auto_pay":1`, `,"is_auto_pay":0,"is_auto_renew":0`,
		`"public_ip":{`, `"public_ip":{"count":1,"ids":[],`,
		`9e4f11950908"}`, `9e4f11950908","ipv6_enable":false}`,
		`"internet_accessible":"true"`, `"internet_accessible":"TRUE"`))
	before, err := json.Marshal(o.Request)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = o.Key(), o.Fingerprint()
	after, _ := json.Marshal(o.Request)
	if string(after) != string(before) {
		t.Fatalf("deriving the key changed the request:\n got %s\nwant %s", after, before)
	}
	r := o.Request
	if r.ExtendParam.IsAutoPay == nil || *r.ExtendParam.IsAutoPay != 0 || r.ExtendParam.IsAutoRenew == nil ||
		r.PublicIP.Count == nil || r.PublicIP.IDs == nil || r.NICs[0].IPv6Enable == nil ||
		*r.Ports[0].InternetAccessible != "TRUE" {
		t.Fatalf("deriving the key changed the request: %s", after)
	}
}
