package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cphpurchase/internal/tasks"
)

// defaultReadyWait is how long --wait=ready waits: longer than the workers' default
// READINESS_DEADLINE (90 minutes), after which every bought order has its readiness event.
const defaultReadyWait = 2 * time.Hour

// waitFlag is --wait: a duration to wait for the terminal result, or "ready" to wait (up to
// defaultReadyWait) for the bought order's servers and phones to be usable.
type waitFlag struct {
	d     time.Duration
	ready bool
}

func (w *waitFlag) String() string {
	if w.ready {
		return "ready"
	}
	return w.d.String()
}

func (w *waitFlag) Type() string { return "DUR|ready" }

func (w *waitFlag) Set(s string) error {
	if s == "ready" {
		w.d, w.ready = defaultReadyWait, true
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("must be a duration (e.g. 2m) or ready, got %q", s)
	}
	w.d, w.ready = d, false
	return nil
}

// awaitReady waits until the order just enqueued is ready, ended otherwise, or wait passes, and
// prints its readiness event (or, dead-lettered, its result).
func (a *app) awaitReady(ctx context.Context, op *tasks.Operator, res tasks.EnqueueResult, wait time.Duration) error {
	fmt.Fprintf(a.stderr, "enqueue: submit: %s: %s (key %q); waiting up to %s for its phones to be usable\n", res.TaskID, res.Status, res.IdempotencyKey, wait)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	e, r, err := op.AwaitReady(wctx, res.IdempotencyKey, a.waitReporter(res.TaskID))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return failed(fmt.Errorf("%s not ready after %s (is the workers' READINESS_TRACKING on?): see 'enqueue status %s'", res.TaskID, wait, res.TaskID))
	case errors.Is(err, context.Canceled):
		return failed(fmt.Errorf("interrupted while waiting for %s; the order goes on: see 'enqueue status %s'", res.TaskID, res.TaskID))
	case err != nil:
		return err
	}
	if e.State == tasks.StateFailed {
		if err := printJSON(a.stdout, e.Result); err != nil {
			return err
		}
		return failed(deadLettered(res.TaskID, e.Result))
	}
	if err := printJSON(a.stdout, r); err != nil {
		return err
	}
	if r.State == tasks.LifecycleReady {
		return nil
	}
	return failed(fmt.Errorf("the order was bought but is %s: %s", r.State, strings.TrimSpace(r.Reason)))
}
