package producer

import (
	"encoding/json"
	"errors"

	"cphpurchase/internal/strictjson"
	"cphpurchase/internal/tasks"
)

// Order is a purchase order (docs/contract.md, "The purchase order").
type Order struct {
	// IdempotencyKey names the purchase: one key buys at most once. Empty, a key is derived from
	// the project and the request, so the same purchase submitted twice buys once. At most 128
	// bytes of UTF-8.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// ProjectID is the CPH project; empty, the client's WithProjectID fills it.
	ProjectID string `json:"project_id,omitempty"`
	// Request is the body of POST /v2/{project_id}/cloud-phone/servers exactly as the API defines
	// it, as JSON. It is decoded strictly and validated field by field before anything is
	// enqueued: unknown fields, wrong types and every broken rule are reported at once.
	Request json.RawMessage `json:"request"`
	// Metadata is returned unchanged in the order's result, for the producer's own bookkeeping.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ParseOrder decodes an order from its JSON document strictly, as the CLI and the intake read
// one: unknown fields, keys given twice, wrong types, invalid UTF-8 and malformed JSON are an
// *InvalidError naming every problem at its path. The request inside it, and the order's rules (a
// request the API accepts, a project), are checked as strictly when it is enqueued.
func ParseOrder(data []byte) (Order, error) {
	var o Order
	if err := strictjson.Decode(data, "", &o); err != nil {
		return Order{}, invalid("", err)
	}
	return o, nil
}

// task is o as the pipeline's order: decoded strictly, with the client's project filled in. Its
// problems are an *InvalidError whose paths start with prefix.
func (c *Client) task(o Order, prefix string) (*tasks.Order, error) {
	data, err := json.Marshal(o)
	if err != nil { // only a Request that is not JSON fails here
		return nil, &InvalidError{Fields: []FieldError{{Path: prefix + "request", Message: "is not valid JSON"}}}
	}
	t, err := tasks.DecodeOrder(data)
	if err != nil {
		return nil, invalid(prefix, err)
	}
	if t.ProjectID == "" {
		t.ProjectID = c.projectID
	}
	return t, nil
}

// validate checks the rules of an order the pipeline decoded.
func validate(t *tasks.Order, prefix string) error {
	if err := t.Validate(); err != nil {
		return invalid(prefix, err)
	}
	return nil
}

// invalid turns the pipeline's field errors into an *InvalidError, each path under prefix. An
// error of another kind (none is expected) keeps its message at the prefix's root.
func invalid(prefix string, err error) *InvalidError {
	var fes strictjson.FieldErrors
	if !errors.As(err, &fes) {
		return &InvalidError{Fields: []FieldError{{Path: rootPath(prefix), Message: err.Error()}}}
	}
	out := &InvalidError{Fields: make([]FieldError, len(fes))}
	for i, fe := range fes {
		path := prefix + fe.Path
		if fe.Path == "(root)" {
			path = rootPath(prefix)
		}
		out.Fields[i] = FieldError{Path: path, Message: fe.Message}
	}
	return out
}

// rootPath is the path of a whole order: "(root)", as the CLI prints it, or the order's place in a
// batch ("orders[3]").
func rootPath(prefix string) string {
	if prefix == "" {
		return "(root)"
	}
	return prefix[:len(prefix)-1] // without the trailing "."
}
