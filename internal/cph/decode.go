package cph

import "cphpurchase/internal/strictjson"

// DecodePurchaseRequest decodes a purchase request body strictly (strictjson.Decode: unknown
// fields, wrong types, duplicate keys, invalid UTF-8 and malformed JSON are refused), with error
// paths under "request." as docs/contract.md shows them. Its errors are strictjson.FieldErrors. It
// does not validate the values; call Validate for that.
func DecodePurchaseRequest(data []byte) (*PurchaseRequest, error) {
	var r PurchaseRequest
	if err := strictjson.Decode(data, "request", &r); err != nil {
		return nil, err
	}
	return &r, nil
}
