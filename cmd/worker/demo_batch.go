package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
)

// demoCreateTime is how long the demo's servers take to be created: minutes on the real API,
// seconds here.
const demoCreateTime = 2 * time.Second

// demoPhoneFails is the batch order whose phone fails creation.
const demoPhoneFails = "demo-batch-3"

// demoFate is the simulator's lifecycle in the demo: every order's servers and phones are created,
// but one phone of demoPhoneFails fails.
func demoFate(c cphsim.OrderCall) cphsim.Fate {
	if c.ServerName == demoPhoneFails {
		return cphsim.FatePhoneFails
	}
	return cphsim.FateReady
}

// demoBatch enqueues a batch of four orders (as `enqueue bulk --batch demo-batch` does) and follows
// it, as `enqueue batch wait` does, from queued to ready, one order failing on a phone; then it
// prints the batch's readiness events.
func demoBatch(ctx context.Context, op *tasks.Operator, project string, stdout io.Writer) error {
	const name = "demo-batch"
	say := func(format string, args ...any) { fmt.Fprintf(stdout, "==> "+format+"\n", args...) }
	var orders []*tasks.Order
	var keys []string
	for i := range 4 {
		o := demoOrder(fmt.Sprintf("demo-batch-%d", i+1), 1)
		o.ProjectID = project
		orders = append(orders, o)
		keys = append(keys, o.Key())
	}
	say("A batch of %d orders (`enqueue bulk --batch %s`), followed until their phones are usable (`enqueue batch wait %s`):", len(orders), name, name)
	if err := op.AddToBatch(ctx, name, keys); err != nil {
		return err
	}
	if _, err := op.Producer().EnqueueMany(ctx, orders, 4, nil); err != nil {
		return err
	}
	var rep tasks.BatchReport
	last := ""
	if err := waitFor(ctx, 45*time.Second, func() (bool, error) {
		var err error
		if rep, err = op.Batch(ctx, name); err != nil {
			return false, err
		}
		c := rep.Counts
		line := fmt.Sprintf("queued %d  buying %d  bought %d  creating %d  ready %d  failed %d", c.Queued, c.Buying, c.Bought, c.Creating, c.Ready, c.Failed)
		if line != last {
			fmt.Fprintln(stdout, "    "+line)
			last = line
		}
		_, final := tasks.UntilReady.Progress(rep.Counts)
		return final == c.Total, nil
	}); err != nil {
		return fmt.Errorf("demo: batch %s: %w", name, err)
	}
	say("Its readiness events (one per bought order, on the stream %s):", op.Readiness().Stream())
	events, err := op.Readiness().Events(ctx, "", 0)
	if err != nil {
		return err
	}
	inBatch := map[string]bool{}
	for _, k := range keys {
		inBatch[k] = true
	}
	for _, e := range events {
		if inBatch[e.IdempotencyKey] {
			printJSON(stdout, e.Event)
		}
	}
	if c := rep.Counts; c.Ready != len(keys)-1 || c.Failed != 1 {
		return fmt.Errorf("demo: batch %s ended with %d ready and %d failed, want %d and 1", name, c.Ready, c.Failed, len(keys)-1)
	}
	return nil
}
