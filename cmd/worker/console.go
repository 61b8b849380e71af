package main

import (
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"cphpurchase/internal/console"
	"cphpurchase/internal/tasks"
)

// mountConsole serves the operator console under /console/ next to the probes on HTTP_ADDR, so an
// operator reaches it wherever a worker runs. It fails, with what to set, when HTTP_ADDR is not
// loopback and CONSOLE_TOKEN is not set: a replay buys servers.
func mountConsole(mux *http.ServeMux, cfg config, rdb redis.UniversalClient, log zerolog.Logger) error {
	keys := tasks.NewKeys(cfg.ResultsStream)
	ledger := tasks.NewLedger(rdb, keys, 0)
	c, err := console.New(console.Config{
		Redis:       rdb,
		Inspector:   asynq.NewInspectorFromRedisClient(rdb),
		Ledger:      ledger,
		DeadLetters: tasks.NewDeadLetters(rdb, keys),
		Producer: tasks.NewProducer(tasks.ProducerConfig{
			Client: asynq.NewClientFromRedisClient(rdb), Ledger: ledger, Queue: cfg.Queue, MaxRetry: cfg.MaxRetry,
		}),
		Queue:         cfg.Queue,
		ResultsStream: cfg.ResultsStream,
		Auth:          console.Auth{Addr: cfg.HTTPAddr, Token: cfg.ConsoleToken},
	})
	if err != nil {
		return err
	}
	mux.Handle(console.BasePath, c)
	log.Info().Str("addr", cfg.HTTPAddr).Str("path", console.BasePath).Bool("token_required", cfg.ConsoleToken != "").Msg("operator console")
	return nil
}
