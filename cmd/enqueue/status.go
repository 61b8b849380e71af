package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"cphpurchase/internal/tasks"
)

const statusLong = `Show everything known about one order, by its task id (cph-…) or its idempotency key: asynq's
state of the task, its retries and last error, the ledger's record, the dead letter if any, and
the terminal result.

The state is asynq's (pending, active, scheduled, retry, archived, completed), or "gone" once
asynq no longer keeps the task; the ledger and the dead letters remember longer. An order that
none of them knows exits 1.`

const statusExample = `  # By idempotency key
  enqueue status batch-2026-11/row-17

  # By task id, as submit printed it
  enqueue status cph-3f2a9c0d5e6b7a8190a1b2c3d4e5f607

  # Just the result
  enqueue status batch-2026-11/row-17 | jq .result

  # As a table, on a terminal or not
  enqueue status batch-2026-11/row-17 -o table`

func (a *app) statusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "status ID [-o table|json]",
		Short:   "Show an order by task id or idempotency key",
		Long:    statusLong,
		Example: statusExample,
		Args:    cobra.ExactArgs(1),
	}
	format := outputFlag(cmd)
	cmd.RunE = operation(func(cmd *cobra.Command, args []string) error {
		f, err := a.outputFormat(*format)
		if err != nil {
			return err
		}
		return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
			st, err := op.Status(ctx, args[0])
			if errors.Is(err, tasks.ErrNotFound) {
				return failed(fmt.Errorf("no order with task id or key %q", args[0]))
			}
			if err != nil {
				return err
			}
			if f == outputTable {
				return printStatus(a.stdout, st)
			}
			return printJSON(a.stdout, st)
		})
	})
	return cmd
}
