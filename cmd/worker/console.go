package main

import (
	"net/http"

	"github.com/rs/zerolog"

	"cphpurchase/internal/console"
	"cphpurchase/internal/loopback"
	"cphpurchase/internal/tasks"
)

// mountConsole serves the operator console under /console/ next to the probes on HTTP_ADDR, so an
// operator reaches it wherever a worker runs. When HTTP_ADDR is reachable beyond this machine (as
// Kubernetes probes need) and CONSOLE_TOKEN is not set, it serves no console and says so: a replay
// buys servers, and the probes and metrics must not be held hostage to the console's setting.
func mountConsole(mux *http.ServeMux, cfg config, op *tasks.Operator, log zerolog.Logger) error {
	if cfg.ConsoleToken == "" && !loopback.Addr(cfg.HTTPAddr) {
		log.Warn().Str("addr", cfg.HTTPAddr).Msg("operator console not served: HTTP_ADDR is reachable beyond this machine; set CONSOLE_TOKEN to serve it behind that token")
		return nil
	}
	c, err := console.New(console.Config{
		Operator: op,
		Auth:     console.Auth{Addr: cfg.HTTPAddr, Token: cfg.ConsoleToken},
	})
	if err != nil {
		return err
	}
	mux.Handle(console.BasePath, c)
	log.Info().Str("addr", cfg.HTTPAddr).Str("path", console.BasePath).Bool("token_required", cfg.ConsoleToken != "").Msg("operator console")
	return nil
}
