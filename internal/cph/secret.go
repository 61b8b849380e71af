package cph

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

// Secret holds a value that must never be printed: an X-Auth-Token, an IAM password. Every way the
// standard library prints or encodes a value — every fmt verb, encoding/json, encoding.TextMarshaler,
// log/slog — shows "[REDACTED]" (an empty secret shows as empty, so "not configured" stays visible).
// A secret that ends up in a log line, an error or a result by mistake therefore leaks nothing;
// Reveal is the one way to the value, for the code that sends it.
//
// One gap remains: fmt cannot call methods on unexported struct fields. It prints their raw value,
// and it follows an unexported pointer once when the verb does not fit a pointer (%s, %q). Keep a
// Secret, or a struct that holds one such as IAMConfig, in an exported field. The token sources of
// this package keep theirs two pointers away from any field a caller can hold, and have Format
// methods of their own.
type Secret string

// redacted is what a non-empty Secret prints as.
const redacted = "[REDACTED]"

// Reveal returns the value itself. Call it only where the value leaves the process on purpose: the
// X-Auth-Token header, the IAM request body.
func (s Secret) Reveal() string { return string(s) }

// String returns "[REDACTED]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v as quiet as %v.
func (s Secret) GoString() string { return s.String() }

// Format makes every verb (%v %s %q %x %d %#v …) print the redacted form, never the value or an
// encoding of it.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(s.String()))
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// MarshalJSON writes the redacted form, so a Secret in a JSON document (a result, a log object)
// leaks nothing.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText writes the redacted form, for encoders and flag.TextVar defaults.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText takes the value as given, so configuration can be read into a Secret (flag.TextVar,
// JSON). Marshalling it back yields "[REDACTED]", never the value.
func (s *Secret) UnmarshalText(text []byte) error {
	*s = Secret(text)
	return nil
}

// LogValue keeps slog from printing the value through reflection.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
