package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"cphpurchase/internal/tasks"
)

const dlqLong = `Work the dead letters: the orders that could not succeed, each with the reason, kept until an
operator replays or deletes them (asynq's own archive trims itself; these records do not).

A dead letter is named by its task id (cph-…) or by its order's idempotency key. Classes:
  invalid    the order breaks the API's rules; no call was made
  rejected   the API refused it with an error code (arrears, quota, bad value)
  auth       the token was refused for this order, while it works otherwise (refused
             credentials make the workers hold the queue instead: see "enqueue queue stats")
  exhausted  retries ran out; the order was not placed
  ambiguous  the order may have been placed and could not be confirmed: check before replaying`

const dlqExample = `  # What failed, and why
  enqueue dlq list
  enqueue dlq show cph-3f2a9c0d5e6b7a8190a1b2c3d4e5f607

  # Replay the orders that failed on authentication, once the token is fixed
  enqueue dlq replay --all --class auth

  # Drop the orders that will never be valid
  enqueue dlq delete --all --class invalid`

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "dlq",
		Short:   "List, show, replay and delete dead letters",
		Long:    dlqLong,
		Example: dlqExample,
		Args:    unknownCommand,
		RunE:    showHelp,
		// cobra's own default, which SuggestionsFor does not apply by itself.
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(a.dlqListCmd(), a.dlqShowCmd(), a.dlqReplayCmd(), a.dlqDeleteCmd())
	return cmd
}

// dlqItem is one line of dlq list: enough to decide, without the payload.
type dlqItem struct {
	TaskID         string           `json:"task_id"`
	IdempotencyKey string           `json:"idempotency_key"`
	Class          tasks.ErrorClass `json:"class"`
	Error          string           `json:"error"`
	Code           string           `json:"code,omitempty"`
	Attempts       int              `json:"attempts"`
	FailedAt       time.Time        `json:"failed_at"`
}

func (a *app) dlqListCmd() *cobra.Command {
	var (
		class string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "list [--class C] [--limit N] [-o table|json]",
		Short: "List dead letters, oldest first",
		Long: `List dead letters, oldest first, as JSON lines:
{"task_id","idempotency_key","class","error","code","attempts","failed_at"}, or as a table
(-o table, the default on a terminal).`,
		Example: `  # Every dead letter
  enqueue dlq list

  # The first 20 refused by the API, with their error codes
  enqueue dlq list --class rejected --limit 20 | jq -r '[.task_id, .code, .error] | @tsv'

  # As a table, even through a pager
  enqueue dlq list -o table | less`,
		Args: noArgs,
	}
	format := outputFlag(cmd)
	cmd.RunE = operation(func(cmd *cobra.Command, _ []string) error {
		if err := checkClass(class); err != nil {
			return err
		}
		if limit < 0 {
			return usageErrorf("--limit must be at least 0, got %d", limit)
		}
		f, err := a.outputFormat(*format)
		if err != nil {
			return err
		}
		return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
			var tab *table
			if f == outputTable {
				tab = newTable(a.stdout, "TASK ID", "IDEMPOTENCY KEY", "CLASS", "CODE", "ATTEMPTS", "FAILED", "ERROR")
			}
			for d, err := range op.ListDeadLetters(ctx, tasks.DeadLetterQuery{Class: tasks.ErrorClass(class), Limit: limit}) {
				if err != nil {
					return err
				}
				item := dlqItem{TaskID: d.TaskID, IdempotencyKey: d.IdempotencyKey, Class: d.Class, Attempts: d.Attempts, FailedAt: d.FailedAt}
				if d.Error != nil {
					item.Error, item.Code = d.Error.Message, d.Error.Code
				}
				if tab != nil {
					tab.row(item.TaskID, item.IdempotencyKey, string(item.Class), item.Code, fmt.Sprint(item.Attempts), when(item.FailedAt), clip(item.Error))
					continue
				}
				if err := printJSON(a.stdout, item); err != nil {
					return err
				}
			}
			if tab != nil {
				return tab.flush()
			}
			return nil
		})
	})
	cmd.Flags().StringVar(&class, "class", "", "only this class: "+classList)
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many (0: all)")
	return cmd
}

func (a *app) dlqShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter in full, its order included",
		Long: `Show one dead letter in full: the error with its class, code and field errors, the attempts,
and the order as it was enqueued. An order holds no secret: tokens and passwords are worker
configuration, never part of an order.`,
		Example: `  enqueue dlq show cph-3f2a9c0d5e6b7a8190a1b2c3d4e5f607

  # The order alone, to fix and submit again under a new key
  enqueue dlq show batch-2026-11/row-17 | jq .payload > fixed.json`,
		Args: cobra.ExactArgs(1),
		RunE: operation(func(cmd *cobra.Command, args []string) error {
			return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
				d, err := op.FindDeadLetter(ctx, args[0])
				if err != nil {
					return err
				}
				return printJSON(a.stdout, d)
			})
		}),
	}
}

func (a *app) dlqReplayCmd() *cobra.Command {
	var (
		sel   selection
		rebuy bool
	)
	cmd := &cobra.Command{
		Use:   "replay ID…|--all [--class C] [--rebuy]",
		Short: "Enqueue dead-lettered orders again, with a fresh retry budget",
		Long: `Enqueue dead-lettered orders again, each with a fresh retry budget (MAX_RETRY), and drop their
dead letters. Prints one {"task_id","idempotency_key","queue","status"} line per order replayed.

The ledger still guarantees at most one purchase per key: an order that was bought after all is
not bought again, and one whose last call had no answer is reconciled before anything is sent.
Such an ambiguous order is bought again only with --rebuy: when its order is still not listed,
the replay dead-letters it as ambiguous again, since an absence seen long after the call proves
nothing (its servers may have been deleted). Check the BSS orders (the dead letter names the
candidates it found), and pass --rebuy only when no order exists.

Fix the cause first (a token, a quota, arrears): a replay of an unchanged order that the API
refused fails the same way. An invalid order cannot be fixed by replaying it: submit a corrected
one under a new key, and delete the dead letter.

When one replay fails, the others still go ahead, and the command exits 1.`,
		Example: `  # One order, by task id or idempotency key
  enqueue dlq replay cph-3f2a9c0d5e6b7a8190a1b2c3d4e5f607
  enqueue dlq replay batch-2026-11/row-17

  # Every order that failed on authentication
  enqueue dlq replay --all --class auth

  # An ambiguous order that BSS shows was never placed: buy it
  enqueue dlq replay --rebuy batch-2026-11/row-17`,
		RunE: operation(func(cmd *cobra.Command, args []string) error {
			if err := sel.check(args); err != nil {
				return err
			}
			return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
				ids, err := a.selected(ctx, op, sel, args)
				if err != nil {
					return err
				}
				return a.each(ctx, cmd, ids, "replayed", func(id string) (any, error) {
					return op.Replay(ctx, id, tasks.ReplayOptions{Rebuy: rebuy})
				})
			})
		}),
	}
	sel.register(cmd.Flags(), "replay")
	cmd.Flags().BoolVar(&rebuy, "rebuy", false, "the last purchase call of an ambiguous order placed nothing (checked in BSS): buy again if its order is not found")
	return cmd
}

// deleted is one line of dlq delete.
type deleted struct {
	TaskID         string `json:"task_id"`
	IdempotencyKey string `json:"idempotency_key"`
	Status         string `json:"status"`
}

func (a *app) dlqDeleteCmd() *cobra.Command {
	var (
		sel selection
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "delete ID…|--all [--class C] [--yes]",
		Short: "Drop dead letters",
		Long: `Drop dead letters, and the archived asynq tasks they came from. Prints one
{"task_id","idempotency_key","status":"deleted"} line per dead letter dropped.

The order is not bought, and its key stays in the ledger (30 days): submitting the same key
again is a duplicate. To try an order again, replay it instead; to buy a corrected one, submit
it under a new key.

--all asks first, on a terminal, saying how many it would delete; without a terminal to ask on
(a script, a pipe) it needs --yes.

When one delete fails, the others still go ahead, and the command exits 1.`,
		Example: `  enqueue dlq delete cph-3f2a9c0d5e6b7a8190a1b2c3d4e5f607 batch-2026-11/row-17

  # Every order that will never be valid (asks first)
  enqueue dlq delete --all --class invalid

  # The same from a script
  enqueue dlq delete --all --class invalid --yes`,
		RunE: operation(func(cmd *cobra.Command, args []string) error {
			if err := sel.check(args); err != nil {
				return err
			}
			if sel.all && !yes && !a.terminal(a.stdin) {
				return usageErrorf("--all deletes every dead letter selected: pass --yes to confirm (there is no terminal to ask on)")
			}
			return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
				ids, err := a.selected(ctx, op, sel, args)
				if err != nil {
					return err
				}
				if sel.all && !yes && len(ids) > 0 {
					if err := a.confirm(fmt.Sprintf("Delete %d dead letters%s? Their orders are not bought, and this cannot be undone.", len(ids), sel.ofClass())); err != nil {
						return err
					}
				}
				return a.each(ctx, cmd, ids, "deleted", func(id string) (any, error) {
					d, err := op.Discard(ctx, id)
					if err != nil {
						return nil, err
					}
					return deleted{TaskID: d.TaskID, IdempotencyKey: d.IdempotencyKey, Status: "deleted"}, nil
				})
			})
		}),
	}
	sel.register(cmd.Flags(), "delete")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "with --all, delete without asking")
	return cmd
}

// selection is which dead letters replay and delete act on: the ids and keys given, or --all of
// them (of --class).
type selection struct {
	all   bool
	class string
}

func (s *selection) register(fs *pflag.FlagSet, verb string) {
	fs.BoolVar(&s.all, "all", false, verb+" every dead letter (of --class, when given)")
	fs.StringVar(&s.class, "class", "", "with --all, only this class: "+classList)
}

// check refuses an ambiguous selection: --all and ids, neither, or --class without --all.
func (s *selection) check(args []string) error {
	switch {
	case s.all && len(args) > 0:
		return usageErrorf("give task ids or keys, or --all, not both")
	case !s.all && len(args) == 0:
		return usageErrorf("give at least one task id or key, or --all")
	case s.class != "" && !s.all:
		return usageErrorf("--class goes with --all")
	}
	return checkClass(s.class)
}

// ofClass is " of class C" when the selection names a class, for messages.
func (s *selection) ofClass() string {
	if s.class == "" {
		return ""
	}
	return " of class " + s.class
}

// selected is the dead letters to act on: ids as given, or with --all every one (of --class),
// collected first, so that dropping them does not shift the pages read.
func (a *app) selected(ctx context.Context, op *tasks.Operator, s selection, ids []string) ([]string, error) {
	if !s.all {
		return ids, nil
	}
	for d, err := range op.ListDeadLetters(ctx, tasks.DeadLetterQuery{Class: tasks.ErrorClass(s.class)}) {
		if err != nil {
			return nil, err
		}
		ids = append(ids, d.TaskID)
	}
	return ids, nil
}

// each calls fn for each dead letter of ids, printing its output as a JSON line. A failure is
// reported and the rest still go ahead: one bad id must not stop a batch replay.
func (a *app) each(ctx context.Context, cmd *cobra.Command, ids []string, done string, fn func(id string) (any, error)) error {
	failures := 0
	for _, id := range ids {
		out, err := fn(id)
		if err == nil {
			err = printJSON(a.stdout, out)
		}
		if err != nil {
			failures++
			printError(a.stderr, cmd, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if failures > 0 {
		return failed(fmt.Errorf("%d of %d dead letters could not be %s", failures, len(ids), done))
	}
	return nil
}

// classList names the dead-letter classes, for help and errors.
const classList = "invalid, rejected, auth, exhausted or ambiguous"

// checkClass refuses a --class that is no dead-letter class: a typo would otherwise select nothing.
func checkClass(class string) error {
	switch tasks.ErrorClass(class) {
	case "", tasks.ClassInvalid, tasks.ClassRejected, tasks.ClassAuth, tasks.ClassExhausted, tasks.ClassAmbiguous:
		return nil
	}
	return usageErrorf("--class must be %s, got %q", classList, class)
}
