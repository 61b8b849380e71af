package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes (docs/contract.md): scripts tell a failed operation from a mistake in what they asked.
const (
	exitOK     = 0
	exitFailed = 1 // the operation failed: Redis unreachable, not found, a waited-for purchase dead-lettered
	exitUsage  = 2 // invalid input or usage: bad flags, a missing file, an invalid order
)

// exitError is an error with the exit code it ends the process with. usage marks a mistake in the
// command line, whose message points at --help; an invalid order is not one.
type exitError struct {
	code  int
	usage bool
	err   error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is a mistake in the command line (exit 2, with a pointer to --help).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, usage: true, err: fmt.Errorf(format, args...)}
}

// invalidInput is input that cannot be used: a missing file, an invalid order, a bad setting (exit 2).
func invalidInput(err error) error { return &exitError{code: exitUsage, err: err} }

// failed is an operation that did not succeed (exit 1).
func failed(err error) error { return &exitError{code: exitFailed, err: err} }

// operation wraps a command's RunE so that an error without an exit code counts as a failed
// operation (exit 1). What reaches run unmarked was then made by cobra itself (see asExitError).
func operation(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			return failed(err)
		}
		return err
	}
}

// asExitError returns err with its exit code. An error without one was made by cobra itself,
// before any command ran: an unknown command or flag, a wrong number of arguments, a missing
// required flag; a usage error.
func asExitError(err error) *exitError {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	return &exitError{code: exitUsage, usage: true, err: err}
}

// printError writes err to w as "enqueue: CMD: message", one line for each line of the message,
// so that a list of validation errors reads one "path: message" a line and a script can grep them.
// A usage error points at the command's --help instead of dumping its usage.
func printError(w io.Writer, cmd *cobra.Command, err error) {
	prefix := "enqueue: "
	if cmd != nil && cmd.HasParent() {
		path := strings.Fields(cmd.CommandPath())
		prefix += strings.Join(path[1:], " ") + ": "
	}
	lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
	var ee *exitError
	if errors.As(err, &ee) && ee.usage && cmd != nil {
		lines[len(lines)-1] += fmt.Sprintf("; see '%s --help'", cmd.CommandPath())
	}
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			fmt.Fprintf(w, "%s%s\n", prefix, l)
		}
	}
}
