package main

import (
	"context"
	"fmt"
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
  enqueue results | jq 'select(.status == "dead_lettered") | .result.error'`

// streamID is a stream entry id as --from takes it: ms, ms-seq, or "$".
var streamID = regexp.MustCompile(`^(\$|[0-9]+(-[0-9]+)?)$`)

func (a *app) resultsCmd() *cobra.Command {
	var (
		follow bool
		from   string
	)
	cmd := &cobra.Command{
		Use:     "results [--follow] [--from ID]",
		Short:   "Print the terminal results as JSON lines",
		Long:    resultsLong,
		Example: resultsExample,
		Args:    noArgs,
		RunE: operation(func(cmd *cobra.Command, _ []string) error {
			if !streamID.MatchString(from) {
				return usageErrorf("--from must be a stream entry id such as 1764093600000-0, or $, got %q", from)
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
				return tasks.ReadResults(ctx, op.Redis(), a.cfg.resultsStream, from, follow, func(e tasks.StreamEntry) error {
					return printJSON(a.stdout, e)
				})
			})
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&follow, "follow", false, "wait for new results until interrupted")
	f.StringVar(&from, "from", "0", "print entries after this stream id; $ for only new ones")
	return cmd
}
