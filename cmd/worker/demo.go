package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story end to end on an in-process Redis and CPH simulator",
		Long: `demo starts an embedded worker (in-process Redis and CPH simulator, nothing installed) and
walks through what the product promises: orders bought, an invalid order dead-lettered with its
field errors, a throttled order bought after backing off, an order whose answer was lost found by
reconciliation instead of being bought twice, a duplicate refused, the results stream, a dead
letter replayed after its cause was fixed, and a batch followed from queued to ready, one of its
orders failing on a phone. It takes well under a minute.`,
		Example: "  worker demo\n  make demo",
		Args:    cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			return runDemo(cmd.Context(), stdout, stderr)
		}),
	}
}

// demoOrder is a valid order for count servers named name, paid automatically, with a port.
func demoOrder(name string, count int) *tasks.Order {
	req := cph.ExampleRequest(name)
	*req.Count = count
	port, fromInternet := 20000, "false"
	req.Ports = []cph.Port{{Name: "web", ListenPort: &port, InternetAccessible: &fromInternet}}
	return &tasks.Order{IdempotencyKey: "demo/" + name, Request: req, Metadata: map[string]string{"batch": "demo"}}
}

// demoScript is the simulator's behaviour in the demo: which call of which order fails how.
type demoScript struct{ inArrears atomic.Bool }

func (d *demoScript) decide(c cphsim.PurchaseCall) cphsim.Fault {
	switch {
	case c.ServerName == "demo-throttled" && c.Seq <= 2:
		return cphsim.Fault{Kind: cphsim.FaultThrottle}
	case c.ServerName == "demo-lost-answer" && c.Seq == 1:
		return cphsim.Fault{Kind: cphsim.FaultDropAfterCommit}
	case c.ServerName == "demo-arrears" && d.inArrears.Load():
		return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
	}
	return cphsim.Fault{Kind: cphsim.FaultNone}
}

func runDemo(ctx context.Context, stdout, stderr io.Writer) error {
	start := time.Now()
	say := func(format string, args ...any) { fmt.Fprintf(stdout, "==> "+format+"\n", args...) }
	script := &demoScript{}
	script.inArrears.Store(true)

	cfg := config{
		Embedded: true, Timeout: 3 * time.Second, Concurrency: 10, Queue: "cph-purchase",
		RetryBaseDelay: 300 * time.Millisecond, RetryMaxDelay: 2 * time.Second, ResultsStream: "cph:purchase:results",
		LogLevel: "error", LogFormat: "console", ShutdownTimeout: 5 * time.Second, ReconcileGrace: time.Second,
		ReadinessFirstCheck: 500 * time.Millisecond, ReadinessMaxInterval: time.Second, ReadinessDeadline: time.Minute,
	}
	emb, err := startEmbedded(&cfg, cphsim.Options{Decide: script.decide, RetryAfter: time.Second,
		CreateTime: demoCreateTime, Lifecycle: demoFate})
	if err != nil {
		return err
	}
	defer emb.Close()
	say("Started an in-process Redis (%s) and CPH simulator (%s): nothing is bought for real.", cfg.RedisURL, cfg.Endpoint)
	log, _ := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	w, err := newWorker(cfg, log)
	if err != nil {
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.run(wctx) }()
	defer func() { stopWorker(); <-workerDone }()
	say("Started a worker: %d handlers, fleet-wide rate limit %d purchases/s.", cfg.Concurrency, cfg.RateLimit)

	opt, _ := redisconn.ParseURL(cfg.RedisURL)
	op, err := tasks.NewOperator(redisconn.NewClient(opt), tasks.OperatorConfig{Queue: cfg.Queue, ResultsStream: cfg.ResultsStream, MaxRetry: 5})
	if err != nil {
		return err
	}
	defer op.Close()
	producer := op.Producer()

	orders := []*tasks.Order{
		demoOrder("demo-web", 1), demoOrder("demo-farm", 3), demoOrder("demo-throttled", 1),
		demoOrder("demo-lost-answer", 1), demoOrder("demo-arrears", 1),
	}
	say("Enqueueing %d orders (as `enqueue submit` does):", len(orders))
	for _, o := range orders {
		o.ProjectID = cfg.ProjectID
		res, err := producer.Enqueue(ctx, o)
		if err != nil {
			return err
		}
		printJSON(stdout, res)
	}

	say("Submitting demo-web again: the same idempotency key buys once.")
	res, err := producer.Enqueue(ctx, orders[0])
	if err != nil {
		return err
	}
	printJSON(stdout, res)

	bad := demoOrder("demo-invalid", 11)
	bad.ProjectID = cfg.ProjectID
	bad.Request.Ports[0].Name = "adb"
	say("An order with count 11 and a port named adb: enqueue refuses it with every broken rule...")
	if _, err := producer.Enqueue(ctx, bad); err != nil {
		fmt.Fprintln(stdout, indent(err.Error()))
	}
	say("...and when a producer skips validation, the worker dead-letters it without calling the API.")
	payload, _ := json.Marshal(bad)
	if _, err := op.Client().EnqueueContext(ctx, asynq.NewTask(tasks.TypePurchase, payload),
		asynq.Queue(cfg.Queue), asynq.TaskID(tasks.TaskID(bad.Key()))); err != nil {
		return err
	}

	var keysToWait []string
	for _, o := range orders {
		keysToWait = append(keysToWait, o.Key())
	}
	say("Waiting for every order to end (demo-throttled is refused twice with 429; demo-lost-answer's answer is dropped after the order was placed)...")
	if err := waitTerminal(ctx, op, keysToWait, 45*time.Second); err != nil {
		return err
	}
	// An invalid order never takes its key in the ledger: its dead letter is what ends it.
	if err := waitFor(ctx, 15*time.Second, func() (bool, error) {
		_, err := op.FindDeadLetter(ctx, tasks.TaskID(bad.Key()))
		if errors.Is(err, tasks.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}); err != nil {
		return fmt.Errorf("demo: the invalid order was not dead-lettered: %w", err)
	}

	say("The results stream (`enqueue results`), one terminal result per order:")
	if err := printStream(ctx, op.Redis(), cfg.ResultsStream, stdout); err != nil {
		return err
	}

	var list []tasks.DeadLetter
	for d, err := range op.ListDeadLetters(ctx, tasks.DeadLetterQuery{Limit: 100}) {
		if err != nil {
			return err
		}
		list = append(list, d)
	}
	say("Dead letters (`enqueue dlq list`): %d", len(list))
	for _, d := range list {
		fmt.Fprintf(stdout, "    %s  %-9s  %s\n", d.TaskID, d.Class, firstLine(d.Error.Message))
	}

	say("The account is topped up; replaying the rejected order (`enqueue dlq replay`).")
	script.inArrears.Store(false)
	arrears := orders[4]
	rep, err := op.Replay(ctx, tasks.TaskID(arrears.Key()), tasks.ReplayOptions{})
	if err != nil {
		return err
	}
	printJSON(stdout, rep)
	if err := waitTerminal(ctx, op, []string{arrears.Key()}, 30*time.Second); err != nil {
		return err
	}
	e, _, _ := op.Ledger().Get(ctx, arrears.Key())
	fmt.Fprintln(stdout, indent(string(e.Result)))

	// Every order submitted, the invalid one included: it must have placed nothing.
	submitted := append(orders[:len(orders):len(orders)], bad)
	st := emb.sim.Stats()
	say("The simulator saw %d purchase calls and placed %d orders for %d orders submitted (%d valid, 1 invalid); per server name:",
		st.PurchaseCalls, st.Orders, len(submitted), len(orders))
	twice := 0
	for _, o := range submitted {
		n := len(emb.sim.OrdersFor(o.Request.ServerName))
		if n > 1 || o == bad && n > 0 {
			twice++
		}
		fmt.Fprintf(stdout, "    %-18s %d order(s)\n", o.Request.ServerName, n)
	}
	if twice > 0 {
		return fmt.Errorf("demo: %d orders were bought more than once, or bought though invalid", twice)
	}
	if err := demoBatch(ctx, op, cfg.ProjectID, stdout); err != nil {
		return err
	}
	say("Nothing was bought twice. Demo finished in %s.", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// waitTerminal waits until every key has a terminal result, for at most limit each.
func waitTerminal(ctx context.Context, op *tasks.Operator, keys []string, limit time.Duration) error {
	for _, k := range keys {
		wctx, cancel := context.WithTimeout(ctx, limit)
		_, err := op.Await(wctx, k, nil)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("not done within %s", limit)
		}
		if err != nil {
			return fmt.Errorf("demo: order %s: %w", k, err)
		}
	}
	return nil
}

// waitFor polls done until it reports true, for at most limit.
func waitFor(ctx context.Context, limit time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printStream(ctx context.Context, rdb redis.UniversalClient, stream string, w io.Writer) error {
	return tasks.ReadResults(ctx, rdb, stream, "", false, func(e tasks.StreamEntry) error {
		printJSON(w, e.Result)
		return nil
	})
}

func printJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(w, "    "+string(b))
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
