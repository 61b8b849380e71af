package main

import (
	"context"

	"github.com/spf13/cobra"

	"cphpurchase/internal/tasks"
)

const queueLong = `Look at the purchase queue (PURCHASE_QUEUE) and pause or resume it.

A paused queue keeps its orders: the workers take none until it is resumed, and the orders in
flight finish. A worker pauses the queue by itself when the CPH API refuses its credentials, and
resumes it once they work again; "queue stats" then shows why (held_for_credentials). A pause of
yours stays until you resume it: no worker lifts it.`

const queueExample = `  # How many orders wait, and whether the queue is paused
  enqueue queue stats
  enqueue queue stats -o json | jq .pending

  # Stop the workers from taking orders (the ones in flight finish), then let them go on
  enqueue queue pause
  enqueue queue resume`

// queueState is what pause and resume print.
type queueState struct {
	Queue  string `json:"queue"`
	Paused bool   `json:"paused"`
}

func (a *app) queueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "queue",
		Short:   "Show the queue's stats, pause and resume it",
		Long:    queueLong,
		Example: queueExample,
		Args:    unknownCommand,
		RunE:    showHelp,
		// cobra's own default, which SuggestionsFor does not apply by itself.
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(a.queueStatsCmd(), a.queuePauseCmd(true), a.queuePauseCmd(false))
	return cmd
}

func (a *app) queueStatsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats [-o table|json]",
		Short: "Show the queue's tasks by state, its latency, whether it is paused, and the dead letters",
		Long: `Show the queue's tasks by asynq state (pending, active, scheduled, retry, archived, completed),
how long the oldest pending order has waited, whether the queue is paused (and why, when a worker
held it for refused credentials), and the dead letters waiting for an operator:
{"queue","paused","held_for_credentials","pending","active","scheduled","retry","archived","completed","dead_letters","latency_seconds"}.`,
		Example: `  enqueue queue stats
  enqueue queue stats -o json`,
		Args: noArgs,
	}
	format := outputFlag(cmd)
	cmd.RunE = operation(func(cmd *cobra.Command, _ []string) error {
		f, err := a.outputFormat(*format)
		if err != nil {
			return err
		}
		return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
			s, err := op.Summary(ctx)
			if err != nil {
				return err
			}
			if f == outputTable {
				return printSummary(a.stdout, s)
			}
			return printJSON(a.stdout, s)
		})
	})
	return cmd
}

// queuePauseCmd is `queue pause` (pause true) or `queue resume`.
func (a *app) queuePauseCmd(pause bool) *cobra.Command {
	use, short, example := "resume", "Let the workers take orders off the queue again", "  enqueue queue resume"
	if pause {
		use, short, example = "pause", "Stop the workers from taking orders off the queue; the orders in flight finish", "  enqueue queue pause"
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    short + `. Prints {"queue","paused"}. Pausing a paused queue, or resuming a running one, is no error.`,
		Example: example,
		Args:    noArgs,
		RunE: operation(func(cmd *cobra.Command, _ []string) error {
			return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
				act := op.Unpause
				if pause {
					act = op.Pause
				}
				if err := act(ctx); err != nil {
					return err
				}
				paused, err := op.Paused(ctx)
				if err != nil {
					return err
				}
				return printJSON(a.stdout, queueState{Queue: op.Queue(), Paused: paused})
			})
		}),
	}
}
