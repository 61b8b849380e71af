package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
)

// credentials is what the worker knows of its CPH credentials: how to check them at start, and
// the watcher that holds the queue while the API refuses them (tasks.CredentialWatcher).
type credentials struct {
	// source names the setting the credentials come from, for messages: CPH_TOKEN,
	// CPH_TOKEN_FILE or IAM_*.
	source  string
	api     tasks.API
	project string
	watcher *tasks.CredentialWatcher
}

// newCredentials builds the worker's credentials and registers cph_purchase_credentials_refused.
func newCredentials(cfg config, api tasks.API, op *tasks.Operator, reg prometheus.Registerer, log zerolog.Logger) (*credentials, error) {
	c := &credentials{source: cfg.credentialSource(), api: api, project: cfg.ProjectID}
	c.watcher = tasks.NewCredentialWatcher(tasks.CredentialWatcherConfig{
		API: api, ProjectID: cfg.ProjectID, Operator: op, Logger: log.With().Str("component", "credentials").Logger(),
	})
	if err := reg.Register(c.watcher); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}

// credentialSource names the setting the configured credentials come from.
func (c *config) credentialSource() string {
	switch {
	case c.Token != "":
		return "CPH_TOKEN"
	case c.TokenFile != "":
		return "CPH_TOKEN_FILE"
	}
	return "IAM_USERNAME/IAM_PASSWORD/IAM_DOMAIN"
}

// checkAtStart refuses to start (a usageError, exit 2) when the API refuses the credentials: one
// read call of CPH_PROJECT_ID's server list, the token fetched for it (IAM refusing the password
// counts). An API or IAM that cannot be reached, or that fails, says nothing about the
// credentials: the worker starts, says so, and the watcher holds the queue should a purchase be
// refused. Without CPH_PROJECT_ID there is no project to read, and only a token file was checked
// (config.tokenSource; IAM needs the project, a static token has nothing to read). timeout bounds
// the check.
func (c *credentials) checkAtStart(ctx context.Context, timeout time.Duration, log zerolog.Logger) error {
	if c.project == "" {
		log.Info().Str("credentials", c.source).Msg("credentials not checked against the API: CPH_PROJECT_ID names no project to read")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := tasks.CheckCredentials(ctx, c.api, c.project)
	switch {
	case err == nil:
		log.Info().Str("credentials", c.source).Str("project_id", c.project).Msg("credentials accepted by the CPH API")
	case tasks.CredentialsRefused(err):
		return usageError{fmt.Errorf("%s: the credentials are refused: %v; fix them and start again", c.source, err)}
	default:
		log.Warn().Err(err).Str("credentials", c.source).Msg("credentials could not be checked at start (the API or IAM is unreachable or failing); starting anyway: a refused purchase holds the queue until they work")
	}
	return nil
}

// ready fails /readyz, with the reason, while the API refuses the credentials.
func (c *credentials) ready() error {
	if reason := c.watcher.Refused(); reason != "" {
		return errors.New(reason)
	}
	return nil
}

// watch runs the watcher until ctx ends; the returned function waits for it to stop.
func (c *credentials) watch(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() { c.watcher.Run(ctx); close(done) }()
	return func() { <-done }
}

// preflight checks, after the probes are served and before any order is taken, what would make
// every order fail: Redis refusing the database REDIS_URL names, and refused credentials (both
// exit 2). A Redis that is not reachable yet is only a warning: the worker keeps trying.
func (w *worker) preflight(ctx context.Context) error {
	err := w.rdb.Ping(ctx).Err()
	switch {
	case redisconn.NoSuchDatabase(err):
		err = usageError{fmt.Errorf("REDIS_URL names a database this Redis does not have (%w): use one below its `databases` setting, e.g. /0", err)}
	case err != nil:
		w.log.Warn().Err(err).Msg("Redis is not reachable yet; the worker keeps trying and is not ready until it is")
		err = nil
	}
	if err == nil {
		err = w.creds.checkAtStart(ctx, 2*w.cfg.Timeout, w.log)
	}
	if err != nil && w.http != nil {
		_ = w.http.Close()
	}
	return err
}
