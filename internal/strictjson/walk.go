package strictjson

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
)

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	numberType          = reflect.TypeFor[json.Number]()
)

// walker checks a syntactically valid JSON value, token by token, against the Go type it is
// meant to decode into, and collects every mismatch with its JSON path. It recurses only along
// the Go type; values it does not check (unknown fields, json.RawMessage, interfaces) are
// skipped iteratively, so deeply nested input cannot exhaust the stack.
type walker struct {
	dec  *tokens
	errs FieldErrors
}

// errTokens reports a token stream that breaks off; it cannot happen on input that passed the
// syntax check, but the walker must not trust that blindly.
var errTokens = errors.New("unexpected token")

// token reads the next token.
func (w *walker) token() (json.Token, error) {
	return w.dec.Token()
}

// value checks the JSON value that starts with tok against type t, at path.
func (w *walker) value(tok json.Token, t reflect.Type, path string) error {
	if tok == nil {
		// null leaves a field at its zero value, as with encoding/json; required fields are
		// Validate's business, where "missing" and "null" are the same mistake.
		return w.skip(tok)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pt := reflect.PointerTo(t)
	switch {
	case t.Kind() == reflect.Interface, pt.Implements(jsonUnmarshalerType):
		// Any JSON value (json.RawMessage, any, custom decoders); json.Unmarshal judges the rest.
		return w.skip(tok)
	case pt.Implements(textUnmarshalerType):
		if _, ok := tok.(string); !ok {
			w.mismatch(path, "a string", tok)
			return w.skip(tok)
		}
		return nil
	case t == numberType:
		switch tok := tok.(type) {
		case json.Number:
			return nil
		case string:
			// encoding/json takes a json.Number from a string only when it holds a number literal.
			if !validNumberLiteral(tok) {
				w.add(path, "must be a number or a string holding one, got %s", Quote(tok))
			}
			return nil
		}
		w.mismatch(path, "a number", tok)
		return w.skip(tok)
	}

	switch t.Kind() {
	case reflect.Struct:
		fields := cachedFields(t)
		return w.object(tok, path, func(key string) (jsonField, bool) {
			f, ok := fields[key]
			return f, ok
		})
	case reflect.Map:
		return w.object(tok, path, func(key string) (jsonField, bool) {
			if msg := mapKeyProblem(t.Key(), key); msg != "" {
				w.add(FieldPath(path, key), "%s", msg)
			}
			return jsonField{typ: t.Elem()}, true
		})
	case reflect.Slice:
		if _, isString := tok.(string); isString && t.Elem().Kind() == reflect.Uint8 {
			return w.bytes(tok, path)
		}
		return w.array(tok, t.Elem(), path)
	case reflect.Array:
		return w.array(tok, t.Elem(), path)
	case reflect.String:
		if _, ok := tok.(string); !ok {
			w.mismatch(path, "a string", tok)
			return w.skip(tok)
		}
		return nil
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			w.mismatch(path, "a boolean", tok)
			return w.skip(tok)
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			w.mismatch(path, numberKindName(t.Kind()), tok)
			return w.skip(tok)
		}
		if msg := numberProblem(t, string(n)); msg != "" {
			w.add(path, "%s", msg)
		}
		return nil
	default:
		// Channels, functions, complex numbers: json.Unmarshal refuses them with its own error.
		return w.skip(tok)
	}
}

// quotedScalar checks a field with the `,string` option: a JSON string holding the scalar.
func (w *walker) quotedScalar(tok json.Token, t reflect.Type, path string) error {
	if tok == nil {
		return nil
	}
	s, ok := tok.(string)
	if !ok {
		w.mismatch(path, "a string holding "+scalarName(t), tok)
		return w.skip(tok)
	}
	if s == "null" {
		return nil // encoding/json reads a quoted null as null
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := false
	switch t.Kind() {
	case reflect.String:
		var inner string
		bad = json.Unmarshal([]byte(s), &inner) != nil
	case reflect.Bool:
		bad = s != "true" && s != "false"
	default:
		bad = !validNumberLiteral(s) || numberProblem(t, s) != ""
	}
	if bad {
		w.add(path, "must be a string holding %s, got %s", scalarName(t), Quote(s))
	}
	return nil
}

// object checks a JSON object whose keys field resolves; unknown keys are errors, and so are
// keys given twice, because a document whose fields say two things is suspicious.
func (w *walker) object(tok json.Token, path string, field func(key string) (jsonField, bool)) error {
	if tok != json.Delim('{') {
		w.mismatch(path, "an object", tok)
		return w.skip(tok)
	}
	var seen keySet
	for w.dec.More() {
		kt, err := w.token()
		if err != nil {
			return err
		}
		key, ok := kt.(string)
		if !ok {
			return errTokens
		}
		vt, err := w.token()
		if err != nil {
			return err
		}
		p := FieldPath(path, key)
		if !seen.add(key) {
			w.add(p, "duplicate field")
		}
		f, ok := field(key)
		switch {
		case !ok:
			w.add(p, "unknown field")
			err = w.skip(vt)
		case f.asString:
			err = w.quotedScalar(vt, f.typ, p)
		default:
			err = w.value(vt, f.typ, p)
		}
		if err != nil {
			return err
		}
	}
	return w.closing(json.Delim('}'))
}

// keySet is the keys seen in one object: a list while it is short, as most are (a map for each
// object was a fifth of the walk), and a map beyond that, so that an object of a million keys
// costs no more than a map would.
type keySet struct {
	list []string
	set  map[string]bool
}

// add adds key, and reports false when it was there already.
func (s *keySet) add(key string) bool {
	if s.set != nil {
		if s.set[key] {
			return false
		}
		s.set[key] = true
		return true
	}
	for _, k := range s.list {
		if k == key {
			return false
		}
	}
	if len(s.list) < 16 {
		s.list = append(s.list, key)
		return true
	}
	s.set = make(map[string]bool, 2*len(s.list))
	for _, k := range s.list {
		s.set[k] = true
	}
	s.set[key] = true
	return true
}

// array checks each element of a JSON array against elem.
func (w *walker) array(tok json.Token, elem reflect.Type, path string) error {
	if tok != json.Delim('[') {
		w.mismatch(path, "an array", tok)
		return w.skip(tok)
	}
	for i := 0; w.dec.More(); i++ {
		vt, err := w.token()
		if err != nil {
			return err
		}
		if err := w.value(vt, elem, IndexPath(path, i)); err != nil {
			return err
		}
	}
	return w.closing(json.Delim(']'))
}

// bytes checks a string given for a []byte field, which encoding/json reads as base64.
func (w *walker) bytes(tok json.Token, path string) error {
	s := tok.(string)
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		w.add(path, "must be a base64 string, got %s", Quote(s))
	}
	return nil
}

func (w *walker) closing(want json.Delim) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	if tok != want {
		return errTokens
	}
	return nil
}

// skip consumes the rest of the value that starts with tok, without recursion.
func (w *walker) skip(tok json.Token) error {
	if d, ok := tok.(json.Delim); !ok || (d != '{' && d != '[') {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := w.token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// add records a problem at path; the empty path, of a document decoded without a prefix, is
// written as (root).
func (w *walker) add(path, format string, args ...any) {
	w.errs.Add(pathOrRoot(path), format, args...)
}

// mismatch records a value of the wrong JSON type, as "must be an integer, got string".
func (w *walker) mismatch(path, want string, tok json.Token) {
	w.add(path, "must be %s, got %s", want, jsonKind(tok))
}

// jsonKind names the JSON type of a value by its first token.
func jsonKind(tok json.Token) string {
	switch tok := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case json.Delim:
		if tok == '[' {
			return "array"
		}
		return "object"
	}
	return "unknown"
}

func numberKindName(k reflect.Kind) string {
	switch k {
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	}
	return "an integer"
}

func scalarName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Bool:
		return "a boolean"
	}
	return numberKindName(t.Kind())
}

// numberProblem says why the JSON number literal s does not fit numeric type t, or "" when it
// does. Integers must be written as integers (json.Unmarshal refuses 1.0 and 1e2 for an int) and
// lie in the type's range; the value in the message is shortened, as a number can be huge.
func numberProblem(t reflect.Type, s string) string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(s, t.Bits()); err != nil {
			return "must be a number within float" + strconv.Itoa(t.Bits()) + " range, got " + shorten(s)
		}
		return ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if strings.ContainsAny(s, ".eE") {
			return "must be an integer, got " + shorten(s)
		}
		if _, err := strconv.ParseInt(s, 10, t.Bits()); err != nil {
			lo := int64(-1) << (t.Bits() - 1)
			return "must be an integer between " + strconv.FormatInt(lo, 10) + " and " +
				strconv.FormatInt(-(lo+1), 10) + ", got " + shorten(s)
		}
		return ""
	default: // unsigned
		if strings.ContainsAny(s, "-.eE") {
			return "must be a non-negative integer, got " + shorten(s)
		}
		if _, err := strconv.ParseUint(s, 10, t.Bits()); err != nil {
			hi := uint64(1)<<(t.Bits()-1)<<1 - 1
			return "must be an integer between 0 and " + strconv.FormatUint(hi, 10) + ", got " + shorten(s)
		}
		return ""
	}
}

// mapKeyProblem says why key cannot be a key of type k, or "" when it can. Only integer keys
// are checked here: string keys take anything, and keys of other types (a TextUnmarshaler, or
// a type encoding/json cannot use as a key) are left to json.Unmarshal.
func mapKeyProblem(k reflect.Type, key string) string {
	if reflect.PointerTo(k).Implements(textUnmarshalerType) {
		return ""
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if numberProblem(k, key) != "" {
			return "key " + Quote(key) + " must be " + numberKindName(k.Kind())
		}
	}
	return ""
}

// validNumberLiteral reports whether s is a JSON number, as encoding/json requires of the text
// inside a `,string` number.
func validNumberLiteral(s string) bool {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return false
	}
	n, ok := v.(json.Number)
	return ok && string(n) == s
}
