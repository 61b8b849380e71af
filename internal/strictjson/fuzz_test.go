package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzDoc is what FuzzDecode decodes besides request: the shapes request lacks (embedded structs,
// a name clash, maps with integer keys, arrays, `,string` fields, []byte, json.Number, any,
// json.RawMessage, sized numbers), but no type with a decoder of its own, so that every document
// json.Unmarshal refuses must be refused by Decode's own checks, with a path.
type fuzzDoc struct {
	GenericEmbedded
	Clash   int                     `json:"clash"`
	I8      int8                    `json:"i8"`
	U16     uint16                  `json:"u16"`
	U64     uint64                  `json:"u64"`
	F32     float32                 `json:"f32"`
	B       bool                    `json:"b"`
	PP      **int                   `json:"pp"`
	In      *genericInner           `json:"in"`
	List    []genericInner          `json:"list"`
	Arr     [2]int                  `json:"arr"`
	Meta    map[string]string       `json:"meta"`
	IntKeys map[int8]bool           `json:"int_keys"`
	UKeys   map[uint]map[string]int `json:"u_keys"`
	Raw     json.RawMessage         `json:"raw"`
	Any     any                     `json:"any"`
	Bytes   []byte                  `json:"bytes"`
	Num     json.Number             `json:"num"`
	Quoted  int                     `json:"quoted,string"`
	QBool   bool                    `json:"qbool,string"`
	QStr    string                  `json:"qstr,string"`
	QPtr    *uint8                  `json:"qptr,string"`
	QFloat  float64                 `json:"qfloat,string"`
	NoTag   string
}

// FuzzDecode feeds arbitrary bytes to Decode with two target types. It must not panic; an error
// must be a non-empty FieldErrors of one printable line each, must leave v alone and must come
// from Decode's own checks (never "cannot decode", which would mean json.Unmarshal refused what
// the checks let through); every error json.Decoder with DisallowUnknownFields finds must be an
// error here too; a second decode must say the same (the field cache changes nothing); a decoded
// value must re-encode to a document that decodes again to the same encoding. The seeds below and
// those in testdata/fuzz run in every plain `go test`.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		apiExample,
		`{}`,
		`null`,
		`{"count": 1.5, "count": "x", "foo": [1, {"bar": null}]}`,
		`{"ports": [{"name": "ADB", "listen_port": 9999}, {"x": 1}], "nics": []}`,
		`{"server_name": "\ud800", "image_id": "\u00e9"}`,
		`{"count": 99999999999999999999} x`,
		"{\"server_name\": \"\xff\"}",
		`{"x": ` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`,
		`{"e": "e", "clash": 1, "i8": -128, "u16": 65535, "u64": 18446744073709551615, "f32": 1.5e38, "b": true,
			"pp": 3, "in": {"n": 1}, "list": [{"n": 2}], "arr": [1, 2, 3], "meta": {"k": "v"}, "int_keys": {"-1": true},
			"u_keys": {"7": {"a": 1}}, "raw": {"anything": [1, "x", null]}, "any": [{"x": 1}], "bytes": "aGk=",
			"num": 1.5e3, "quoted": "12", "qbool": "true", "qstr": "\"s\"", "qptr": "255", "qfloat": "1e3", "NoTag": "n"}`,
		`{"Clash": 1, "E": "x", "i8": 128, "int_keys": {"x": true, "300": false}, "u_keys": {"-1": null}, "bytes": "!!"}`,
		`{"quoted": "1.5", "qbool": "yes", "qstr": "s", "qptr": "256", "qfloat": "NaN", "num": "12"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOne[request](t, data, "request")
		fuzzOne[fuzzDoc](t, data, "")
	})
}

func fuzzOne[T any](t *testing.T, data []byte, prefix string) {
	var v T
	err := Decode(data, prefix, &v)
	var again T
	if err2 := Decode(data, prefix, &again); !reflect.DeepEqual(errLines(err), errLines(err2)) {
		t.Fatalf("%T: a second decode differs:\n%v\nthen\n%v", v, err, err2)
	}
	std := json.NewDecoder(bytes.NewReader(data))
	std.DisallowUnknownFields()
	var sv T
	if stdErr := std.Decode(&sv); stdErr != nil && err == nil {
		t.Fatalf("%T: json.Decoder refuses the document (%v), Decode accepts it", v, stdErr)
	}
	if err != nil {
		checkFieldErrors(t, err)
		if !reflect.ValueOf(v).IsZero() {
			t.Fatalf("%T: v was written despite the error: %+v", v, v)
		}
		return
	}

	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T: re-marshal: %v", v, err)
	}
	var v2 T
	if err := Decode(out, prefix, &v2); err != nil {
		t.Fatalf("%T: the re-marshalled value does not decode: %v\n%s", v, err, out)
	}
	if out2, _ := json.Marshal(v2); !bytes.Equal(out, out2) {
		t.Fatalf("%T: round trip changed the value:\n%s\n%s", v, out, out2)
	}
}

// checkFieldErrors checks that err is a non-empty FieldErrors whose every entry has a path and
// a message, each valid UTF-8 on one line, and none of them a refusal by json.Unmarshal that the
// checks did not foresee.
func checkFieldErrors(t *testing.T, err error) {
	t.Helper()
	var es FieldErrors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error is not a non-empty FieldErrors: %#v", err)
	}
	for _, e := range es {
		for _, s := range []string{e.Path, e.Message} {
			if s == "" || strings.ContainsAny(s, "\n\r") || !utf8.ValidString(s) {
				t.Fatalf("malformed field error %q", e.String())
			}
		}
		if strings.HasPrefix(e.Message, "cannot decode") || strings.HasPrefix(e.Message, "malformed JSON: ") {
			t.Fatalf("json.Unmarshal or the token stream refused what the checks let through: %s", e)
		}
	}
}
