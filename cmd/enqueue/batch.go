package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cphpurchase/internal/tasks"
)

// batchPollEvery is how often batch wait reads the batch: two pipelined round trips for all its
// keys, once a second.
const batchPollEvery = time.Second

const batchLong = `Follow the orders that 'enqueue bulk --batch NAME' recorded as the batch NAME.

Every key of a batch is counted in exactly one state:
  queued            on the queue, not taken by a worker yet
  buying            a worker holds it, or it waits for a retry
  bought            bought; its lifecycle not followed yet (or the workers' READINESS_TRACKING is off)
  awaiting_payment  bought without auto-pay, not paid yet
  creating          its servers or phones are being created
  ready             every server and phone of the order is created
  failed            a server ended abnormal or is gone, or a phone failed creation
  timed_out         not ready within the workers' READINESS_DEADLINE
  dead_lettered     not bought, by class (invalid, rejected, auth, exhausted, ambiguous)`

const batchExample = `  # Enqueue a file as a batch, then follow it until every order is ready
  enqueue bulk -f orders.jsonl --batch 2026-11
  enqueue batch wait 2026-11

  # Counts by state, once
  enqueue batch status 2026-11

  # Wait only until every order is bought (or dead-lettered), at most an hour
  enqueue batch wait 2026-11 --until bought --timeout 1h`

func (a *app) batchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "batch",
		Short:   "Follow a batch of orders: counts by state, and a wait with progress",
		Long:    batchLong,
		Example: batchExample,
		Args:    unknownCommand,
		RunE:    showHelp,
		// cobra's own default, which SuggestionsFor does not apply by itself.
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(a.batchStatusCmd(), a.batchWaitCmd())
	return cmd
}

// checkBatchFlag refuses a --batch that names no usable batch.
func checkBatchFlag(cmd *cobra.Command, name string) error {
	if !cmd.Flags().Changed("batch") {
		return nil
	}
	if err := tasks.CheckBatchName(name); err != nil {
		return usageErrorf("--batch: %v", err)
	}
	return nil
}

// recordBatch records the orders' keys as the batch name, when one is given.
func recordBatch(ctx context.Context, op *tasks.Operator, name string, orders []*tasks.Order) error {
	if name == "" || len(orders) == 0 {
		return nil
	}
	keys := make([]string, len(orders))
	for i, o := range orders {
		keys[i] = o.Key()
	}
	return op.AddToBatch(ctx, name, keys)
}

// batchLine is what batch status prints, and batch wait a line of.
type batchLine struct {
	Batch string `json:"batch"`
	tasks.BatchCounts
	// Until, Reached and Done are batch wait's: the goal, how many keys reached it, whether every
	// key is final; Otherwise lists, at the end, the keys that ended without reaching it.
	Until     tasks.BatchGoal     `json:"until,omitempty"`
	Reached   *int                `json:"reached,omitempty"`
	Done      *bool               `json:"done,omitempty"`
	Otherwise []tasks.BatchMember `json:"otherwise,omitempty"`
}

// readBatch reads batch name, as a failed operation (exit 1) when there is none.
func readBatch(ctx context.Context, op *tasks.Operator, name string) (tasks.BatchReport, error) {
	rep, err := op.Batch(ctx, name)
	if errors.Is(err, tasks.ErrNotFound) {
		return rep, failed(fmt.Errorf("%w: record one with 'enqueue bulk --batch %s'", err, name))
	}
	return rep, err
}

func (a *app) batchStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Print a batch's keys counted by state",
		Long: `Print {"batch","total","queued","buying","bought","awaiting_payment","creating","ready","failed",
"timed_out","dead_lettered":{CLASS:N}} for the batch NAME. Exits 1 when no such batch was recorded.`,
		Example: `  enqueue batch status 2026-11
  enqueue batch status 2026-11 | jq .ready`,
		Args: cobra.ExactArgs(1),
		RunE: operation(func(cmd *cobra.Command, args []string) error {
			if err := tasks.CheckBatchName(args[0]); err != nil {
				return usageErrorf("%v", err)
			}
			return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
				rep, err := readBatch(ctx, op, args[0])
				if err != nil {
					return err
				}
				return printJSON(a.stdout, batchLine{Batch: rep.Name, BatchCounts: rep.Counts})
			})
		}),
	}
}

const batchWaitLong = `Wait until every key of the batch NAME has reached --until (ready, the default, or bought), or
ended otherwise: dead-lettered, or, for ready, failed or timed out.

On a terminal a progress bar is drawn on stderr; otherwise every change of the counts is printed
on stdout as one JSON line, {"batch",...counts,"until","reached","done":false}. At the end one
line with "done":true and "otherwise": the keys that did not reach the goal, with their state,
class or reason.

Exits 0 when every key reached the goal; 1 when some ended otherwise (they are listed on stderr
too), when --timeout passed or the wait was interrupted (the orders go on regardless), or when no
such batch was recorded. Orders bought while the workers' READINESS_TRACKING is off never become
ready: wait --until bought for them.`

func (a *app) batchWaitCmd() *cobra.Command {
	var (
		until   string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait NAME [--until bought|ready] [--timeout DUR]",
		Short: "Wait for a batch to be bought or ready, with progress",
		Long:  batchWaitLong,
		Example: `  enqueue batch wait 2026-11
  enqueue batch wait 2026-11 --until bought
  enqueue batch wait 2026-11 --timeout 2h | tail -n 1 | jq .otherwise`,
		Args: cobra.ExactArgs(1),
		RunE: operation(func(cmd *cobra.Command, args []string) error {
			goal, err := tasks.ParseBatchGoal(until)
			if err != nil {
				return usageErrorf("--until %v", err)
			}
			if err := tasks.CheckBatchName(args[0]); err != nil {
				return usageErrorf("%v", err)
			}
			if timeout < 0 {
				return usageErrorf("--timeout must not be negative, got %s", timeout)
			}
			return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
				return a.batchWait(ctx, op, args[0], goal, timeout)
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&until, "until", string(tasks.UntilReady), "what to wait for: ready or bought")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait until done or interrupted)")
	return cmd
}

// batchWait follows the batch until every key is final for goal, reporting its progress.
func (a *app) batchWait(ctx context.Context, op *tasks.Operator, name string, goal tasks.BatchGoal, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	show := a.batchProgress(goal)
	tick := time.NewTicker(batchPollEvery)
	defer tick.Stop()
	for {
		rep, err := readBatch(ctx, op, name)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			reached, final := goal.Progress(rep.Counts)
			line := batchLine{Batch: rep.Name, BatchCounts: rep.Counts, Until: goal, Reached: &reached}
			done := final == rep.Counts.Total
			if err := show(line, final, done); err != nil {
				return err
			}
			if done {
				return a.batchDone(line, rep, goal)
			}
		}
		select {
		case <-ctx.Done():
			why := "interrupted"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				why = "not done after " + timeout.String()
			}
			return failed(fmt.Errorf("batch %s: %s; its orders go on: see 'enqueue batch status %s'", name, why, name))
		case <-tick.C:
		}
	}
}

// batchDone prints the last line and says which keys ended without reaching goal.
func (a *app) batchDone(line batchLine, rep tasks.BatchReport, goal tasks.BatchGoal) error {
	done := true
	line.Done = &done
	for _, m := range rep.Members {
		if !goal.Reached(m.State) {
			line.Otherwise = append(line.Otherwise, m)
		}
	}
	if err := printJSON(a.stdout, line); err != nil {
		return err
	}
	if len(line.Otherwise) == 0 {
		return nil
	}
	msg := []string{fmt.Sprintf("batch %s: %d of %d keys ended without being %s:", rep.Name, len(line.Otherwise), rep.Counts.Total, goal)}
	for _, m := range line.Otherwise {
		why := string(m.Class)
		if m.Reason != "" {
			why = m.Reason
		}
		msg = append(msg, fmt.Sprintf("%s: %s: %s", m.IdempotencyKey, m.State, why))
	}
	return failed(errors.New(strings.Join(msg, "\n")))
}

// batchProgress returns how batch wait shows a batch on its way: a progress bar of the final keys
// on stderr when it is a terminal, else each change of the counts as a JSON line on stdout (the
// last one, done, batchDone prints).
func (a *app) batchProgress(goal tasks.BatchGoal) func(line batchLine, final int, done bool) error {
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		return func(line batchLine, final int, _ bool) error {
			if bar == nil {
				bar = progressbar.NewOptions(line.Total, progressbar.OptionSetWriter(a.stderr), progressbar.OptionShowCount(),
					progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }))
			}
			bar.Describe(fmt.Sprintf("%s %d/%d, ended %d", goal, *line.Reached, line.Total, final))
			return bar.Set(final)
		}
	}
	var last string
	return func(line batchLine, _ int, done bool) error {
		key := fmt.Sprintf("%+v", line.BatchCounts)
		if done || key == last {
			return nil
		}
		last = key
		line.Done = &done // false
		return printJSON(a.stdout, line)
	}
}
