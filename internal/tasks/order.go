// Package tasks is the purchase pipeline on asynq: the purchase order and its task, enqueueing,
// the handler with its exactly-once ledger, results, dead letters and replay. It builds on
// internal/cph and knows nothing of command lines.
package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/strictjson"
)

// TypePurchase is the asynq task type of a purchase order.
const TypePurchase = "cph:server:purchase"

// MaxOrderBytes bounds a purchase order's encoded size. A real order is well under 4 KiB; the bound
// keeps a malformed or hostile payload from costing memory at enqueue and in the handler.
const MaxOrderBytes = 64 << 10

// MaxKeyBytes bounds an idempotency key (docs/contract.md).
const MaxKeyBytes = 128

// Order is a purchase order, the task payload of docs/contract.md.
type Order struct {
	// IdempotencyKey names the purchase: one key buys at most once. Derived when empty.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	ProjectID      string `json:"project_id,omitempty"`
	// Request is the body of the purchase call, exactly as the API defines it.
	Request *cph.PurchaseRequest `json:"request"`
	// Metadata travels with the order into its result, for the producer's own bookkeeping.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// DecodeOrder decodes an order strictly: unknown fields, wrong types and malformed JSON are
// strictjson.FieldErrors naming their JSON path. It does not validate the rules; see
// Order.Validate, and ParseOrder, which does both and reports every problem at once.
func DecodeOrder(data []byte) (*Order, error) {
	if len(data) > MaxOrderBytes {
		return nil, tooLarge(data)
	}
	var o Order
	if err := strictjson.Decode(data, "", &o); err != nil {
		return nil, capFieldErrors(err)
	}
	return &o, nil
}

// ParseOrder decodes an order strictly, completes it (complete, when not nil, fills in what the
// caller supplies: a default project, a replacement key) and validates it, reporting every problem
// of both at once: values of the wrong type and unknown fields together with the required fields
// left out and the rules broken by the values that did decode. The order is returned when it
// decoded, valid or not, so that a caller can name its key; it is nil when decoding found problems.
func ParseOrder(data []byte, complete func(*Order)) (*Order, error) {
	if len(data) > MaxOrderBytes {
		return nil, tooLarge(data)
	}
	var o Order
	readable, err := strictjson.DecodeForValidation(data, "", &o)
	if readable && complete != nil {
		complete(&o)
	}
	if err == nil {
		return &o, o.Validate()
	}
	var decoding strictjson.FieldErrors
	if readable && errors.As(err, &decoding) {
		err = decoding.Join(o.violations())
	}
	return nil, capFieldErrors(err)
}

// tooLarge is the problem of an order longer than MaxOrderBytes.
func tooLarge(data []byte) strictjson.FieldErrors {
	return strictjson.FieldErrors{{Path: "(root)", Message: fmt.Sprintf("order is %d bytes, more than the limit of %d", len(data), MaxOrderBytes)}}
}

// MaxFieldErrors bounds the violations reported for one order: a hostile document can break a rule
// in every other byte, and its dead letter and result should stay small.
const MaxFieldErrors = 50

// capFieldErrors keeps the first MaxFieldErrors violations of err and says how many it dropped.
func capFieldErrors(err error) error {
	var fields strictjson.FieldErrors
	if !errors.As(err, &fields) || len(fields) <= MaxFieldErrors {
		return err
	}
	out := append(strictjson.FieldErrors{}, fields[:MaxFieldErrors]...)
	out.Add("(root)", "and %d more problems", len(fields)-MaxFieldErrors)
	return out
}

// Validate checks the whole order and returns every violation at once, or nil.
func (o *Order) Validate() error { return capFieldErrors(o.violations().Err()) }

// violations is every rule the order breaks, uncapped.
func (o *Order) violations() strictjson.FieldErrors {
	var errs strictjson.FieldErrors
	if len(o.IdempotencyKey) > MaxKeyBytes {
		errs.Add("idempotency_key", "must be at most %d bytes, got %d", MaxKeyBytes, len(o.IdempotencyKey))
	}
	if !utf8.ValidString(o.IdempotencyKey) {
		errs.Add("idempotency_key", "must be valid UTF-8")
	}
	if o.ProjectID == "" {
		errs.Add("project_id", "is required (set it in the order, with --project-id or with CPH_PROJECT_ID)")
	}
	if o.Request == nil {
		errs.Add("request", "is required")
	} else {
		errs = append(errs, o.Request.Validate()...)
	}
	return errs
}

// Key returns the idempotency key: the given one, or "sha256:" and the order's Fingerprint, so
// that the same purchase submitted twice, however it is spelt, buys once.
func (o *Order) Key() string {
	if o.IdempotencyKey != "" {
		return o.IdempotencyKey
	}
	return derivedKey(o.Fingerprint())
}

// keyAndFingerprint is Key and Fingerprint with the canonical form computed once, for the places
// (the handler, the producer) that need both for every order.
func (o *Order) keyAndFingerprint() (key, fingerprint string) {
	fingerprint = o.Fingerprint()
	if o.IdempotencyKey != "" {
		return o.IdempotencyKey, fingerprint
	}
	return derivedKey(fingerprint), fingerprint
}

// derivedKey is the idempotency key of an order given without one.
func derivedKey(fingerprint string) string { return "sha256:" + fingerprint }

// Fingerprint identifies the purchase the order makes: the hex SHA-256 of the project id, a NUL
// and the request's canonical JSON (cph.PurchaseRequest.CanonicalJSON), in which every spelling of
// the same purchase (a default written out or left out, "TRUE" or "true") is the same. The
// idempotency key and the metadata are not part of it: stored with a key, it tells the same key
// reused for a different purchase from a resubmission of the same one. The canonical form drops
// defaults rather than filling them in, so a request written without them keeps the fingerprint,
// and the derived key, it had before the canonical form existed. The request is not changed.
func (o *Order) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(o.ProjectID))
	h.Write([]byte{0})
	h.Write(o.Request.CanonicalJSON())
	return hex.EncodeToString(h.Sum(nil))
}

// TaskID is the asynq task id of the order with idempotency key key. Deriving it from the key lets
// asynq itself refuse a second task for the same purchase while the first one exists.
func TaskID(key string) string { return "cph-" + digest(key) }
