package strictjson

import (
	"fmt"
	"strings"
)

// FieldError is one problem with a document: the JSON path of the value, in the form
// request.ports[1].listen_port, and a message that states the rule it breaks. Decode reports
// what is wrong with a document's syntax and types as FieldErrors; validation code reports the
// rules of its values in the same type, so that a caller handles both alike.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String is "path: message", one line of FieldErrors.Error.
func (e FieldError) String() string { return e.Path + ": " + e.Message }

// FieldErrors is every problem of one document, reported at once so that a user fixes a file
// in one pass instead of one error a run. It is an error; use Err to return one that may be empty.
type FieldErrors []FieldError

// Error prints one "path: message" a line, in order.
func (es FieldErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.String()
	}
	return strings.Join(lines, "\n")
}

// Add records a violation at path.
func (es *FieldErrors) Add(path, format string, args ...any) {
	*es = append(*es, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns es as an error, or nil when there is nothing in it.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Join returns es followed by those of more that are not about a value es reports already: at the
// same path, or inside it (request.ports[0].name is inside request.ports[0] and request.ports). So
// a document's decoding problems joined with its validation's read as one pass over it, with a
// value of the wrong type reported once, as such, and not again as missing. A problem at (root),
// the document itself, hides every other.
func (es FieldErrors) Join(more FieldErrors) FieldErrors {
	out := append(FieldErrors{}, es...)
	for _, m := range more {
		if !es.cover(m.Path) {
			out = append(out, m)
		}
	}
	return out
}

// cover reports whether one of es is at path or at a value that contains it.
func (es FieldErrors) cover(path string) bool {
	for _, e := range es {
		if e.Path == rootPath {
			return true
		}
		if !strings.HasPrefix(path, e.Path) {
			continue
		}
		if rest := path[len(e.Path):]; rest == "" || rest[0] == '.' || rest[0] == '[' {
			return true
		}
	}
	return false
}
