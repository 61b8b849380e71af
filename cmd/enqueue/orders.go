package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"cphpurchase/internal/strictjson"
	"cphpurchase/internal/tasks"
)

// layout is how a file holds its orders.
type layout int

const (
	oneDocument layout = iota // one order, which may span many lines (submit)
	onePerLine                // JSON Lines: one order a line, blank lines skipped (bulk)
	detect                    // JSON Lines for .jsonl and .ndjson files, or when the file is several documents (validate)
)

// orderDefaults fills in what the command line supplies for an order, before validation.
type orderDefaults struct {
	// key replaces the order's idempotency_key (submit --key).
	key string
	// projectID fills project_id only when the order has none: the author of an order that names
	// its project meant that project.
	projectID string
}

// parsedOrder is one order of a file: valid (err nil) or not (err says why, a
// strictjson.FieldErrors for every problem of decoding and validation).
type parsedOrder struct {
	line  int // 1-based line for JSON Lines; 0 for a whole-file document
	order *tasks.Order
	err   error
}

// problem describes what is wrong with the order, one "path: message" a line, each prefixed with
// where the order is: "orders.jsonl: line 3: request.count: must be between 1 and 10, got 11".
func (p parsedOrder) problem(source string) error {
	where := source
	if p.line > 0 {
		where = fmt.Sprintf("%s: line %d", source, p.line)
	}
	var fes strictjson.FieldErrors
	if !errors.As(p.err, &fes) {
		return fmt.Errorf("%s: %w", where, p.err)
	}
	errs := make([]error, len(fes))
	for i, fe := range fes {
		errs[i] = fmt.Errorf("%s: %s", where, fe)
	}
	return errors.Join(errs...)
}

// readOrders reads the orders of name ("-" is standard input) and decodes, completes and validates
// each one. It is the one way submit, bulk and validate read orders, so that all three accept and
// refuse the same. An error is about the file itself (missing, unreadable): invalid input.
func readOrders(name string, stdin io.Reader, l layout, d orderDefaults) ([]parsedOrder, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = readAtMost(stdin, l)
		if err != nil {
			err = fmt.Errorf("read stdin: %w", err)
		}
	} else {
		var f *os.File
		if f, err = os.Open(name); err == nil { // its errors name the file
			data, err = readAtMost(f, l)
			f.Close()
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if err != nil {
		return nil, invalidInput(err)
	}
	if l == detect {
		l = detectLayout(name, data)
	}
	if l == oneDocument {
		return []parsedOrder{parseOrder(0, data, d)}, nil
	}
	var out []parsedOrder
	for i, line := range bytes.Split(data, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, parseOrder(i+1, line, d))
		}
	}
	return out, nil
}

// readAtMost reads r whole; one order is read only up to its size limit, so that a wrong file
// given to submit costs no more memory than an order may have.
func readAtMost(r io.Reader, l layout) ([]byte, error) {
	if l != oneDocument {
		return io.ReadAll(r)
	}
	data, err := io.ReadAll(io.LimitReader(r, tasks.MaxOrderBytes+1))
	if err == nil && len(data) > tasks.MaxOrderBytes {
		err = fmt.Errorf("an order is at most %d bytes, and this is more", tasks.MaxOrderBytes)
	}
	return data, err
}

// parseOrder decodes one order strictly, applies the command line's defaults and validates it.
func parseOrder(line int, data []byte, d orderDefaults) parsedOrder {
	o, err := tasks.ParseOrder(data, func(o *tasks.Order) {
		if d.key != "" {
			o.IdempotencyKey = d.key
		}
		if o.ProjectID == "" {
			o.ProjectID = d.projectID
		}
	})
	return parsedOrder{line: line, order: o, err: err}
}

// detectLayout tells JSON Lines from one document: by the extension, or, failing that, by the
// content being several documents of which the first line is one whole.
func detectLayout(name string, data []byte) layout {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson":
		return onePerLine
	}
	if json.Valid(data) {
		return oneDocument
	}
	first, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte("\n"))
	if json.Valid(first) {
		return onePerLine
	}
	return oneDocument
}

// reportInvalid prints the problems of every invalid order on w, as cmd's errors, and returns the
// valid orders.
func reportInvalid(w io.Writer, cmd *cobra.Command, parsed []parsedOrder, source string) []*tasks.Order {
	var valid []*tasks.Order
	for _, p := range parsed {
		if p.err != nil {
			printError(w, cmd, invalidInput(p.problem(source)))
			continue
		}
		valid = append(valid, p.order)
	}
	return valid
}

// sourceName is how messages name the file of orders.
func sourceName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}
