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
