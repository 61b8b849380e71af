package tasks

import (
	"errors"
	"strings"
	"testing"

	"cphpurchase/internal/cph"
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
			var fields cph.FieldErrors
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
	var fields cph.FieldErrors
	if !errors.As(err, &fields) || len(fields) != 2 || fields[0].Path != "idempotency_key" || fields[1].Path != "project_id" {
		t.Fatalf("err = %v", err)
	}
}
