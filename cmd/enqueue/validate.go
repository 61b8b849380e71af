package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

const validateLong = `Validate purchase orders without enqueueing anything; no Redis is needed.

A .jsonl or .ndjson file, or a file of several JSON documents one a line, is validated line by
line (blank lines skipped); any other file is one order. Problems are reported on stderr exactly
as submit and bulk report them: "FILE: path: message", or "FILE: line N: path: message".

Prints {"total","valid","invalid"}; exits 2 when any order is invalid. As at enqueue,
--project-id (or CPH_PROJECT_ID) fills project_id in orders that have none.`

const validateExample = `  # Check one order
  enqueue validate -f order.json

  # Check a batch before submitting it
  enqueue validate -f orders.jsonl && enqueue bulk -f orders.jsonl`

// validateSummary is what validate prints.
type validateSummary struct {
	Total   int `json:"total"`
	Valid   int `json:"valid"`
	Invalid int `json:"invalid"`
}

func (a *app) validateCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:     "validate -f FILE|FILE.jsonl",
		Short:   "Validate orders without enqueueing them",
		Long:    validateLong,
		Example: validateExample,
		Args:    noArgs,
		RunE: operation(func(cmd *cobra.Command, _ []string) error {
			parsed, err := readOrders(file, a.stdin, detect, orderDefaults{projectID: a.cfg.projectID})
			if err != nil {
				return err
			}
			source := sourceName(file)
			valid := reportInvalid(a.stderr, cmd, parsed, source)
			sum := validateSummary{Total: len(parsed), Valid: len(valid), Invalid: len(parsed) - len(valid)}
			if err := printJSON(a.stdout, sum); err != nil {
				return err
			}
			if sum.Invalid > 0 {
				return invalidInput(fmt.Errorf("%s: %d of %d orders invalid", source, sum.Invalid, sum.Total))
			}
			if sum.Total == 0 {
				return noOrders(source, "validate")
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the orders: one JSON order, or JSON Lines; - reads standard input")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
