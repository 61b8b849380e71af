package tasks_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
)

// An operator submits an order, looks it up, pauses the queue, and works the dead letters, all
// through one Operator. The Redis here is in-process and no worker runs, so the order stays queued.
func ExampleOperator() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()

	op, err := tasks.NewOperator(redis.NewClient(&redis.Options{Addr: mr.Addr()}), tasks.OperatorConfig{
		Queue:         "cph-purchase",
		ResultsStream: "cph:purchase:results",
		MaxRetry:      10,
	})
	if err != nil {
		panic(err)
	}
	defer op.Close() // closes the Redis client
	ctx := context.Background()

	order := &tasks.Order{IdempotencyKey: "batch-2026-11/row-17", ProjectID: "0b1c2d3e4f", Request: cph.ExampleRequest("web-01")}
	for range 2 {
		res, err := op.Producer().Enqueue(ctx, order)
		if err != nil {
			panic(err)
		}
		fmt.Println("submit:", res.Status)
	}

	st, err := op.Status(ctx, "batch-2026-11/row-17")
	if err != nil {
		panic(err)
	}
	fmt.Println("status:", st.State, st.TaskID == tasks.TaskID("batch-2026-11/row-17"))

	if err := op.Pause(ctx); err != nil {
		panic(err)
	}
	paused, _ := op.Paused(ctx)
	info, _ := op.QueueInfo()
	fmt.Println("paused:", paused, "pending:", info.Pending)

	n, _ := op.CountDeadLetters(ctx)
	fmt.Println("dead letters:", n)
	_, err = op.Replay(ctx, "batch-2026-11/row-17", tasks.ReplayOptions{})
	fmt.Println("replay:", errors.Is(err, tasks.ErrNotFound), err)
	// Output:
	// submit: enqueued
	// submit: duplicate
	// status: pending true
	// paused: true pending: 1
	// dead letters: 0
	// replay: true no dead letter with task id or key "batch-2026-11/row-17"
}
