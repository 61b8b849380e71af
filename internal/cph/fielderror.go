package cph

import (
	"fmt"
	"strings"
)

// FieldError is one broken rule: the JSON path of the field, in the form
// request.ports[1].listen_port, and a message that states the rule.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (e FieldError) String() string { return e.Path + ": " + e.Message }

// FieldErrors is every broken rule of one document, reported at once so that a user fixes a file
// in one pass instead of one error a run.
type FieldErrors []FieldError

// Error prints one path and message a line, as docs/contract.md shows them.
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
