package strictjson

import (
	"encoding/json"
	"io"
)

// tokens reads the tokens of a JSON value that has passed the syntax check, as json.Decoder's
// Token and More do with UseNumber (delimiters as json.Delim, strings, json.Number, booleans and
// nil, the ',' and ':' between them skipped), but without their per-byte state machine, which the
// check has already run: it made the walker cost more than the rest of a worker's handling of an
// order. On input that did not pass the check it answers errTokens or io.EOF, never a wrong token
// silently.
type tokens struct {
	data []byte
	pos  int
}

// skip moves past white space and the separators between tokens.
func (t *tokens) skip() {
	for t.pos < len(t.data) {
		switch t.data[t.pos] {
		case ' ', '\t', '\n', '\r', ',', ':':
			t.pos++
		default:
			return
		}
	}
}

// More reports whether the current array or object has another element.
func (t *tokens) More() bool {
	t.skip()
	return t.pos < len(t.data) && t.data[t.pos] != ']' && t.data[t.pos] != '}'
}

// Token returns the next token.
func (t *tokens) Token() (json.Token, error) {
	t.skip()
	if t.pos >= len(t.data) {
		return nil, io.EOF
	}
	switch c := t.data[t.pos]; c {
	case '{', '}', '[', ']':
		t.pos++
		return json.Delim(c), nil
	case '"':
		return t.str()
	case 't':
		return t.literal("true", true)
	case 'f':
		return t.literal("false", false)
	case 'n':
		return t.literal("null", nil)
	}
	start := t.pos
	for t.pos < len(t.data) && isNumberByte(t.data[t.pos]) {
		t.pos++
	}
	if t.pos == start {
		return nil, errTokens
	}
	return json.Number(t.data[start:t.pos]), nil
}

// str reads a string; one with escapes is unquoted by encoding/json, so that it reads exactly
// as json.Unmarshal will read it.
func (t *tokens) str() (json.Token, error) {
	start, escaped := t.pos, false
	for i := start + 1; i < len(t.data); i++ {
		switch t.data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			t.pos = i + 1
			if !escaped {
				return string(t.data[start+1 : i]), nil
			}
			var s string
			if err := json.Unmarshal(t.data[start:t.pos], &s); err != nil {
				return nil, errTokens
			}
			return s, nil
		}
	}
	return nil, errTokens
}

func (t *tokens) literal(word string, v json.Token) (json.Token, error) {
	if len(t.data)-t.pos < len(word) || string(t.data[t.pos:t.pos+len(word)]) != word {
		return nil, errTokens
	}
	t.pos += len(word)
	return v, nil
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
