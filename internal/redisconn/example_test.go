package redisconn_test

import (
	"fmt"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/redisconn"
)

// A REDIS_URL becomes asynq's options, its percent-encoded password decoded; a malformed one is
// refused with a message that names what is wrong and never repeats the URL or its password.
func ExampleParseURL() {
	opt, err := redisconn.ParseURL("redis://worker:p%40ss@redis.internal:6380/1")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := opt.(asynq.RedisClientOpt)
	fmt.Println(c.Addr, c.Username, c.Password, c.DB)

	sentinel, _ := redisconn.ParseURL("redis-sentinel://:pw@s1,s2:26380/0?master=ledger")
	s := sentinel.(asynq.RedisFailoverClientOpt)
	fmt.Println(s.MasterName, s.SentinelAddrs)

	_, err = redisconn.ParseURL("redis://:s3cret@redis.internal:6380/ledger")
	fmt.Println(err)
	// Output:
	// redis.internal:6380 worker p@ss 1
	// ledger [s1:26379 s2:26380]
	// REDIS_URL: the path must be a database number, e.g. /0
}
