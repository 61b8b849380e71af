package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// decodeCase is a change to the API example (or a whole document when from is empty) and the
// errors Decode must report for it as a request under the prefix "request".
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
			var r request
			err := Decode([]byte(doc), "request", &r)
			sameLines(t, errLines(err), tc.want)
			if err != nil && !reflect.DeepEqual(r, request{}) {
				t.Errorf("v was written despite the error: %+v", r)
			}
		})
	}
}

func TestDecodeAPIExample(t *testing.T) {
	var r request
	if err := Decode([]byte(apiExample), "request", &r); err != nil {
		t.Fatalf("the API page's example does not decode: %v", err)
	}
	if r.ServerName != "cph-kertus-1110" || *r.Count != 1 || len(r.Ports) != 2 ||
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
		{"differs in case only", `"count" : 1`, `"Count" : 1`, []string{"request.Count: unknown field"}},
		{"Unicode case folding", `"count" : 1`, `"count" : 1, "ſerver_name": "x"`,
			[]string{`request["ſerver_name"]: unknown field`}},
		{"Go field name instead of JSON name", `"count" : 1`, `"count" : 1, "ServerName": "x"`,
			[]string{"request.ServerName: unknown field"}},
		{"key with a dot", `"count" : 1`, `"count" : 1, "a.b": 1`, []string{`request["a.b"]: unknown field`}},
		{"empty key", `"count" : 1`, `"count" : 1, "": 1`, []string{`request[""]: unknown field`}},
		{"key with a newline", `"count" : 1`, `"count" : 1, "a\nb": 1`, []string{`request["a\nb"]: unknown field`}},
		{"several, in document order", `"count" : 1`, `"zz": 1, "count" : 1, "aa": 2`,
			[]string{"request.zz: unknown field", "request.aa: unknown field"}},
	})
}

func TestDecodeWrongTypes(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"count as a string", `"count" : 1`, `"count" : "1"`, []string{"request.count: must be an integer, got string"}},
		{"count as a boolean", `"count" : 1`, `"count" : true`, []string{"request.count: must be an integer, got boolean"}},
		{"count as an array", `"count" : 1`, `"count" : [1]`, []string{"request.count: must be an integer, got array"}},
		{"count as an object", `"count" : 1`, `"count" : {"n": 1}`, []string{"request.count: must be an integer, got object"}},
		{"count 1.5", `"count" : 1`, `"count" : 1.5`, []string{"request.count: must be an integer, got 1.5"}},
		{"count 1.0", `"count" : 1`, `"count" : 1.0`, []string{"request.count: must be an integer, got 1.0"}},
		{"count 1e0", `"count" : 1`, `"count" : 1e0`, []string{"request.count: must be an integer, got 1e0"}},
		{"count 1e20", `"count" : 1`, `"count" : 1e20`, []string{"request.count: must be an integer, got 1e20"}},
		{"count beyond int64", `"count" : 1`, `"count" : 9223372036854775808`, []string{
			"request.count: must be an integer between -9223372036854775808 and 9223372036854775807, got 9223372036854775808"}},
		{"count -0", `"count" : 1`, `"count" : -0`, nil},
		{"count null", `"count" : 1`, `"count" : null`, nil},
		{"server_name as a number", `"server_name" : "cph-kertus-1110"`, `"server_name" : 5`,
			[]string{"request.server_name: must be a string, got number"}},
		{"server_name null", `"server_name" : "cph-kertus-1110"`, `"server_name" : null`, nil},
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
		{"ports null", `"ports" : [`, `"ports" : null, "x": [`, []string{"request.x: unknown field"}},
		{"the document as an array", "", `[]`, []string{"request: must be an object, got array"}},
		{"the document as a string", "", `"x"`, []string{"request: must be an object, got string"}},
		{"many problems, in document order", "",
			`{"count": "1", "foo": {"a": [1, 2]}, "ports": [{"name": "a", "listen_port": 1.5}, {"foo": 1, "listen_port": 1e20}], "count": null}`,
			[]string{
				"request.count: must be an integer, got string",
				"request.foo: unknown field",
				"request.ports[0].listen_port: must be an integer, got 1.5",
				"request.ports[1].foo: unknown field",
				"request.ports[1].listen_port: must be an integer, got 1e20",
				"request.count: duplicate field",
			}},
	})
}

func TestDecodeHugeNumbers(t *testing.T) {
	digits := strings.Repeat("9", 100000)
	runDecodeCases(t, []decodeCase{
		{"100000 digits", `"count" : 1`, `"count" : ` + digits, []string{
			"request.count: must be an integer between -9223372036854775808 and 9223372036854775807, got " +
				strings.Repeat("9", 64) + "…"}},
		{"1e400", `"count" : 1`, `"count" : 1e400`, []string{"request.count: must be an integer, got 1e400"}},
		{"negative huge", `"listen_port" : 20000`, `"listen_port" : -` + digits[:30], []string{
			"request.ports[0].listen_port: must be an integer between -9223372036854775808 and 9223372036854775807, got -" +
				digits[:30]}},
		{"huge number in an unknown field", `"count" : 1`, `"count" : 1, "x": ` + digits + `e99999`,
			[]string{"request.x: unknown field"}},
	})
}

func TestDecodeDuplicates(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"top level", `"count" : 1`, `"count" : 1, "count": 1`, []string{"request.count: duplicate field"}},
		{"different values", `"count" : 1`, `"count" : 1, "count": 10`, []string{"request.count: duplicate field"}},
		{"written with an escape", `"count" : 1`, `"count" : 1, "co\u0075nt": 1`, []string{"request.count: duplicate field"}},
		{"nested", `"period_num" : 1`, `"period_num" : 1, "period_num": 9`,
			[]string{"request.extend_param.period_num: duplicate field"}},
		{"in the second port", `"listen_port" : 20001`, `"listen_port" : 20001, "listen_port": 30000`,
			[]string{"request.ports[1].listen_port: duplicate field"}},
		{"duplicate of an unknown field", `"count" : 1`, `"count" : 1, "x": 1, "x": 2`,
			[]string{"request.x: unknown field", "request.x: duplicate field", "request.x: unknown field"}},
		{"duplicate with a wrong type", `"count" : 1`, `"count" : 1, "count": "2"`,
			[]string{"request.count: duplicate field", "request.count: must be an integer, got string"}},
	})
}

func TestDecodeMalformed(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"empty", "", ``, []string{"request: malformed JSON at byte 0: no value"}},
		{"blank", "", "  \n", []string{"request: malformed JSON at byte 3: no value"}},
		{"truncated", "", `{"count": 1`, []string{"request: malformed JSON at byte 11: unexpected end of input"}},
		{"missing colon", "", `{"count" 1}`,
			[]string{"request: malformed JSON at byte 10: invalid character '1' after object key"}},
		{"trailing comma", "", `{"count": 1,}`,
			[]string{"request: malformed JSON at byte 13: invalid character '}' looking for beginning of object key string"}},
		{"bare word", "", `{"count": one}`,
			[]string{"request: malformed JSON at byte 11: invalid character 'o' looking for beginning of value"}},
		{"single quotes", "", `{'count': 1}`,
			[]string{"request: malformed JSON at byte 2: invalid character '\\'' looking for beginning of object key string"}},
		{"byte order mark", "", "\xef\xbb\xbf{}",
			[]string{"request: malformed JSON at byte 1: invalid character 'ï' looking for beginning of value"}},
		{"control character in a string", "", "{\"server_name\": \"a\tb\"}",
			[]string{`request: malformed JSON at byte 19: invalid character '\t' in string literal`}},
		{"invalid UTF-8 in a value", `"server_name" : "cph-kertus-1110"`, "\"server_name\" : \"cph-\xff\"",
			[]string{"request: malformed JSON at byte 24: invalid UTF-8"}},
		{"invalid UTF-8 in a key", `"count" : 1`, "\"count\" : 1, \"\xc3\": 1",
			[]string{"request: malformed JSON at byte 197: invalid UTF-8"}},
		{"overlong UTF-8 encoding", "", "{\"server_name\": \"\xc0\xaf\"}",
			[]string{"request: malformed JSON at byte 18: invalid UTF-8"}},
		{"UTF-16 surrogate encoded in UTF-8", "", "{\"server_name\": \"\xed\xa0\x80\"}",
			[]string{"request: malformed JSON at byte 18: invalid UTF-8"}},
	})
}

func TestDecodeTrailingData(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"a word", "", `{} x`, []string{"request: malformed JSON at byte 4: trailing data after the value"}},
		{"a second object", "", `{}{}`, []string{"request: malformed JSON at byte 3: trailing data after the value"}},
		{"a closing bracket", "", `{}]`, []string{"request: malformed JSON at byte 3: trailing data after the value"}},
		{"after field errors", "", `{"count": "1"} 2`, []string{
			"request.count: must be an integer, got string",
			"request: malformed JSON at byte 16: trailing data after the value",
		}},
		{"trailing white space is fine", "", "{}\n\t \r\n", nil},
		{"leading white space is fine", "", "\n {}", nil},
	})
}

func TestDecodeDeepNesting(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	nestObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	runDecodeCases(t, []decodeCase{
		{"100k arrays in an unknown field", `"count" : 1`, `"count" : 1, "x": ` + nest(100000),
			[]string{"request: malformed JSON at byte 10200: invalid character '[' exceeded max depth"}},
		{"100k objects in an unknown field", `"count" : 1`, `"count" : 1, "x": ` + nestObj(100000),
			[]string{"request: malformed JSON at byte 50196: invalid character '{' exceeded max depth"}},
		{"100k arrays as a port", `"ports" : [`, `"ports" : [` + nest(100000) + `,`,
			[]string{"request: malformed JSON at byte 10233: invalid character '[' exceeded max depth"}},
		{"9000 arrays in an unknown field", `"count" : 1`, `"count" : 1, "x": ` + nest(9000),
			[]string{"request.x: unknown field"}},
		{"9000 objects in an unknown field", `"count" : 1`, `"count" : 1, "x": ` + nestObj(9000),
			[]string{"request.x: unknown field"}},
		{"9000 arrays as a port", `"ports" : [`, `"ports" : [` + nest(9000) + `,`,
			[]string{"request.ports[0]: must be an object, got array"}},
		{"9000 arrays as an ids element", `"public_ip" : {`, `"public_ip" : { "ids": ` + nest(9000) + `,`,
			[]string{"request.public_ip.ids[0]: must be a string, got array"}},
	})
}

func TestDecodeReturnsFieldErrors(t *testing.T) {
	var r request
	err := Decode([]byte(`{"count": "x"}`), "request", &r)
	var fe FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Path != "request.count" {
		t.Fatalf("err = %#v, want FieldErrors for request.count", err)
	}
	if got, want := err.Error(), "request.count: must be an integer, got string"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestDecodeNeedsAPointer(t *testing.T) {
	var r request
	var nilp *request
	for _, v := range []any{r, nilp, nil} {
		var iue *json.InvalidUnmarshalError
		if err := Decode([]byte(`{}`), "", v); !errors.As(err, &iue) {
			t.Errorf("Decode(%T) = %v, want *json.InvalidUnmarshalError", v, err)
		}
	}
}

func TestDecodeLeavesVAloneOnError(t *testing.T) {
	r := request{ServerName: "before"}
	if err := Decode([]byte(`{"server_name": "after", "x": 1}`), "request", &r); err == nil {
		t.Fatal("want an error")
	}
	if r.ServerName != "before" {
		t.Errorf("v was written despite the error: %q", r.ServerName)
	}
}

func TestDecodeNullDocument(t *testing.T) {
	r := request{ServerName: "before"}
	if err := Decode([]byte(`null`), "request", &r); err != nil || r.ServerName != "before" {
		t.Fatalf("got %+v, %v; want no error and v unchanged, as json.Unmarshal leaves it", r, err)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"valid", `{"idempotency_key": "k", "project_id": "p", "request": ` + apiExample + `, "metadata": {"batch": "2026-11"}}`, nil},
		{"errors at every level", `{"idempotency_key": 7, "request": {"count": "1", "ports": [{}, {"x": 1}]}, ` +
			`"metadata": {"batch": 2026, "a.b": "ok", "c": null, "batch": "x"}, "extra": true}`,
			[]string{
				"idempotency_key: must be a string, got number",
				"request.count: must be an integer, got string",
				"request.ports[1].x: unknown field",
				"metadata.batch: must be a string, got number",
				"metadata.batch: duplicate field",
				"extra: unknown field",
			}},
		{"metadata as an array", `{"metadata": ["a"]}`, []string{"metadata: must be an object, got array"}},
		{"malformed", `{"request": }`,
			[]string{"(root): malformed JSON at byte 13: invalid character '}' looking for beginning of value"}},
		{"not an object", `7`, []string{"(root): must be an object, got number"}},
		{"trailing data", `{} {}`, []string{"(root): malformed JSON at byte 4: trailing data after the value"}},
		{"invalid UTF-8", "{\"project_id\": \"\xff\"}", []string{"(root): malformed JSON at byte 17: invalid UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e envelope
			sameLines(t, errLines(Decode([]byte(tc.doc), "", &e)), tc.want)
		})
	}
}

func TestDecodeEnvelopeValues(t *testing.T) {
	var e envelope
	doc := `{"idempotency_key": "k", "request": {"count": 3}, "metadata": {"batch": "2026-11", "c": null}}`
	if err := Decode([]byte(doc), "", &e); err != nil {
		t.Fatal(err)
	}
	if e.IdempotencyKey != "k" || *e.Request.Count != 3 || e.Metadata["batch"] != "2026-11" {
		t.Errorf("decoded %+v", e)
	}
}

// Generic shapes the purchase types do not use, to keep Decode honest as a general tool.
type (
	genericInner struct {
		N int `json:"n"`
	}
	GenericEmbedded struct {
		E     string `json:"e"`
		Clash string `json:"clash"`
	}
	genericUnexportedEmbedded struct {
		U string `json:"u"`
	}
	// textKey is a map key that encoding/json reads with UnmarshalText.
	textKey string
	generic struct {
		GenericEmbedded
		genericUnexportedEmbedded
		Clash   int                      `json:"clash"` // shallower than GenericEmbedded.Clash: wins
		I8      int8                     `json:"i8"`
		U16     uint16                   `json:"u16"`
		F32     float32                  `json:"f32"`
		F64     float64                  `json:"f64"`
		B       bool                     `json:"b"`
		PP      **int                    `json:"pp"`
		In      *genericInner            `json:"in"`
		List    []genericInner           `json:"list"`
		Arr     [2]int                   `json:"arr"`
		Meta    map[string]string        `json:"meta"`
		IntKeys map[int]bool             `json:"int_keys"`
		TxtKeys map[textKey]genericInner `json:"txt_keys"`
		Raw     json.RawMessage          `json:"raw"`
		Any     any                      `json:"any"`
		Bytes   []byte                   `json:"bytes"`
		Num     json.Number              `json:"num"`
		Quoted  int                      `json:"quoted,string"`
		QBool   bool                     `json:"qbool,string"`
		When    time.Time                `json:"when"`
		Skipped string                   `json:"-"`
		//lint:ignore SA5008 encoding/json documents "-," as the name "-"; the test checks that rule
		Dash  string `json:"-,"`
		NoTag string
		//lint:ignore U1000 present to show that an unexported field is not decodable
		private string
	}
)

func (k *textKey) UnmarshalText(b []byte) error {
	if string(b) == "bad" {
		return errors.New("bad key")
	}
	*k = textKey(b)
	return nil
}

func TestDecodeGenericTypes(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"all valid", `{"e": "e", "u": "u", "clash": 1, "i8": -128, "u16": 65535, "f32": 1.5e38, "f64": 1e308, "b": true,
			"pp": 3, "in": {"n": 1}, "list": [{"n": 2}], "arr": [1, 2], "meta": {"k": "v"}, "int_keys": {"-1": true},
			"raw": {"anything": [1, "x", null]}, "any": [{"x": 1}], "bytes": "aGk=", "num": 1.5e3, "quoted": "12",
			"qbool": "true", "when": "2026-11-25T18:00:00Z", "-": "dash", "NoTag": "n"}`, nil},
		{"bytes as an array of numbers", `{"bytes": [104, 105]}`, nil},
		{"quoted null", `{"quoted": "null"}`, nil},
		{"integer ranges", `{"i8": 128, "u16": -1, "f32": 1e39}`, []string{
			"i8: must be an integer between -128 and 127, got 128",
			"u16: must be a non-negative integer, got -1",
			"f32: must be a number within float32 range, got 1e39",
		}},
		{"u16 beyond range", `{"u16": 65536}`, []string{"u16: must be an integer between 0 and 65535, got 65536"}},
		{"u16 fraction", `{"u16": 1.5}`, []string{"u16: must be a non-negative integer, got 1.5"}},
		{"f64 beyond range", `{"f64": 1e309}`, []string{"f64: must be a number within float64 range, got 1e309"}},
		{"wrong kinds", `{"f64": "1", "b": 1, "pp": "x", "in": 1, "list": {}, "arr": 1, "any": null, "num": true}`, []string{
			"f64: must be a number, got string",
			"b: must be a boolean, got number",
			"pp: must be an integer, got string",
			"in: must be an object, got number",
			"list: must be an array, got object",
			"arr: must be an array, got number",
			"num: must be a number, got boolean",
		}},
		{"nested unknown", `{"in": {"n": 1, "m": 2}, "list": [{"n": 1}, {"k": [1]}]}`,
			[]string{"in.m: unknown field", "list[1].k: unknown field"}},
		{"bad map keys and values", `{"int_keys": {"x": true, "1": 1}, "meta": {"k": {}}}`, []string{
			`int_keys.x: key "x" must be an integer`,
			"int_keys.1: must be a boolean, got number",
			"meta.k: must be a string, got object",
		}},
		{"map values are checked whatever the key type", `{"txt_keys": {"a": {"n": 1}, "b": {"m": 1}}}`,
			[]string{"txt_keys.b.m: unknown field"}},
		{"text map keys are judged by UnmarshalText", `{"txt_keys": {"bad": {"n": 1}}}`,
			[]string{`(root): cannot decode: bad key`}},
		{"bad base64", `{"bytes": "!!"}`, []string{`bytes: must be a base64 string, got "!!"`}},
		{"number in a string", `{"num": "-1.5e3"}`, nil},
		{"not a number in a string", `{"num": ""}`, []string{`num: must be a number or a string holding one, got ""`}},
		{"not a number literal in a string", `{"num": " 1"}`, []string{`num: must be a number or a string holding one, got " 1"`}},
		{"quoted wrong", `{"quoted": 12, "qbool": "yes"}`, []string{
			"quoted: must be a string holding an integer, got number",
			`qbool: must be a string holding a boolean, got "yes"`,
		}},
		{"quoted not a number", `{"quoted": "1.5"}`, []string{`quoted: must be a string holding an integer, got "1.5"`}},
		{"text unmarshaler given a number", `{"when": 5}`, []string{"(root): cannot decode: Time.UnmarshalJSON: input is not a JSON string"}},
		{"skipped and unexported names are unknown", `{"Skipped": "x", "private": "y", "GenericEmbedded": {}}`, []string{
			"Skipped: unknown field",
			"private: unknown field",
			"GenericEmbedded: unknown field",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g generic
			sameLines(t, errLines(Decode([]byte(tc.doc), "", &g)), tc.want)
		})
	}
}

func TestDecodeGenericValues(t *testing.T) {
	var g generic
	doc := `{"e": "e", "u": "u", "clash": 7, "pp": 3, "-": "dash", "quoted": "12", "NoTag": "n"}`
	if err := Decode([]byte(doc), "", &g); err != nil {
		t.Fatal(err)
	}
	if g.E != "e" || g.U != "u" || g.Clash != 7 || g.GenericEmbedded.Clash != "" || **g.PP != 3 ||
		g.Dash != "dash" || g.Quoted != 12 || g.NoTag != "n" {
		t.Errorf("decoded %+v", g)
	}
}

func TestDecodeTopLevelShapes(t *testing.T) {
	var list []genericInner
	sameLines(t, errLines(Decode([]byte(`[{"n": 1}, {"n": "x"}]`), "", &list)),
		[]string{"[1].n: must be an integer, got string"})
	var m map[string]int
	sameLines(t, errLines(Decode([]byte(`{"a": 1, "b c": "x"}`), "counts", &m)),
		[]string{`counts["b c"]: must be an integer, got string`})
	var n int
	sameLines(t, errLines(Decode([]byte(`"x"`), "", &n)), []string{"(root): must be an integer, got string"})
	var a any
	if err := Decode([]byte(`{"x": [1, {"y": null}]}`), "", &a); err != nil {
		t.Errorf("any: %v", err)
	}
}

func TestFieldPathQuotesLongKeys(t *testing.T) {
	long := strings.Repeat("k", 100)
	got := FieldPath("request", long)
	want := `request["` + strings.Repeat("k", 64) + `…"]`
	if got != want {
		t.Errorf("FieldPath = %s, want %s", got, want)
	}
}

// Concurrent decodes of the same and of different types share the field cache; under -race this
// checks that the cache is safe, and the results that it changes no answer.
func TestDecodeConcurrent(t *testing.T) {
	docs := []struct {
		doc  string
		into func() any
		want []string
	}{
		{apiExample, func() any { return new(request) }, nil},
		{`{"count": "1", "x": 1}`, func() any { return new(request) }, []string{"count: must be an integer, got string", "x: unknown field"}},
		{`{"in": {"m": 1}, "clash": 1}`, func() any { return new(generic) }, []string{"in.m: unknown field"}},
		{`{"request": {"ports": [{"y": 1}]}}`, func() any { return new(envelope) }, []string{"request.ports[0].y: unknown field"}},
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				d := docs[(g+i)%len(docs)]
				got := errLines(Decode([]byte(d.doc), "", d.into()))
				if !slices.Equal(got, d.want) {
					t.Errorf("%s: got %q, want %q", d.doc, got, d.want)
					return
				}
			}
		})
	}
	wg.Wait()
}
