package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph"
)

// LifecycleState is where a bought order stands on its way to usable phones, in the order an
// operator reads them: ordered → awaiting_payment → creating → ready | failed | timed_out.
type LifecycleState string

// Lifecycle states.
const (
	// LifecycleOrdered: bought, not looked at yet (or the BSS order is being processed).
	LifecycleOrdered LifecycleState = "ordered"
	// LifecycleAwaitingPayment: an order placed without auto-pay that its customer has not paid;
	// it creates nothing until paid.
	LifecycleAwaitingPayment LifecycleState = "awaiting_payment"
	// LifecycleCreating: its servers, or their phones, are being created.
	LifecycleCreating LifecycleState = "creating"
	// LifecycleReady: every server and every phone of the order is created. Terminal.
	LifecycleReady LifecycleState = "ready"
	// LifecycleFailed: a server ended abnormal or is gone, a phone failed creation, or the BSS
	// order was cancelled. Terminal.
	LifecycleFailed LifecycleState = "failed"
	// LifecycleTimedOut: not ready when the deadline (READINESS_DEADLINE) passed. Terminal.
	LifecycleTimedOut LifecycleState = "timed_out"
)

// Terminal reports whether the state ends the order's lifecycle: its one readiness event is out.
func (s LifecycleState) Terminal() bool {
	return s == LifecycleReady || s == LifecycleFailed || s == LifecycleTimedOut
}

// Readiness is an order's lifecycle record: what `enqueue status` shows as "readiness", and, once
// terminal, the order's one event on the readiness stream.
type Readiness struct {
	IdempotencyKey string         `json:"idempotency_key"`
	ProjectID      string         `json:"project_id"`
	OrderID        string         `json:"order_id"`
	State          LifecycleState `json:"state"`
	// Reason says why the order failed or timed out.
	Reason string `json:"reason,omitempty"`
	// Payment is the BSS order's payment, when it was read (orders without auto-pay).
	Payment     cph.Payment       `json:"payment,omitempty"`
	Servers     []ServerReadiness `json:"servers"`
	PurchasedAt time.Time         `json:"purchased_at"`
	// Checks counts the looks taken so far; CheckedAt is the last.
	Checks     int               `json:"checks"`
	CheckedAt  *time.Time        `json:"checked_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// ServerReadiness is one server of the order as the last look saw it.
type ServerReadiness struct {
	ServerID string `json:"server_id"`
	// Status is the API's server status (cph.ServerPhase reads it); absent until it was read.
	Status *int `json:"status,omitempty"`
	// State is the server's own: creating, ready (it and all its phones created) or failed.
	State  LifecycleState   `json:"state"`
	Reason string           `json:"reason,omitempty"`
	Phones []PhoneReadiness `json:"phones,omitempty"`
}

// PhoneReadiness is one phone of a server; Status is the API's (cph.PhonePhase reads it).
type PhoneReadiness struct {
	PhoneID string `json:"phone_id"`
	Status  int    `json:"status"`
}

// ReadinessStore keeps the lifecycle records (Keys.Readiness) and writes the readiness stream
// (Keys.ReadinessStream). A record is changed only by readinessWriteScript, which never changes a
// terminal one: that is what makes the event one per order, however many deliveries of a tracking
// task race.
type ReadinessStore struct {
	rdb          redis.UniversalClient
	keys         Keys
	ttl          time.Duration
	streamMaxLen int64
}

// NewReadinessStore returns the store on rdb. Records are kept LedgerRetention after their last
// change, as the ledger keeps the purchase.
func NewReadinessStore(rdb redis.UniversalClient, keys Keys) *ReadinessStore {
	return &ReadinessStore{rdb: rdb, keys: keys, ttl: LedgerRetention, streamMaxLen: 1_000_000}
}

// Stream is the readiness stream's name.
func (s *ReadinessStore) Stream() string { return s.keys.ReadinessStream() }

// Get returns the key's record, or ok false when there is none (not bought, bought while tracking
// was off, or not scheduled yet).
func (s *ReadinessStore) Get(ctx context.Context, key string) (r Readiness, ok bool, err error) {
	raw, err := s.rdb.HGet(ctx, s.keys.Readiness(key), "record").Result()
	if errors.Is(err, redis.Nil) {
		return Readiness{}, false, nil
	}
	if err != nil {
		return Readiness{}, false, fmt.Errorf("readiness get: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Readiness{}, false, fmt.Errorf("readiness get: a record that does not decode: %w", err)
	}
	return r, true, nil
}

// The modes of readinessWriteScript.
const (
	writeStart  = "start"  // only where there is no record yet
	writeUpdate = "update" // a state on the way
	writeFinish = "finish" // the terminal state, with its event on the stream
)

// write runs readinessWriteScript and returns the record as stored, and whether r was written.
func (s *ReadinessStore) write(ctx context.Context, r Readiness, mode string) (Readiness, bool, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return r, false, fmt.Errorf("readiness %s: %w", mode, err)
	}
	res, err := readinessWriteScript.Run(ctx, s.rdb, []string{s.keys.Readiness(r.IdempotencyKey), s.keys.ReadinessStream()},
		string(r.State), body, mode, s.ttl.Milliseconds(), s.streamMaxLen, r.IdempotencyKey).Slice()
	if err != nil {
		return r, false, fmt.Errorf("readiness %s: %w", mode, err)
	}
	if n, _ := res[0].(int64); n == 1 {
		return r, true, nil
	}
	var stored Readiness
	raw, _ := res[1].(string)
	if err := json.Unmarshal([]byte(raw), &stored); err != nil {
		return r, false, fmt.Errorf("readiness %s: a stored record that does not decode: %w", mode, err)
	}
	return stored, false, nil
}

// Start records a bought order as ordered, unless it has a record already; it returns the record
// as stored.
func (s *ReadinessStore) Start(ctx context.Context, r Readiness) (Readiness, error) {
	stored, _, err := s.write(ctx, r, writeStart)
	return stored, err
}

// Update records a state on the way; written is false (and stored the record) when the order's
// lifecycle has ended already.
func (s *ReadinessStore) Update(ctx context.Context, r Readiness) (stored Readiness, written bool, err error) {
	return s.write(ctx, r, writeUpdate)
}

// Finish records the terminal state and publishes the order's one readiness event; first is false
// (and stored the earlier record) when another delivery ended it first.
func (s *ReadinessStore) Finish(ctx context.Context, r Readiness) (stored Readiness, first bool, err error) {
	if !r.State.Terminal() {
		return r, false, fmt.Errorf("readiness finish: %s is not a terminal state", r.State)
	}
	return s.write(ctx, r, writeFinish)
}

// States returns each key's lifecycle state ("" when it has no record), in one round trip.
func (s *ReadinessStore) States(ctx context.Context, keys []string) ([]LifecycleState, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGet(ctx, s.keys.Readiness(k), "state")
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("readiness states: %w", err)
	}
	out := make([]LifecycleState, len(keys))
	for i, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("readiness states: %w", err)
		}
		out[i] = LifecycleState(c.Val())
	}
	return out, nil
}

// ReadinessEvent is one entry of the readiness stream.
type ReadinessEvent struct {
	ID             string          `json:"id"`
	IdempotencyKey string          `json:"idempotency_key"`
	State          LifecycleState  `json:"state"`
	Event          json.RawMessage `json:"event"`
}

// Events returns the readiness stream's entries after from ("" or "0": from the start), at most
// count (all when 0), oldest first.
func (s *ReadinessStore) Events(ctx context.Context, from string, count int64) ([]ReadinessEvent, error) {
	start := "-"
	if from != "" && from != "0" {
		start = "(" + from
	}
	var msgs []redis.XMessage
	var err error
	if count > 0 {
		msgs, err = s.rdb.XRangeN(ctx, s.keys.ReadinessStream(), start, "+", count).Result()
	} else {
		msgs, err = s.rdb.XRange(ctx, s.keys.ReadinessStream(), start, "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("read readiness stream: %w", err)
	}
	out := make([]ReadinessEvent, len(msgs))
	for i, m := range msgs {
		out[i].ID = m.ID
		out[i].IdempotencyKey, _ = m.Values["idempotency_key"].(string)
		state, _ := m.Values["state"].(string)
		out[i].State = LifecycleState(state)
		if e, _ := m.Values["event"].(string); e != "" {
			out[i].Event = json.RawMessage(e)
		}
	}
	return out, nil
}
