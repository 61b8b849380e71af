// Package strictjson decodes JSON documents strictly and says what is wrong with them, all of it
// at once, each problem at its JSON path (request.ports[1].listen_port). It refuses what
// encoding/json lets through (unknown fields, keys that differ from a field's name in case only,
// keys given twice, invalid UTF-8, trailing data) and reports values of the wrong JSON type or out
// of range with a path rather than as json.Unmarshal's first error. Problems are FieldErrors, the
// type in which validation code built on this package reports its own rules, so that a document's
// decoding and validation errors read alike and can be joined.
//
// It knows nothing of any particular document: internal/cph builds its purchase request on it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unicode/utf8"
)

// Decode decodes the JSON document data into v, a non-nil pointer, like json.Unmarshal,
// but refuses what json.Unmarshal lets through: unknown fields (json.Unmarshal drops them, and
// with them a misspelt "is_auto_pay"), keys that differ from a field's JSON name in case only,
// keys given twice (json.Unmarshal keeps the last), invalid UTF-8 (it substitutes U+FFFD) and
// anything after the value. A document that is not exactly what its author meant must not be
// acted on. Values of the wrong JSON type, and integers written as 1.5 or 1e2 or outside the
// type's range, are refused by both, but json.Unmarshal reports only the first, without a path.
//
// Problems come back as FieldErrors, all of them, in document order, each with the JSON path
// of the offending value (request.ports[1].listen_port) under prefix; an error about the whole
// document has the path prefix, or "(root)" when prefix is empty. A byte position counts from 1
// and names the offending byte; input that ends too early is reported at its length.
// v is written only when there is no problem. null is accepted for any field and leaves it at
// its zero value, as with json.Unmarshal; whether a field is required is for validation to say.
//
// A v that is not a non-nil pointer is a programming error, reported as *json.InvalidUnmarshalError.
// Decode is safe for concurrent use.
func Decode(data []byte, prefix string, v any) error {
	_, err := decode(data, prefix, v)
	return err
}

// DecodeForValidation is Decode for a document whose rules are checked after it is decoded, so
// that every broken rule is reported at once: a value of the wrong type and an unknown field
// together with a required field left out. It reports the same problems as Decode, and when the
// document has problems but is JSON all the same, it fills v anyway with what json.Unmarshal
// makes of it (values of the wrong type left at zero, unknown fields dropped, the last of keys
// given twice kept). readable reports whether v holds the document, so that the caller may check
// its rules and add their violations with FieldErrors.Join; it is false when the document is not
// one JSON value (malformed, invalid UTF-8, trailing data), and v is then left alone.
func DecodeForValidation(data []byte, prefix string, v any) (readable bool, err error) {
	value, err := decode(data, prefix, v)
	if value == nil {
		return false, err
	}
	if err != nil {
		// Decode's checks found what is wrong; this reading only fills v for validation.
		_ = json.Unmarshal(value, v)
	}
	return true, err
}

// decode is Decode, returning also the document's JSON value, or nil when data is not one JSON
// value that could be read (malformed, invalid UTF-8, trailing data, or a v that is no pointer).
func decode(data []byte, prefix string, v any) (value []byte, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, &json.InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	root := pathOrRoot(prefix)

	value, rest, err := splitValue(data)
	if err != nil {
		return nil, FieldErrors{{Path: root, Message: err.Error()}}
	}
	if i := invalidUTF8(data); i >= 0 {
		return nil, FieldErrors{{Path: root, Message: fmt.Sprintf("malformed JSON at byte %d: invalid UTF-8", i+1)}}
	}

	w := walker{dec: &tokens{data: value}}
	tok, err := w.token()
	if err == nil {
		err = w.value(tok, rv.Type(), prefix)
	}
	if err != nil {
		// The syntax check passed, so the token stream cannot break; if it does, say so rather
		// than report a half-checked document as fine.
		return nil, FieldErrors{{Path: root, Message: "malformed JSON: " + err.Error()}}
	}
	if rest >= 0 {
		w.errs.Add(root, "malformed JSON at byte %d: trailing data after the value", rest+1)
		return nil, w.errs
	}
	if len(w.errs) > 0 {
		return value, w.errs
	}
	if err := json.Unmarshal(value, v); err != nil {
		// The checks above mirror json.Unmarshal; this catches what they do not model (a custom
		// UnmarshalJSON refusing its input, say) so that it is still reported as a field error.
		return value, FieldErrors{{Path: root, Message: "cannot decode: " + err.Error()}}
	}
	return value, nil
}

// splitValue checks the syntax of the first JSON value in data (depth limited by encoding/json,
// so that hostile nesting is refused here without recursion) and returns it, with the offset of
// the first non-space byte after it, or -1 when there is none.
func splitValue(data []byte) (value []byte, rest int, err error) {
	if json.Valid(data) { // the usual case, in one pass that allocates nothing
		return data, -1, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, 0, fmt.Errorf("malformed JSON at byte %d: %s", se.Offset, se.Error())
		case errors.Is(err, io.EOF):
			return nil, 0, fmt.Errorf("malformed JSON at byte %d: no value", len(data))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, 0, fmt.Errorf("malformed JSON at byte %d: unexpected end of input", len(data))
		default:
			return nil, 0, fmt.Errorf("malformed JSON: %w", err)
		}
	}
	end := int(dec.InputOffset())
	rest = -1
	if after := bytes.TrimLeft(data[end:], " \t\n\r"); len(after) > 0 {
		rest = len(data) - len(after)
	}
	return data[:end], rest, nil
}

// invalidUTF8 returns the offset of the first byte of data that is not UTF-8, or -1. JSON text
// is UTF-8 (RFC 8259 §8.1); encoding/json would silently turn such bytes into U+FFFD, so that
// the value checked would differ from the value sent.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
