package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cphpurchase/internal/tasks"
)

// defaultConcurrency is how many enqueues bulk keeps in flight: each is a few Redis round trips,
// so a few dozen hide the latency without crowding a shared Redis.
const defaultConcurrency = 32

const bulkLong = `Validate a file of purchase orders, one JSON order a line (JSON Lines; blank lines are
skipped), and put them on the queue.

Every line is validated before anything is enqueued. If any is invalid, each problem is reported
on stderr as "FILE: line N: path: message" and nothing is enqueued (exit 2), unless
--skip-invalid, which enqueues the valid lines and exits 0.

An order whose key was submitted before, in an earlier run or on an earlier line of the same
file, is a duplicate: it is not enqueued again. So a run can safely be repeated, and a run in
which every line is a duplicate exits 0.

A key submitted before with a different request is a conflict: one key names one purchase. Like
an invalid line, a conflict stops the whole run before anything is enqueued (exit 2), unless
--skip-invalid, which enqueues the other lines. (A conflict with an order that is queued but not
yet taken by a worker is found as it is enqueued, and counted, not enqueued.)

--batch NAME records every key enqueued (or found a duplicate) as a member of the batch NAME, before
enqueueing, for 'enqueue batch status' and 'enqueue batch wait'. Running the same file again
under the same name adds nothing: each key counts once.

Prints {"total","enqueued","duplicates","conflicts","invalid"}. A progress bar is drawn on stderr when it is
a terminal.`

const bulkExample = `  # Enqueue a batch; nothing is enqueued if any line is invalid
  enqueue bulk -f orders.jsonl

  # Enqueue the valid lines, report the others
  enqueue bulk -f orders.jsonl --skip-invalid

  # From a pipe, for a given project
  jq -c '.orders[]' batch.json | enqueue bulk -f - --project-id 0b1c2d3e4f`

// noOrders is the mistake of a file with no order in it (empty, or blank lines only): a run that
// did nothing must not look like one that did everything (exit 2).
func noOrders(source, verb string) error {
	return invalidInput(fmt.Errorf("%s has no orders (it is empty, or blank lines only): nothing to %s", source, verb))
}

// bulkSummary is what bulk prints.
type bulkSummary struct {
	Total      int `json:"total"`
	Enqueued   int `json:"enqueued"`
	Duplicates int `json:"duplicates"`
	Conflicts  int `json:"conflicts"`
	Invalid    int `json:"invalid"`
}

func (a *app) bulkCmd() *cobra.Command {
	var (
		file        string
		skipInvalid bool
		concurrency int
		batch       string
	)
	cmd := &cobra.Command{
		Use:     "bulk -f FILE.jsonl [--skip-invalid]",
		Short:   "Validate and enqueue a file of orders, one a line",
		Long:    bulkLong,
		Example: bulkExample,
		Args:    noArgs,
		RunE: operation(func(cmd *cobra.Command, _ []string) error {
			if concurrency < 1 {
				return usageErrorf("--concurrency must be at least 1, got %d", concurrency)
			}
			if err := checkBatchFlag(cmd, batch); err != nil {
				return err
			}
			return a.bulk(cmd, file, skipInvalid, concurrency, batch)
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the orders, one JSON order a line; - reads standard input")
	f.BoolVar(&skipInvalid, "skip-invalid", false, "enqueue the valid lines even when others are invalid")
	f.IntVar(&concurrency, "concurrency", defaultConcurrency, "enqueues in flight at once")
	f.StringVar(&batch, "batch", "", "record the orders' keys as the batch `NAME` (see 'enqueue batch')")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (a *app) bulk(cmd *cobra.Command, file string, skipInvalid bool, concurrency int, batch string) error {
	parsed, err := readOrders(file, a.stdin, onePerLine, orderDefaults{projectID: a.cfg.projectID})
	if err != nil {
		return err
	}
	source := sourceName(file)
	valid := reportInvalid(a.stderr, cmd, parsed, source)
	sum := bulkSummary{Total: len(parsed), Invalid: len(parsed) - len(valid)}
	if sum.Total == 0 {
		if err := printJSON(a.stdout, sum); err != nil {
			return err
		}
		return noOrders(source, "enqueue")
	}
	if sum.Invalid > 0 && !skipInvalid {
		if err := printJSON(a.stdout, sum); err != nil {
			return err
		}
		return invalidInput(fmt.Errorf("%s: %d of %d orders invalid: nothing enqueued (fix them, or pass --skip-invalid to enqueue the other %d)",
			source, sum.Invalid, sum.Total, len(valid)))
	}
	if len(valid) == 0 {
		return printJSON(a.stdout, sum)
	}

	return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
		clean, err := a.dropConflicts(ctx, cmd, op.Producer(), parsed, valid, source)
		if err != nil {
			return err
		}
		sum.Conflicts = len(valid) - len(clean)
		if sum.Conflicts > 0 && !skipInvalid {
			if err := printJSON(a.stdout, sum); err != nil {
				return err
			}
			return invalidInput(fmt.Errorf("%s: %d of %d orders reuse a key for a different purchase: nothing enqueued (give them new keys, or pass --skip-invalid to enqueue the other %d)",
				source, sum.Conflicts, sum.Total, len(clean)))
		}
		if err := recordBatch(ctx, op, batch, clean); err != nil {
			return err
		}
		return a.enqueueAll(ctx, op.Producer(), source, clean, sum, concurrency)
	})
}

// dropConflicts reports, on stderr, each valid order whose key was first submitted with a
// different request, and returns the others.
func (a *app) dropConflicts(ctx context.Context, cmd *cobra.Command, p *tasks.Producer, parsed []parsedOrder, valid []*tasks.Order, source string) ([]*tasks.Order, error) {
	conflicts, err := p.Conflicts(ctx, valid)
	if err != nil {
		return nil, err
	}
	line := map[*tasks.Order]int{}
	for _, p := range parsed {
		line[p.order] = p.line
	}
	var clean []*tasks.Order
	for i, o := range valid {
		if !conflicts[i] {
			clean = append(clean, o)
			continue
		}
		printError(a.stderr, cmd, invalidInput(fmt.Errorf("%s: line %d: idempotency_key: %w", source, line[o], &tasks.ConflictError{Key: o.Key()})))
	}
	return clean, nil
}

// enqueueAll enqueues the valid orders and prints the summary, partial when the run stopped.
func (a *app) enqueueAll(ctx context.Context, p *tasks.Producer, source string, valid []*tasks.Order, sum bulkSummary, concurrency int) error {
	results, runErr := p.EnqueueMany(ctx, valid, concurrency, newProgress(a.stderr, len(valid)))
	for _, r := range results {
		switch r.Status {
		case tasks.EnqueueEnqueued:
			sum.Enqueued++
		case tasks.EnqueueDuplicate:
			sum.Duplicates++
		case tasks.EnqueueConflict:
			sum.Conflicts++
		}
	}
	if err := printJSON(a.stdout, sum); err != nil {
		return err
	}
	if runErr != nil {
		return failed(fmt.Errorf("%s: stopped after %d of %d orders: %w; running it again is safe, what was enqueued is then a duplicate",
			source, sum.Enqueued+sum.Duplicates, len(valid), runErr))
	}
	return nil
}

// newProgress returns the callback that advances a progress bar on w, or nil (no bar) when w is
// not a terminal: a bar in a log file or a pipe is noise.
func newProgress(w io.Writer, n int) func() {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	bar := progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("enqueueing"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return func() { _ = bar.Add(1) }
}
