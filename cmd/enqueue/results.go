package main

import (
	"context"
	"fmt"
	"io"
	"regexp"

	"github.com/spf13/cobra"

	"cphpurchase/internal/tasks"
)

const resultsLong = `Print the results stream (RESULTS_STREAM), one terminal result a line:
{"id","idempotency_key","status","result":{...}}, oldest first. Every order ends in exactly one
succeeded entry, or one dead_lettered entry for each time it was dead-lettered.

--from ID starts after the entry ID (exclusive): pass the last id you processed to resume. "$"
starts after the newest entry, so that only what comes next is printed.

--follow waits for new results after the last one, like tail -f, until interrupted (Ctrl-C or
SIGTERM), then exits 0.`

const resultsExample = `  # Every result so far
  enqueue results

  # Resume after the last entry processed
  enqueue results --from 1764093600000-0

  # Follow the new results as they come
  enqueue results --follow --from '$'

  # The dead-lettered ones, with their reason
  enqueue results | jq 'select(.status == "dead_lettered") | .result.error'

  # A table for people, even through a pager
  enqueue results -o table | less`

// streamID is a stream entry id as --from takes it: ms, ms-seq, or "$".
var streamID = regexp.MustCompile(`^(\$|[0-9]+(-[0-9]+)?)$`)

func (a *app) resultsCmd() *cobra.Command {
	var (
		follow bool
		from   string
	)
	cmd := &cobra.Command{
		Use:     "results [--follow] [--from ID] [-o table|json]",
		Short:   "Print the terminal results as JSON lines",
		Long:    resultsLong,
		Example: resultsExample,
		Args:    noArgs,
	}
	format := outputFlag(cmd)
	cmd.RunE = operation(func(cmd *cobra.Command, _ []string) error {
		if !streamID.MatchString(from) {
			return usageErrorf("--from must be a stream entry id such as 1764093600000-0, or $, got %q", from)
		}
		out, err := a.resultPrinter(*format, follow)
		if err != nil {
			return err
		}
		return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
			if from == "$" {
				// ReadResults would pass "$" to every XREAD and miss what arrives between
				// two; the newest id now is where "$" means to start.
				last, err := op.Redis().XRevRangeN(ctx, a.cfg.resultsStream, "+", "-", 1).Result()
				if err != nil {
					return fmt.Errorf("read results stream: %w", err)
				}
				from = "0"
				if len(last) > 0 {
					from = last[0].ID
				}
			}
			// ReadResults ends without error when ctx is cancelled: an interrupted --follow
			// is done.
			if err := tasks.ReadResults(ctx, op.Redis(), a.cfg.resultsStream, from, follow, out.print); err != nil {
				return err
			}
			return out.done()
		})
	})
	f := cmd.Flags()
	f.BoolVar(&follow, "follow", false, "wait for new results until interrupted")
	f.StringVar(&from, "from", "0", "print entries after this stream id; $ for only new ones")
	return cmd
}

// resultPrinter prints result entries as JSON lines, or as a table whose rows a --follow flushes
// one by one so that each shows as it comes.
type resultPrinter struct {
	json   io.Writer
	table  *table
	follow bool
}

func (a *app) resultPrinter(format string, follow bool) (*resultPrinter, error) {
	f, err := a.outputFormat(format)
	if err != nil {
		return nil, err
	}
	if f == outputJSON {
		return &resultPrinter{json: a.stdout}, nil
	}
	return &resultPrinter{table: newTable(a.stdout, "ID", "IDEMPOTENCY KEY", "STATUS", "ORDER OR ERROR", "FINISHED"), follow: follow}, nil
}

func (p *resultPrinter) print(e tasks.StreamEntry) error {
	if p.table == nil {
		return printJSON(p.json, e)
	}
	_, detail, finished := resultCells(e.Result)
	p.table.row(e.ID, e.IdempotencyKey, e.Status, detail, finished)
	if p.follow {
		return p.table.flush()
	}
	return nil
}

// done writes what a table holds.
func (p *resultPrinter) done() error {
	if p.table == nil {
		return nil
	}
	return p.table.flush()
}
