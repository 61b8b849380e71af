package strictjson

import (
	"testing"
)

// DecodeForValidation reports what Decode reports, and fills v from a readable document, so that
// a caller can check the rules of what did decode in the same pass.
func TestDecodeForValidation(t *testing.T) {
	cases := []struct {
		name         string
		doc          string
		wantReadable bool
		wantErrs     []string
		check        func(t *testing.T, e envelope)
	}{
		{"valid", `{"project_id": "p", "request": {"server_name": "web"}}`, true, nil,
			func(t *testing.T, e envelope) {
				if e.ProjectID != "p" || e.Request.ServerName != "web" {
					t.Errorf("decoded %+v", e)
				}
			}},
		{"a wrong type and an unknown field: the rest is filled",
			`{"project_id": "p", "request": {"server_name": "web", "count": "2", "ports": [{"name": 7, "listen_port": 20000}], "foo": 1}}`,
			true,
			[]string{"request.count: must be an integer, got string", "request.ports[0].name: must be a string, got number", "request.foo: unknown field"},
			func(t *testing.T, e envelope) {
				// count may be left nil or 0, as json.Unmarshal goes: Join hides what validation says of it.
				if e.ProjectID != "p" || e.Request.ServerName != "web" ||
					len(e.Request.Ports) != 1 || e.Request.Ports[0].Name != "" || *e.Request.Ports[0].ListenPort != 20000 {
					t.Errorf("decoded %+v, %+v", e, e.Request)
				}
			}},
		{"malformed: not readable", `{"request": }`, false,
			[]string{"(root): malformed JSON at byte 13: invalid character '}' looking for beginning of value"}, nil},
		{"trailing data: not readable", `{"project_id": "p"} {}`, false,
			[]string{"(root): malformed JSON at byte 21: trailing data after the value"}, nil},
		{"invalid UTF-8: not readable", "{\"project_id\": \"\xff\"}", false,
			[]string{"(root): malformed JSON at byte 17: invalid UTF-8"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := envelope{IdempotencyKey: "untouched"}
			readable, err := DecodeForValidation([]byte(tc.doc), "", &e)
			sameLines(t, errLines(err), tc.wantErrs)
			if readable != tc.wantReadable {
				t.Fatalf("readable = %v, want %v", readable, tc.wantReadable)
			}
			if !readable && e.IdempotencyKey != "untouched" {
				t.Errorf("v was written from an unreadable document: %+v", e)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

// Join keeps one report per broken value: a validation error at or inside a path that decoding
// reported already is dropped; others are kept, after decoding's.
func TestFieldErrorsJoin(t *testing.T) {
	decoding := FieldErrors{
		{Path: "request.count", Message: "must be an integer, got string"},
		{Path: "request.ports", Message: "must be an array, got object"},
		{Path: "request.foo", Message: "unknown field"},
	}
	validation := FieldErrors{
		{Path: "request.server_name", Message: "is required"},
		{Path: "request.count", Message: "is required"},
		{Path: "request.counter", Message: "is required"},
		{Path: "request.ports[0].name", Message: "is required"},
		{Path: "request.ports.x", Message: "is required"},
		{Path: "request.portsx", Message: "is required"},
		{Path: "project_id", Message: "is required"},
	}
	sameLines(t, errLines(decoding.Join(validation)), []string{
		"request.count: must be an integer, got string",
		"request.ports: must be an array, got object",
		"request.foo: unknown field",
		"request.server_name: is required",
		"request.counter: is required",
		"request.portsx: is required",
		"project_id: is required",
	})
	root := FieldErrors{{Path: "(root)", Message: "must be an object, got number"}}
	sameLines(t, errLines(root.Join(validation)), []string{"(root): must be an object, got number"})
	if got := FieldErrors(nil).Join(validation); len(got) != len(validation) {
		t.Errorf("nothing to cover: got %d errors, want %d", len(got), len(validation))
	}
}
