// Command goproducer is a Go service that submits purchase orders the way another team's service
// would: it imports cphpurchase/producer from a module of its own, and nothing else of this
// repository. CI builds it and runs it against a real Redis, a worker and the CPH simulator
// (`make example`).
//
// It submits an order and submits it again (a duplicate), reuses its key for another purchase (a
// conflict), submits an invalid order and a batch, and, with -wait, waits for every result. It
// exits 1 when anything does not go as the contract says.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 CPH_PROJECT_ID=0b1c2d3e4f goproducer -wait 2m
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"cphpurchase/producer"
)

func main() {
	wait := flag.Duration("wait", 0, "wait this long for the results (0: do not wait)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "goproducer:", err)
		os.Exit(1)
	}
}

// request is the body of a purchase call for one server named name, as the CPH API defines it.
func request(name string) json.RawMessage {
	r, _ := json.Marshal(map[string]any{
		"server_name": name, "server_model_name": "physical.kg1.4xlarge.cp",
		"phone_model_name": "kg1.cp.c20.d64SSD.e1v1", "image_id": "20060220200717f201120a2300000e91",
		"count": 1, "extend_param": map[string]int{"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 1},
		"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
		"nics":          []map[string]string{{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908"}},
		"public_ip":     map[string]any{"eip": map[string]string{"type": "5_bgp"}},
		"band_width":    map[string]int{"band_width_share_type": 0, "band_width_size": 300, "band_width_charge_mode": 1},
	})
	return r
}

func run(ctx context.Context, wait time.Duration) error {
	opts := []producer.Option{producer.WithProjectID(os.Getenv("CPH_PROJECT_ID"))}
	if q := os.Getenv("PURCHASE_QUEUE"); q != "" {
		opts = append(opts, producer.WithQueue(q))
	}
	if s := os.Getenv("RESULTS_STREAM"); s != "" {
		opts = append(opts, producer.WithResultsStream(s))
	}
	c, err := producer.New(os.Getenv("REDIS_URL"), opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		return err
	}
	run := fmt.Sprintf("goproducer-%d", time.Now().UnixNano())

	order := producer.Order{IdempotencyKey: run + "/1", Request: request(run + "-1"), Metadata: map[string]string{"run": run}}
	sub, err := c.Enqueue(ctx, order)
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	fmt.Printf("enqueued %s as task %s\n", sub.IdempotencyKey, sub.TaskID)

	if _, err := c.Enqueue(ctx, order); !errors.Is(err, producer.ErrDuplicate) {
		return fmt.Errorf("the same order again: %v, want a duplicate", err)
	}
	fmt.Println("the same order again: a duplicate, nothing new enqueued")

	other := order
	other.Request = request(run + "-other")
	if _, err := c.Enqueue(ctx, other); !errors.Is(err, producer.ErrConflict) {
		return fmt.Errorf("the key for another purchase: %v, want a conflict", err)
	}
	fmt.Println("the key for another purchase: a conflict, nothing enqueued")

	var invalid *producer.InvalidError
	if _, err := c.Enqueue(ctx, producer.Order{Request: json.RawMessage(`{"server_name": "x", "count": 11}`)}); !errors.As(err, &invalid) {
		return fmt.Errorf("an invalid order: %v, want it refused", err)
	}
	fmt.Printf("an invalid order: refused with %d problems, first %s\n", len(invalid.Fields), invalid.Fields[0])

	batch := []producer.Order{{IdempotencyKey: run + "/2", Request: request(run + "-2")}, {IdempotencyKey: run + "/3", Request: request(run + "-3")}}
	res, err := c.EnqueueMany(ctx, batch)
	if err != nil || res.Enqueued != 2 {
		return fmt.Errorf("a batch of 2: %+v, %v", res, err)
	}
	fmt.Printf("a batch: %d enqueued\n", res.Enqueued)

	st, err := c.Status(ctx, order.IdempotencyKey)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	fmt.Printf("status of %s: %s, done %v\n", st.IdempotencyKey, st.State, st.Done)
	if wait <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, key := range []string{run + "/1", run + "/2", run + "/3"} {
		r, err := c.Wait(wctx, key)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", key, err)
		}
		if !r.Succeeded() {
			return fmt.Errorf("%s was dead-lettered (%s): %s", key, r.Error.Class, r.Error.Message)
		}
		fmt.Printf("%s bought: order %s, servers %v\n", key, r.OrderID, r.ServerIDs)
	}
	return nil
}
