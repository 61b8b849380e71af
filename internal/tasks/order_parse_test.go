package tasks

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"cphpurchase/internal/strictjson"
)

// ParseOrder reports every broken rule in one pass: a value of the wrong type and an unknown field
// together with the required fields left out and the rules the decoded values break, each value
// once. Before it, the missing fields showed only after the type errors were fixed.
func TestParseOrderReportsEveryProblemAtOnce(t *testing.T) {
	fill := func(o *Order) {
		if o.ProjectID == "" {
			o.ProjectID = "from-the-command-line"
		}
	}
	cases := []struct {
		name      string
		doc       string
		want      []string
		wantOrder bool
	}{
		{"type errors, an unknown field and missing fields together",
			`{"request": {"server_name": "web!", "count": "2", "ports": [{"name": 7, "listen_port": 1}], "colour": "red"}}`,
			[]string{
				"request.count: must be an integer, got string",
				"request.ports[0].name: must be a string, got number",
				"request.colour: unknown field",
				"request.server_name: may contain only letters, digits, _ and -, got \"web!\"",
				"request.server_model_name: is required",
				"request.phone_model_name: is required",
				"request.image_id: is required",
				"request.ports[0].listen_port: must be between 10000 and 50000, got 1",
				"request.ports[0].internet_accessible: is required",
				"request.extend_param: is required",
				"request.tenant_vpc_id: is required",
				"request.nics: at least one is required",
				"request.public_ip: is required",
				"request.band_width: is required",
			}, false},
		{"a request of the wrong type is reported once",
			`{"project_id": "p", "request": 7}`,
			[]string{"request: must be an object, got number"}, false},
		{"the caller's completion counts: no project_id error",
			`{"request": {"count": 1.5}}`,
			nil, false},
		{"malformed: only the syntax", `{"request": `,
			[]string{"(root): malformed JSON at byte 12: unexpected end of input"}, false},
		{"valid types, broken rules: the order comes back with them",
			`{"project_id": "p", "request": {"count": 11}}`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOrder([]byte(tc.doc), fill)
			var fields strictjson.FieldErrors
			if !errors.As(err, &fields) {
				t.Fatalf("err = %v, want FieldErrors", err)
			}
			var got []string
			for _, f := range fields {
				got = append(got, f.String())
			}
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "project_id:") }) {
				t.Errorf("project_id reported although the completion filled it: %v", got)
			}
			if (o != nil) != tc.wantOrder {
				t.Errorf("order = %v, want one: %v", o, tc.wantOrder)
			}
		})
	}
}

// A valid order parses like DecodeOrder and Validate in turn, completed.
func TestParseOrderValid(t *testing.T) {
	data, err := json.Marshal(order("parse-ok"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOrder(data, func(o *Order) { o.IdempotencyKey = "replaced" })
	if err != nil || o.IdempotencyKey != "replaced" || o.Request.ServerName != "parse-ok" {
		t.Fatalf("got %+v, %v", o, err)
	}
}
