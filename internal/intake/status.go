package intake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"cphpurchase/producer"
)

// statusClientClosed is what the log and the metrics record for a request whose client left
// before its answer (nginx's 499); the client is sent nothing.
const statusClientClosed = 499

// status serves GET /v1/orders/{key}: the order's status, and with ?wait=DUR a long poll that
// answers once the order has its result or DUR has passed, whichever comes first.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	wait, p := parseWait(r.URL.Query().Get("wait"))
	if p != nil {
		writeProblem(w, p)
		return
	}
	st, err := s.cfg.Producer.Status(r.Context(), key)
	if err == nil && !st.Done && wait > 0 {
		st, err = s.await(r.Context(), key, wait)
	}
	switch {
	case errors.Is(err, producer.ErrNotFound):
		writeProblem(w, &problem{Status: http.StatusNotFound, Code: codeNotFound, IdempotencyKey: key,
			Detail: "no order of this idempotency key is known: neither queued, nor in the ledger (which keeps a result for 30 days), nor dead-lettered"})
	case err != nil && r.Context().Err() != nil:
		w.WriteHeader(statusClientClosed)
	case err != nil:
		s.cfg.Logger.Error().Err(err).Msg("status failed")
		writeProblem(w, unavailable("the queue's Redis did not answer; ask again"))
	default:
		writeJSON(w, "application/json", http.StatusOK, st)
	}
}

// await waits up to wait for key's result, and less when the intake shuts down, then reads the
// status again: done, or as it stands when the wait ended.
func (s *Server) await(ctx context.Context, key string, wait time.Duration) (producer.Status, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	defer context.AfterFunc(s.draining, cancel)()
	if _, err := s.cfg.Producer.Wait(wctx, key); err != nil && wctx.Err() == nil {
		return producer.Status{}, err
	}
	return s.cfg.Producer.Status(ctx, key)
}

// parseWait reads ?wait=: a Go duration (30s, 1m) of at most MaxWait; absent, no wait.
func parseWait(v string) (time.Duration, *problem) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxWait {
		return 0, &problem{Status: http.StatusBadRequest, Code: codeBadRequest,
			Detail: fmt.Sprintf("wait must be a duration such as 30s, at most %s, got %q", MaxWait, v)}
	}
	return d, nil
}
