package producer_test

import (
	"github.com/alicebob/miniredis/v2"

	"cphpurchase/internal/testkit/inproc"
	"cphpurchase/producer"
)

// exampleRedis is an in-process Redis for an example, and what stops it.
func exampleRedis() (url string, stop func()) {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	return "redis://" + m.Addr() + "/0", m.Close
}

// startExampleWorker runs a worker and the CPH simulator in-process on the defaults' queue and
// stream of the Redis at url, and returns what stops them.
func startExampleWorker(url string) (stop func()) {
	w, err := inproc.Start(inproc.Config{RedisURL: url, Queue: producer.DefaultQueue, ResultsStream: producer.DefaultResultsStream})
	if err != nil {
		panic(err)
	}
	return w.Close
}
