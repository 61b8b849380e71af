package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	"cphpurchase/internal/strictjson"
	"cphpurchase/producer"
)

// submit serves POST /v1/orders: one order, the contract's payload. Its idempotency key comes from
// the body or the Idempotency-Key header. Once the body is read the enqueue is finished even if
// the client goes away: a retry of it is then a duplicate, never a second purchase.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	body, p := readBody(w, r, MaxOrderBytes)
	if p != nil {
		writeProblem(w, p)
		return
	}
	o, err := producer.ParseOrder(body)
	var ie *producer.InvalidError
	if errors.As(err, &ie) {
		writeProblem(w, invalidProblem(body, ie))
		return
	}
	if p := keyFromHeader(r, &o); p != nil {
		writeProblem(w, p)
		return
	}
	sub, err := s.cfg.Producer.Enqueue(context.WithoutCancel(r.Context()), o)
	switch {
	case err == nil:
		writeJSON(w, "application/json", http.StatusAccepted, sub)
	case errors.Is(err, producer.ErrDuplicate):
		writeJSON(w, "application/json", http.StatusOK, sub)
	case errors.As(err, &ie):
		writeProblem(w, invalidProblem(body, ie))
	case errors.Is(err, producer.ErrConflict):
		writeProblem(w, &problem{Status: http.StatusConflict, Code: codeConflict, Detail: err.Error(),
			IdempotencyKey: sub.IdempotencyKey, TaskID: sub.TaskID})
	default:
		s.cfg.Logger.Error().Err(err).Msg("enqueue failed")
		writeProblem(w, unavailable("the queue's Redis did not answer; the order may or may not be queued, and submitting it again is safe (a repeat is a duplicate)"))
	}
}

// keyFromHeader puts the Idempotency-Key header, when given, into the order. A header that
// disagrees with the body's key is refused: which one was meant cannot be told.
func keyFromHeader(r *http.Request, o *producer.Order) *problem {
	values := r.Header.Values("Idempotency-Key")
	switch {
	case len(values) == 0 || values[0] == "":
		return nil
	case len(values) > 1:
		return &problem{Status: http.StatusBadRequest, Code: codeBadRequest, Detail: "send one Idempotency-Key header, not several"}
	case o.IdempotencyKey != "" && o.IdempotencyKey != values[0]:
		return &problem{Status: http.StatusBadRequest, Code: codeBadRequest,
			Detail: "the Idempotency-Key header and the body's idempotency_key differ: send the key in one of them, or the same in both"}
	}
	o.IdempotencyKey = values[0]
	return nil
}

// batchRequest is the body of POST /v1/orders:batch.
type batchRequest struct {
	// Name, when given, records the orders' keys as the batch's members (`enqueue batch status
	// NAME` follows them) and fills metadata.batch of the orders that carry none, so that their
	// results can be told apart by batch.
	Name   string           `json:"name,omitempty"`
	Orders []producer.Order `json:"orders"`
}

// batchResponse is what a batch did, named as it was sent.
type batchResponse struct {
	Name string `json:"name,omitempty"`
	producer.BatchResult
}

// submitBatch serves POST /v1/orders:batch: many orders, validated whole before any is enqueued,
// as `enqueue bulk` does. Once validated the batch is enqueued to its end even if the client goes
// away, and what it did is logged; submitting the same batch again is safe.
func (s *Server) submitBatch(w http.ResponseWriter, r *http.Request) {
	body, p := readBody(w, r, MaxBatchBytes)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var req batchRequest
	if p := decodeBatch(body, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if req.Name != "" {
		for i := range req.Orders {
			if _, ok := req.Orders[i].Metadata["batch"]; !ok {
				if req.Orders[i].Metadata == nil {
					req.Orders[i].Metadata = map[string]string{}
				}
				req.Orders[i].Metadata["batch"] = req.Name
			}
		}
	}
	var (
		res producer.BatchResult
		err error
	)
	if ctx := context.WithoutCancel(r.Context()); req.Name != "" {
		res, err = s.cfg.Producer.EnqueueBatch(ctx, req.Name, req.Orders)
	} else {
		res, err = s.cfg.Producer.EnqueueMany(ctx, req.Orders)
	}
	resp := &batchResponse{Name: req.Name, BatchResult: res}
	ev := s.cfg.Logger.Info()
	if err != nil {
		ev = s.cfg.Logger.Warn()
	}
	ev.Str("batch", req.Name).Int("total", res.Total).Int("enqueued", res.Enqueued).
		Int("duplicates", res.Duplicates).Int("conflicts", res.Conflicts).Int("invalid", res.Invalid).
		Bool("client_gone", r.Context().Err() != nil).AnErr("error", err).Msg("batch")
	var ie *producer.InvalidError
	switch {
	case err == nil && res.Enqueued > 0:
		writeJSON(w, "application/json", http.StatusAccepted, resp)
	case err == nil:
		writeJSON(w, "application/json", http.StatusOK, resp)
	case errors.As(err, &ie):
		p := invalidProblem(body, ie)
		p.Detail = fmt.Sprintf("%d of %d orders are invalid; nothing was enqueued", res.Invalid, res.Total)
		p.Batch = resp
		writeProblem(w, p)
	case errors.Is(err, producer.ErrConflict):
		writeProblem(w, &problem{Status: http.StatusConflict, Code: codeConflict, Detail: err.Error(), Batch: resp})
	default:
		p := unavailable(fmt.Sprintf("the queue's Redis failed after %d of %d orders; batch says what was done, and submitting the batch again is safe (what was enqueued is then a duplicate)",
			res.Enqueued+res.Duplicates+res.Conflicts, res.Total))
		p.Batch = resp
		writeProblem(w, p)
	}
}

// decodeBatch decodes a batch's body as strictly as an order's, and checks its size and name.
// The orders' requests and rules are checked by EnqueueMany, with the same paths.
func decodeBatch(body []byte, req *batchRequest) *problem {
	var fields []producer.FieldError
	var fes strictjson.FieldErrors
	if err := strictjson.Decode(body, "", req); errors.As(err, &fes) {
		for _, fe := range fes {
			fields = append(fields, producer.FieldError{Path: fe.Path, Message: fe.Message})
		}
	}
	switch {
	case fields != nil:
	case len(req.Orders) == 0:
		fields = append(fields, producer.FieldError{Path: "orders", Message: "must hold at least one order"})
	case len(req.Orders) > MaxBatchOrders:
		fields = append(fields, producer.FieldError{Path: "orders", Message: fmt.Sprintf("must hold at most %d orders, got %d", MaxBatchOrders, len(req.Orders))})
	}
	if len(req.Name) > producer.MaxBatchNameBytes || !utf8.ValidString(req.Name) {
		fields = append(fields, producer.FieldError{Path: "name", Message: fmt.Sprintf("must be at most %d bytes of UTF-8", producer.MaxBatchNameBytes)})
	}
	if fields == nil {
		return nil
	}
	p := invalidProblem(body, &producer.InvalidError{Fields: fields})
	if p.Status == http.StatusUnprocessableEntity {
		total := countOrders(body)
		p.Batch = &batchResponse{Name: req.Name, BatchResult: producer.BatchResult{Total: total, Invalid: invalidOrders(fields), Orders: make([]producer.Submission, total)}}
		p.Detail = "the batch is invalid; nothing was enqueued"
	}
	return p
}

// countOrders counts the orders of a batch body that is JSON but broke the rules.
func countOrders(body []byte) int {
	var lenient struct {
		Orders []json.RawMessage `json:"orders"`
	}
	_ = json.Unmarshal(body, &lenient)
	return len(lenient.Orders)
}

var orderIndex = regexp.MustCompile(`^orders\[(\d+)\]`)

// invalidOrders counts the orders that fields name.
func invalidOrders(fields []producer.FieldError) int {
	seen := map[string]bool{}
	for _, f := range fields {
		if m := orderIndex.FindString(f.Path); m != "" {
			seen[m] = true
		}
	}
	return len(seen)
}
