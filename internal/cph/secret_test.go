package cph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "s3cr3t-v4lue"
	s := Secret(value)
	type holder struct {
		Token Secret `json:"token"`
	}
	h := holder{Token: s}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(s, h), s.String(), s.GoString())
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js))
	txt, _ := s.MarshalText()
	outs = append(outs, string(txt))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", s, "holder", h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", s, "holder", h)
	outs = append(outs, buf.String())

	hexValue := fmt.Sprintf("%x", value)
	for _, out := range outs {
		if strings.Contains(out, value) || strings.Contains(out, hexValue) {
			t.Errorf("secret printed: %q", out)
		}
	}
	if got := fmt.Sprintf("%v|%s|%q|%x|%#v", s, s, s, s, s); got != `[REDACTED]|[REDACTED]|"[REDACTED]"|[REDACTED]|[REDACTED]` {
		t.Errorf("verbs print %s", got)
	}
	if string(js) != `{"token":"[REDACTED]"}` {
		t.Errorf("json = %s", js)
	}
	if s.Reveal() != value {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestSecretEmptyPrintsEmpty(t *testing.T) {
	var s Secret
	if got := fmt.Sprintf("%v|%s|%#v|%q", s, s, s, s); got != `|||""` {
		t.Errorf("empty secret prints %s", got)
	}
	js, _ := json.Marshal(s)
	if string(js) != `""` {
		t.Errorf("empty secret json = %s", js)
	}
}

func TestSecretUnmarshalText(t *testing.T) {
	var h struct {
		Password Secret `json:"password"`
	}
	if err := json.Unmarshal([]byte(`{"password":"pw"}`), &h); err != nil {
		t.Fatal(err)
	}
	if h.Password.Reveal() != "pw" {
		t.Errorf("got %q", h.Password.Reveal())
	}
}
