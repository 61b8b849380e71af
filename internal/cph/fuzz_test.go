package cph

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"cphpurchase/internal/strictjson"
)

// FuzzDecodePurchaseRequest feeds arbitrary bytes to the decoder and the validator. Neither may
// panic; errors must be well-formed FieldErrors (one printable line each, as the CLI prints
// them); a decoded request must survive a round trip through encoding/json unchanged, so that
// what is enqueued decodes again at the worker; Validate must give the same answer every time.
// The seeds below and those in testdata/fuzz run in every plain `go test`.
func FuzzDecodePurchaseRequest(f *testing.F) {
	for _, seed := range []string{
		apiExample,
		`{}`,
		`null`,
		`{"count": 1.5, "count": "x", "foo": [1, {"bar": null}]}`,
		`{"ports": [{"name": "ADB", "listen_port": 9999}, {"x": 1}], "nics": []}`,
		`{"public_ip": {"ids": ["a", "b"], "eip": {"type": "5_BGP"}, "count": -1}}`,
		`{"extend_param": {"period_type": 3, "period_num": 11, "is_auto_pay": 2}}`,
		`{"band_width": {"band_width_share_type": 1, "band_width_charge_mode": 0}}`,
		`{"server_name": "\ud800", "image_id": "\u00e9"}`,
		`{"count": 99999999999999999999} x`,
		"{\"server_name\": \"\xff\"}",
		`{"x": ` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodePurchaseRequest(data)
		if err != nil {
			checkFieldErrors(t, err)
			return
		}
		first := r.Validate()
		if again := r.Validate(); !reflect.DeepEqual(first, again) {
			t.Fatalf("Validate is not deterministic:\n%v\nthen\n%v", first, again)
		}
		if first != nil {
			checkFieldErrors(t, first)
		}

		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		r2, err := DecodePurchaseRequest(out)
		if err != nil {
			t.Fatalf("the re-marshalled request does not decode: %v\n%s", err, out)
		}
		if out2, _ := json.Marshal(r2); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the request:\n%s\n%s", out, out2)
		}
		if v2 := r2.Validate(); !reflect.DeepEqual(first, v2) {
			t.Fatalf("round trip changed the validation:\n%v\nthen\n%v", first, v2)
		}
	})
}

// checkFieldErrors checks that err is a non-empty FieldErrors whose every entry has a path and
// a message, each valid UTF-8 on one line.
func checkFieldErrors(t *testing.T, err error) {
	t.Helper()
	var es strictjson.FieldErrors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error is not a non-empty FieldErrors: %#v", err)
	}
	for _, e := range es {
		for _, s := range []string{e.Path, e.Message} {
			if s == "" || strings.ContainsAny(s, "\n\r") || !utf8.ValidString(s) {
				t.Fatalf("malformed field error %q", e.String())
			}
		}
	}
}
