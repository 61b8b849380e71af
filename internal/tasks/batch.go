package tasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// MaxBatchNameBytes bounds a batch name, as MaxKeyBytes bounds an idempotency key.
const MaxBatchNameBytes = 128

// BatchState is where one key of a batch stands, as `enqueue batch status` counts it.
type BatchState string

// Batch states, in the order a key goes through them.
const (
	BatchQueued          BatchState = "queued" // on the queue, not taken by a worker yet
	BatchBuying          BatchState = "buying" // a worker holds it, or it waits for a retry
	BatchBought          BatchState = "bought" // bought; its lifecycle not followed yet (or tracking is off)
	BatchAwaitingPayment BatchState = "awaiting_payment"
	BatchCreating        BatchState = "creating"
	BatchReady           BatchState = "ready"
	BatchFailed          BatchState = "failed"    // bought, but a server or phone failed
	BatchTimedOut        BatchState = "timed_out" // bought, not ready by READINESS_DEADLINE
	BatchDeadLettered    BatchState = "dead_lettered"
)

// BatchCounts are the keys of a batch by state; every key is in exactly one.
type BatchCounts struct {
	Total           int `json:"total"`
	Queued          int `json:"queued"`
	Buying          int `json:"buying"`
	Bought          int `json:"bought"`
	AwaitingPayment int `json:"awaiting_payment"`
	Creating        int `json:"creating"`
	Ready           int `json:"ready"`
	Failed          int `json:"failed"`
	TimedOut        int `json:"timed_out"`
	// DeadLettered counts the dead-lettered keys by class.
	DeadLettered map[ErrorClass]int `json:"dead_lettered"`
}

// BatchMember is one key of a batch and where it stands.
type BatchMember struct {
	IdempotencyKey string     `json:"idempotency_key"`
	State          BatchState `json:"state"`
	// Class is a dead-lettered key's class; Reason why a bought one failed or timed out.
	Class  ErrorClass `json:"class,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

// BatchReport is a batch as it stands: its counts, and every member (sorted by key).
type BatchReport struct {
	Name    string        `json:"batch"`
	Counts  BatchCounts   `json:"counts"`
	Members []BatchMember `json:"-"`
}

// CheckBatchName refuses a batch name that is empty, longer than MaxBatchNameBytes or not UTF-8.
func CheckBatchName(name string) error {
	switch {
	case name == "":
		return errors.New("batch name must not be empty")
	case len(name) > MaxBatchNameBytes:
		return fmt.Errorf("batch name must be at most %d bytes, got %d", MaxBatchNameBytes, len(name))
	case !utf8.ValidString(name):
		return errors.New("batch name must be valid UTF-8")
	}
	return nil
}

// AddToBatch records the idempotency keys as members of batch name. A key added again, by a second
// run of the same file, counts once. Record the keys before enqueueing them, so that a run cut
// short leaves no enqueued key outside its batch.
func (o *Operator) AddToBatch(ctx context.Context, name string, keys []string) error {
	if err := CheckBatchName(name); err != nil {
		return err
	}
	return addToBatch(ctx, o.rdb, o.keys, name, keys, time.Now())
}

// Batch reports where each key of batch name stands. It returns ErrNotFound when no key was ever
// recorded under the name.
func (o *Operator) Batch(ctx context.Context, name string) (BatchReport, error) {
	if err := CheckBatchName(name); err != nil {
		return BatchReport{}, err
	}
	keys, err := batchMembers(ctx, o.rdb, o.keys, name)
	if err != nil {
		return BatchReport{}, err
	}
	if len(keys) == 0 {
		return BatchReport{}, notFound(fmt.Sprintf("no batch named %q", name))
	}
	slices.Sort(keys)
	states, err := memberStates(ctx, o.rdb, o.keys, keys)
	if err != nil {
		return BatchReport{}, err
	}
	rep := BatchReport{Name: name, Counts: BatchCounts{Total: len(keys), DeadLettered: map[ErrorClass]int{}}, Members: make([]BatchMember, len(keys))}
	for i, k := range keys {
		m := BatchMember{IdempotencyKey: k, State: states[i].batchState(), Class: states[i].class, Reason: states[i].reason}
		rep.Members[i] = m
		rep.Counts.add(m)
	}
	return rep, nil
}

// BatchSummary is one batch in the list of batches: its counts, without its members.
type BatchSummary struct {
	Name     string      `json:"batch"`
	Recorded time.Time   `json:"recorded_at"`
	Counts   BatchCounts `json:"counts"`
}

// Batches lists the newest batches, at most limit, newest first, each with its counts (what
// `enqueue batch status` prints for one). A batch whose members have all expired is left out.
func (o *Operator) Batches(ctx context.Context, limit int) ([]BatchSummary, error) {
	names, at, err := batchNames(ctx, o.rdb, o.keys, limit)
	if err != nil {
		return nil, err
	}
	out := make([]BatchSummary, 0, len(names))
	for i, name := range names {
		rep, err := o.Batch(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, BatchSummary{Name: name, Recorded: at[i], Counts: rep.Counts})
	}
	return out, nil
}

// batchState is the one state a key is counted in.
func (s memberState) batchState() BatchState {
	switch s.ledger {
	case "", StatePending:
		return BatchQueued
	case StateSubmitting:
		return BatchBuying
	case StateFailed:
		return BatchDeadLettered
	}
	switch s.lifecycle {
	case LifecycleAwaitingPayment:
		return BatchAwaitingPayment
	case LifecycleCreating:
		return BatchCreating
	case LifecycleReady:
		return BatchReady
	case LifecycleFailed:
		return BatchFailed
	case LifecycleTimedOut:
		return BatchTimedOut
	}
	return BatchBought // no record yet, or ordered
}

func (c *BatchCounts) add(m BatchMember) {
	switch m.State {
	case BatchQueued:
		c.Queued++
	case BatchBuying:
		c.Buying++
	case BatchBought:
		c.Bought++
	case BatchAwaitingPayment:
		c.AwaitingPayment++
	case BatchCreating:
		c.Creating++
	case BatchReady:
		c.Ready++
	case BatchFailed:
		c.Failed++
	case BatchTimedOut:
		c.TimedOut++
	case BatchDeadLettered:
		c.DeadLettered[m.Class]++
	}
}

// BatchGoal is what `enqueue batch wait --until` waits for.
type BatchGoal string

// Batch goals.
const (
	// UntilBought: every key bought (whatever its lifecycle since) or dead-lettered.
	UntilBought BatchGoal = "bought"
	// UntilReady: every key ready, or ended otherwise (dead-lettered, failed, timed out).
	UntilReady BatchGoal = "ready"
)

// ParseBatchGoal reads --until.
func ParseBatchGoal(s string) (BatchGoal, error) {
	switch g := BatchGoal(s); g {
	case UntilBought, UntilReady:
		return g, nil
	}
	return "", fmt.Errorf("must be %q or %q, got %q", UntilBought, UntilReady, s)
}

// Reached reports whether a key in state s has reached the goal.
func (g BatchGoal) Reached(s BatchState) bool {
	switch s {
	case BatchQueued, BatchBuying, BatchDeadLettered:
		return false
	case BatchBought, BatchAwaitingPayment, BatchCreating:
		return g == UntilBought
	case BatchFailed, BatchTimedOut:
		return g == UntilBought
	}
	return true // ready
}

// Final reports whether a key in state s can no longer change as far as the goal is concerned: it
// reached it, or ended otherwise.
func (g BatchGoal) Final(s BatchState) bool {
	switch s {
	case BatchDeadLettered, BatchFailed, BatchTimedOut, BatchReady:
		return true
	case BatchBought, BatchAwaitingPayment, BatchCreating:
		return g == UntilBought
	}
	return false
}

// Progress is how many keys counted in c reached the goal, and how many are final.
func (g BatchGoal) Progress(c BatchCounts) (reached, final int) {
	for state, n := range c.byState() {
		if g.Reached(state) {
			reached += n
		}
		if g.Final(state) {
			final += n
		}
	}
	return reached, final
}

// byState is the counts by BatchState, the dead-lettered of every class together.
func (c BatchCounts) byState() map[BatchState]int {
	dead := 0
	for _, n := range c.DeadLettered {
		dead += n
	}
	return map[BatchState]int{
		BatchQueued: c.Queued, BatchBuying: c.Buying, BatchBought: c.Bought,
		BatchAwaitingPayment: c.AwaitingPayment, BatchCreating: c.Creating, BatchReady: c.Ready,
		BatchFailed: c.Failed, BatchTimedOut: c.TimedOut, BatchDeadLettered: dead,
	}
}
