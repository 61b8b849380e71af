package tasks_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/strictjson"
	"cphpurchase/internal/tasks"
)

// An order is decoded strictly (an unknown field or a wrong type is an error with its JSON path)
// and then validated whole: every broken rule comes back at once, as `enqueue validate` prints them.
func ExampleDecodeOrder() {
	payload := []byte(`{"project_id": "0b1c2d3e4f", "request": {
		"server_name": "web", "server_model_name": "physical.kg1.4xlarge.cp", "phone_model_name": "kg1.cp.c20.x1",
		"image_id": "3a8e1b2f", "count": 11,
		"ports": [{"name": "adb", "listen_port": 20000, "internet_accessible": "false"}],
		"extend_param": {"charging_mode": 0, "period_type": 2, "period_num": 1, "is_auto_pay": 1},
		"tenant_vpc_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		"nics": [{"subnet_id": "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"}],
		"public_ip": {"eip": {"type": "5_bgp"}},
		"band_width": {"band_width_charge_mode": 0, "band_width_share_type": 0, "band_width_size": 10}}}`)
	o, err := tasks.DecodeOrder(payload)
	if err == nil {
		err = o.Validate()
	}
	var fields strictjson.FieldErrors
	if errors.As(err, &fields) {
		for _, f := range fields {
			fmt.Println(f)
		}
	}
	// Output:
	// request.count: must be between 1 and 10, got 11
	// request.ports[0].name: must not be "adb" or "vnc"
}

// A producer puts an order on the queue under a task id derived from its idempotency key; the
// same purchase again is a duplicate, and the key with another purchase is a conflict.
func ExampleProducer_Enqueue() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ledger := tasks.NewLedger(rdb, tasks.NewKeys("cph:purchase:results"), 0)
	p := tasks.NewProducer(tasks.ProducerConfig{
		Client: asynq.NewClientFromRedisClient(rdb), Inspector: asynq.NewInspectorFromRedisClient(rdb),
		Ledger: ledger, Queue: "cph-purchase", MaxRetry: 10,
	})
	order := func(name string) *tasks.Order {
		return &tasks.Order{IdempotencyKey: "batch-7/row-3", ProjectID: "0b1c2d3e4f", Request: cph.ExampleRequest(name)}
	}
	ctx := context.Background()
	for _, name := range []string{"web-1", "web-1", "web-2"} {
		res, err := p.Enqueue(ctx, order(name))
		fmt.Println(res.Status, res.TaskID, errors.Is(err, tasks.ErrKeyConflict))
	}
	// Output:
	// enqueued cph-2ba2ba68467a51fe0ca5f893c1440be6 false
	// duplicate cph-2ba2ba68467a51fe0ca5f893c1440be6 false
	// conflict cph-2ba2ba68467a51fe0ca5f893c1440be6 true
}
