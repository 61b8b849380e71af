package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cphpurchase/internal/tasks"
)

// Output formats of -o, as kubectl names them.
const (
	outputJSON  = "json"
	outputTable = "table"
)

// outputFlag adds -o/--output to a listing or status command and returns where its value lands.
// Without it, stdout decides: a table for people on a terminal, JSON lines for scripts and pipes,
// so that a script keeps the output it always had.
func outputFlag(cmd *cobra.Command) *string {
	var format string
	cmd.Flags().StringVarP(&format, "output", "o", "", "output format: json (one object a line) or table; default: table on a terminal, json otherwise")
	return &format
}

// outputFormat resolves -o: the format given, or table when stdout is a terminal and json
// otherwise.
func (a *app) outputFormat(format string) (string, error) {
	switch format {
	case outputJSON, outputTable:
		return format, nil
	case "":
		if a.terminal(a.stdout) {
			return outputTable, nil
		}
		return outputJSON, nil
	}
	return "", usageErrorf("-o must be json or table, got %q", format)
}

// isTerminal reports whether f is a terminal: a table and a confirmation prompt are for people.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// table writes aligned columns, kubectl-style: a header in capitals, two spaces between columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row adds one line; tabs and newlines in a cell would break the columns, so they become spaces.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Join(strings.Fields(c), " ")
		if cells[i] == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// flush writes the rows so far; a table that streams (results --follow) flushes each row.
func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// maxCell bounds a free-text cell (an error message) in a table; -o json has it whole.
const maxCell = 72

// clip shortens s to maxCell characters.
func clip(s string) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= maxCell {
		return string(r)
	}
	return string(r[:maxCell-1]) + "…"
}

// when formats a time for a table: UTC, to the second; "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// resultCells is a result's outcome in a table: its status and, for a success, the order; for a
// dead letter, its class and error.
func resultCells(raw json.RawMessage) (status, detail, finished string) {
	var r tasks.Result
	if json.Unmarshal(raw, &r) != nil {
		return "", "", ""
	}
	detail = r.OrderID
	if r.Error != nil {
		detail = string(r.Error.Class) + ": " + clip(r.Error.Message)
	}
	return r.Status, detail, when(r.FinishedAt)
}

// printStatus prints `enqueue status` as a table of fields: what an operator looks at first.
func printStatus(w io.Writer, st *tasks.Status) error {
	t := newTable(w, "FIELD", "VALUE")
	t.row("task_id", st.TaskID)
	t.row("idempotency_key", st.IdempotencyKey)
	t.row("queue", st.Queue)
	t.row("state", st.State)
	t.row("retried", fmt.Sprintf("%d of %d", st.Retried, st.MaxRetry))
	t.row("last_error", clip(st.LastError))
	if st.NextRunAt != nil {
		t.row("next_run_at", when(*st.NextRunAt))
	}
	if l := st.Ledger; l != nil {
		t.row("ledger.state", string(l.State))
		t.row("ledger.purchase_calls", fmt.Sprint(l.Attempts))
		if l.Posting && l.PostStarted != nil {
			t.row("ledger.outcome_unknown", "call started "+when(*l.PostStarted))
		}
	}
	if d := st.DeadLetter; d != nil {
		t.row("dead_letter", string(d.Class)+" at "+when(d.FailedAt))
	}
	if len(st.Result) > 0 {
		status, detail, finished := resultCells(st.Result)
		t.row("result", strings.TrimSpace(status+" "+detail))
		t.row("finished_at", finished)
	}
	return t.flush()
}

// printSummary prints `enqueue queue stats` as a table of fields.
func printSummary(w io.Writer, s tasks.QueueSummary) error {
	t := newTable(w, "FIELD", "VALUE")
	t.row("queue", s.Queue)
	paused := "no"
	if s.Paused {
		paused = "yes"
	}
	t.row("paused", paused)
	if s.HeldForCredentials != "" {
		t.row("held_for_credentials", clip(s.HeldForCredentials))
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"pending", s.Pending}, {"active", s.Active}, {"scheduled", s.Scheduled}, {"retry", s.Retry}, {"archived", s.Archived}, {"completed", s.Completed}} {
		t.row(c.name, fmt.Sprint(c.n))
	}
	t.row("dead_letters", fmt.Sprint(s.DeadLetters))
	t.row("latency", (time.Duration(s.Latency * float64(time.Second))).String())
	return t.flush()
}
