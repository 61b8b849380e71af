package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"cphpurchase/internal/tasks"
)

const (
	// defaultWait is how long --wait without a value waits for the result.
	defaultWait = 10 * time.Minute
	// reportEvery is how often --wait says on stderr that it still waits, when nothing changes.
	reportEvery = 30 * time.Second
)

const submitLong = `Validate one purchase order and put it on the queue.

The order is a JSON document (docs/contract.md): idempotency_key, project_id, request (the body of
POST /v2/{project_id}/cloud-phone/servers) and metadata. It is checked field by field before
anything is enqueued; every problem is reported as "path: message", one a line, and nothing is
enqueued (exit 2).

--key replaces the order's idempotency_key. --project-id (or CPH_PROJECT_ID) fills project_id
only when the order has none; an order that names its project keeps it. Without an
idempotency_key, one is derived from project_id and the request, so the same purchase submitted
twice buys once.

Prints {"task_id","idempotency_key","queue","status"} with status "enqueued", or "duplicate"
when the key was submitted before with the same request (nothing new is enqueued then), or
"conflict" when it was submitted before with a different request: one key names one purchase,
so nothing is enqueued and it exits 2.

With --wait, it then waits for the order's terminal result and prints that instead: exit 0 when
it succeeded, 1 when it was dead-lettered or the wait timed out (the order stays queued).

With --wait=ready, it waits longer: until the bought order's servers and phones are usable, and
prints its readiness event ({"state":"ready|failed|timed_out","servers":[…],…}); exit 0 when it
is ready, 1 when it failed, timed out (READINESS_DEADLINE), was dead-lettered (its result is
printed then), or was not over within 2 hours. It needs the workers' READINESS_TRACKING on.`

const submitExample = `  # Submit an order and wait up to 10 minutes for its result
  enqueue submit -f order.json --wait

  # Wait at most 2 minutes (the duration goes after '=')
  enqueue submit -f order.json --wait=2m

  # Wait until its phones are usable, not only bought
  enqueue submit -f order.json --wait=ready

  # Read the order from stdin, under an idempotency key of your own
  cat order.json | enqueue submit -f - --key batch-7/row-3

  # An order without project_id, for a given project
  enqueue submit -f order.json --project-id 0b1c2d3e4f`

func (a *app) submitCmd() *cobra.Command {
	var (
		file, key string
		wait      waitFlag
	)
	cmd := &cobra.Command{
		Use:     "submit -f FILE|- [--key K] [--project-id P] [--wait[=DUR]]",
		Short:   "Validate and enqueue one purchase order",
		Long:    submitLong,
		Example: submitExample,
		Args:    noArgs,
		RunE: operation(func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("wait") && wait.d <= 0 {
				return usageErrorf("--wait must be a positive duration, got %s", wait.d)
			}
			return a.submit(cmd, file, orderDefaults{key: key, projectID: a.cfg.projectID}, wait)
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the order, a JSON file; - reads standard input")
	f.StringVar(&key, "key", "", "idempotency key, replacing the order's idempotency_key")
	f.Var(&wait, "wait", "wait this long for the terminal result and print it (--wait alone: "+defaultWait.String()+"); --wait=ready waits for usable phones")
	f.Lookup("wait").NoOptDefVal = defaultWait.String()
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (a *app) submit(cmd *cobra.Command, file string, d orderDefaults, wait waitFlag) error {
	parsed, err := readOrders(file, a.stdin, oneDocument, d)
	if err != nil {
		return err
	}
	p := parsed[0]
	if p.err != nil {
		return invalidInput(p.problem(sourceName(file)))
	}
	return a.withOperator(cmd, func(ctx context.Context, op *tasks.Operator) error {
		res, err := op.Producer().Enqueue(ctx, p.order)
		if errors.Is(err, tasks.ErrKeyConflict) {
			if perr := printJSON(a.stdout, res); perr != nil {
				return perr
			}
			return invalidInput(err)
		}
		if err != nil {
			return err
		}
		switch {
		case wait.d <= 0:
			return printJSON(a.stdout, res)
		case wait.ready:
			return a.awaitReady(ctx, op, res, wait.d)
		}
		return a.await(ctx, op, res, wait.d)
	})
}

// await waits for the terminal result of the order just enqueued and prints it.
func (a *app) await(ctx context.Context, op *tasks.Operator, res tasks.EnqueueResult, wait time.Duration) error {
	fmt.Fprintf(a.stderr, "enqueue: submit: %s: %s (key %q); waiting up to %s for its result\n", res.TaskID, res.Status, res.IdempotencyKey, wait)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	e, err := op.Await(wctx, res.IdempotencyKey, a.waitReporter(res.TaskID))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return failed(fmt.Errorf("no result for %s after %s; the order stays queued: see 'enqueue status %s'", res.TaskID, wait, res.TaskID))
	case errors.Is(err, context.Canceled):
		return failed(fmt.Errorf("interrupted while waiting for %s; the order stays queued: see 'enqueue status %s'", res.TaskID, res.TaskID))
	case err != nil:
		return err
	}
	if err := printJSON(a.stdout, e.Result); err != nil {
		return err
	}
	if e.State == tasks.StateSucceeded {
		return nil
	}
	return failed(deadLettered(res.TaskID, e.Result))
}

// waitReporter says on stderr what --wait waits for: at each change of state, and every
// reportEvery while nothing changes.
func (a *app) waitReporter(taskID string) func(string) {
	start := time.Now()
	var last string
	var lastAt time.Time
	return func(state string) {
		if state == last && time.Since(lastAt) < reportEvery {
			return
		}
		last, lastAt = state, time.Now()
		fmt.Fprintf(a.stderr, "enqueue: submit: %s: %s (%s)\n", taskID, state, time.Since(start).Round(time.Second))
	}
}

// deadLettered says why an order was dead-lettered, from its result.
func deadLettered(taskID string, result []byte) error {
	var r tasks.Result
	if err := json.Unmarshal(result, &r); err != nil || r.Error == nil {
		return fmt.Errorf("the order was dead-lettered: see 'enqueue dlq show %s'", taskID)
	}
	return fmt.Errorf("the order was dead-lettered (%s): %s: see 'enqueue dlq show %s'", r.Error.Class, r.Error.Message, taskID)
}
