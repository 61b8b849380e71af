package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cphpurchase/producer"
)

// request is the body of a purchase call, as the CPH API defines it: one server of the API page's
// example flavor and image, paid automatically.
func request(name string) json.RawMessage {
	return json.RawMessage(`{
		"server_name": "` + name + `", "server_model_name": "physical.kg1.4xlarge.cp",
		"phone_model_name": "kg1.cp.c20.d64SSD.e1v1", "image_id": "20060220200717f201120a2300000e91",
		"count": 1, "extend_param": {"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 1},
		"tenant_vpc_id": "fca063f6-b942-42a8-9004-e5545f58d6a2",
		"nics": [{"subnet_id": "f1cbfc37-eb42-4357-a0ec-9e4f11950908"}],
		"public_ip": {"eip": {"type": "5_bgp"}},
		"band_width": {"band_width_share_type": 0, "band_width_size": 300, "band_width_charge_mode": 1}}`)
}

// A client of the workers' Redis, with the settings the workers use.
func ExampleNew() {
	redisURL, stop := exampleRedis() // e.g. redis://redis.internal:6379/0, as the workers' REDIS_URL
	defer stop()

	c, err := producer.New(redisURL,
		producer.WithQueue("cph-purchase"),   // the workers' PURCHASE_QUEUE (this is the default)
		producer.WithProjectID("0b1c2d3e4f"), // for orders that name no project
		producer.WithMaxRetry(producer.DefaultMaxRetry),
	)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println("queue:", c.Queue(), "reachable:", c.Ping(context.Background()) == nil)
	// Output: queue: cph-purchase reachable: true
}

// One order, submitted twice, then its key reused for another purchase, then an invalid one.
func ExampleClient_Enqueue() {
	redisURL, stop := exampleRedis()
	defer stop()
	c, err := producer.New(redisURL, producer.WithProjectID("0b1c2d3e4f"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	order := producer.Order{IdempotencyKey: "batch-2026-11/row-17", Request: request("web-01"), Metadata: map[string]string{"batch": "2026-11"}}
	sub, err := c.Enqueue(ctx, order)
	fmt.Println(sub.Status, sub.TaskID != "", err)

	_, err = c.Enqueue(ctx, order) // safe to repeat: a duplicate, nothing new is enqueued
	fmt.Println(errors.Is(err, producer.ErrDuplicate))

	order.Request = request("web-02") // the same key for another purchase
	_, err = c.Enqueue(ctx, order)
	fmt.Println(errors.Is(err, producer.ErrConflict))

	_, err = c.Enqueue(ctx, producer.Order{Request: json.RawMessage(`{"server_name": "web-03", "count": 11}`)})
	var invalid *producer.InvalidError
	if errors.As(err, &invalid) {
		fmt.Println(invalid.Fields[0])
	}
	// Output:
	// enqueued true <nil>
	// true
	// true
	// request.server_model_name: is required
}

// A batch is taken whole or not at all: one invalid order refuses it, naming the order by index.
func ExampleClient_EnqueueMany() {
	redisURL, stop := exampleRedis()
	defer stop()
	c, err := producer.New(redisURL, producer.WithProjectID("0b1c2d3e4f"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	orders := []producer.Order{{Request: request("web-01")}, {Request: request("web-02")}, {Request: request("web-01")}}
	res, err := c.EnqueueMany(ctx, orders)
	fmt.Printf("enqueued %d, duplicates %d, error %v\n", res.Enqueued, res.Duplicates, err)

	orders = append(orders, producer.Order{Request: json.RawMessage(`{"server_name": "web-04"}`)})
	res, err = c.EnqueueMany(ctx, orders)
	var invalid *producer.InvalidError
	if errors.As(err, &invalid) {
		fmt.Printf("invalid %d of %d: %s\n", res.Invalid, res.Total, invalid.Fields[0])
	}
	// Output:
	// enqueued 2, duplicates 1, error <nil>
	// invalid 1 of 4: orders[3].request.server_model_name: is required
}

// A named batch: its keys are recorded as its members, so that `enqueue batch status nightly`
// (or `batch wait`) follows them; sending the batch again counts each key once.
func ExampleClient_EnqueueBatch() {
	redisURL, stop := exampleRedis()
	defer stop()
	c, err := producer.New(redisURL, producer.WithProjectID("0b1c2d3e4f"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	orders := []producer.Order{{Request: request("night-01")}, {Request: request("night-02")}}
	for range 2 {
		res, err := c.EnqueueBatch(ctx, "nightly", orders)
		fmt.Printf("enqueued %d, duplicates %d, error %v\n", res.Enqueued, res.Duplicates, err)
	}
	// Output:
	// enqueued 2, duplicates 0, error <nil>
	// enqueued 0, duplicates 2, error <nil>
}

// Where an order is: on the queue, not taken by a worker yet (no worker runs here).
func ExampleClient_Status() {
	redisURL, stop := exampleRedis()
	defer stop()
	c, err := producer.New(redisURL, producer.WithProjectID("0b1c2d3e4f"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	if _, err := c.Enqueue(ctx, producer.Order{IdempotencyKey: "row-17", Request: request("web-01")}); err != nil {
		panic(err)
	}
	st, err := c.Status(ctx, "row-17")
	fmt.Println(st.State, st.Done, err)

	_, err = c.Status(ctx, "row-18")
	fmt.Println(errors.Is(err, producer.ErrNotFound))
	// Output:
	// pending false <nil>
	// true
}

// Submit an order and wait for its result; here a worker and the CPH simulator run in-process.
func ExampleClient_Wait() {
	redisURL, stop := exampleRedis()
	defer stop()
	defer startExampleWorker(redisURL)()
	c, err := producer.New(redisURL, producer.WithProjectID("0b1c2d3e4f"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	sub, err := c.Enqueue(ctx, producer.Order{IdempotencyKey: "row-17", Request: request("web-01")})
	if err != nil {
		panic(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := c.Wait(wctx, sub.IdempotencyKey)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("no result yet; the order stays queued")
	case err != nil:
		panic(err)
	case res.Succeeded():
		fmt.Println("bought:", res.OrderID != "", len(res.ServerIDs), "server")
	default:
		fmt.Println("dead-lettered:", res.Error.Class, res.Error.Message)
	}
	// Output: bought: true 1 server
}

// Read an order from its JSON document as strictly as the CLI does.
func ExampleParseOrder() {
	_, err := producer.ParseOrder([]byte(`{"request": {"server_name": "web-01"}, "priority": "high"}`))
	fmt.Println(err)
	// Output: priority: unknown field
}
