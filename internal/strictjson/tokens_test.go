package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzTokens checks that tokens reads every valid JSON document exactly as json.Decoder's Token
// and More do, with UseNumber: the walker's verdicts rest on it.
func FuzzTokens(f *testing.F) {
	for _, doc := range []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`,
		` { "k" : -1.5e+10 , "s" : "q\"uo\\te\u00e9\ud83d\ude00\n" } `,
		`[[],{},[{}],"",0,-0,1E2,0.5e-3]`,
		`"just a string"`, `12345`, `null`, `true`,
		`{"a":{"b":{"c":[1,[2,[3,{"d":[]}]]]}}}`,
		`{"\u0041":"\/","é":"ü"}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || !utf8.Valid(data) { // Decode refuses both before it reads a token
			return
		}
		want := json.NewDecoder(bytes.NewReader(data))
		want.UseNumber()
		got := &tokens{data: data}
		for i := 0; ; i++ {
			if w, g := want.More(), got.More(); w != g {
				t.Fatalf("token %d: More() = %v, decoder says %v", i, g, w)
			}
			wt, werr := want.Token()
			gt, gerr := got.Token()
			if errors.Is(werr, io.EOF) {
				if !errors.Is(gerr, io.EOF) {
					t.Fatalf("token %d: %v, %v after the end; want io.EOF", i, gt, gerr)
				}
				return
			}
			if werr != nil {
				t.Fatalf("decoder: %v", werr)
			}
			if gerr != nil || !reflect.DeepEqual(gt, wt) {
				t.Fatalf("token %d: %#v, %v; decoder reads %#v", i, gt, gerr, wt)
			}
		}
	})
}

// Input that did not pass the syntax check gets an error, never a made-up token.
func TestTokensRefuseWhatTheyCannotRead(t *testing.T) {
	for _, doc := range []string{`"unterminated`, `tru`, `nul`, `@`, `"bad \u00zz escape"`} {
		tk := &tokens{data: []byte(doc)}
		if tok, err := tk.Token(); err == nil {
			t.Errorf("%s: %#v; want an error", doc, tok)
		}
	}
}

// keySet finds a key given twice whether the object is short (a list) or long (a map), and
// whichever of the two the first one went into.
func TestKeySetFindsEveryRepeat(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 40} {
		var s keySet
		for i := range n {
			if !s.add(fmt.Sprint("k", i)) {
				t.Fatalf("n=%d: k%d reported as a repeat", n, i)
			}
		}
		for _, i := range []int{0, n / 2, n - 1} {
			if s.add(fmt.Sprint("k", i)) {
				t.Errorf("n=%d: the repeat of k%d went unseen", n, i)
			}
		}
		if !s.add("new") {
			t.Errorf("n=%d: a new key reported as a repeat", n)
		}
	}
}
