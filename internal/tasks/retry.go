package tasks

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hibiken/asynq"
)

// RetryPolicy spaces the attempts of an order: exponential backoff with jitter between RETRY_BASE_DELAY
// and RETRY_MAX_DELAY, or exactly what the failure asked for (Retry-After, a lease running out).
// Zero fields take the contract's defaults, 1s and 5m.
type RetryPolicy struct {
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// retryLater is a handler outcome that asks asynq to try again. A retry that is not counted does not
// consume the order's retry budget: being throttled, waiting for another worker or for
// reconciliation to become conclusive is nobody's failure.
type retryLater struct {
	err     error
	after   time.Duration // 0: use the backoff
	counted bool
}

func (r *retryLater) Error() string { return r.err.Error() }
func (r *retryLater) Unwrap() error { return r.err }

// retryCounted asks for a retry after the backoff, counted against the budget.
func retryCounted(err error) error { return &retryLater{err: err, counted: true} }

// retryUncounted asks for a retry after d, not counted against the budget.
func retryUncounted(err error, d time.Duration) error { return &retryLater{err: err, after: d} }

// IsFailure is asynq's Config.IsFailure: only counted retries consume the budget.
func IsFailure(err error) bool {
	var r *retryLater
	if errors.As(err, &r) {
		return r.counted
	}
	return true
}

// Delay is asynq's Config.RetryDelayFunc.
func (p RetryPolicy) Delay(n int, err error, _ *asynq.Task) time.Duration {
	var r *retryLater
	if errors.As(err, &r) && r.after > 0 {
		// Spread the herd: many orders told "retry after 1s" should not all come back at once.
		return r.after + rand.N(r.after/5+time.Millisecond)
	}
	return p.backoff(n)
}

// backoff is the n-th (from 0) exponential, jittered delay.
func (p RetryPolicy) backoff(n int) time.Duration {
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 5 * time.Minute
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.BaseDelay,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         p.MaxDelay,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	d := b.NextBackOff()
	for i := 0; i < n && d < p.MaxDelay; i++ {
		d = b.NextBackOff()
	}
	return min(d, p.MaxDelay)
}

// Budget is an order's retry budget (MAX_RETRY) and how it travels on its asynq task. The task
// carries one retry more than the budget: a spare delivery in which an order whose last attempt
// crashed still ends with a terminal result of ours, instead of asynq archiving it silently. This
// type is the one place that knows the "+1".
type Budget struct {
	// Max is MAX_RETRY: the counted failures allowed before the order is dead-lettered.
	Max int
	// task is the task's MaxRetry as asynq knows it.
	task int
}

// NewBudget is the budget of MAX_RETRY maxRetry.
func NewBudget(maxRetry int) Budget { return Budget{Max: maxRetry, task: maxRetry + 1} }

// BudgetOfTask is the budget of a task that asynq gives taskMaxRetry retries.
func BudgetOfTask(taskMaxRetry int) Budget {
	return Budget{Max: max(taskMaxRetry-1, 0), task: taskMaxRetry}
}

// TaskMaxRetry is the MaxRetry to give asynq for the task.
func (b Budget) TaskMaxRetry() int { return b.task }

// Final reports whether a counted failure of a delivery after retried counted failures spends
// the budget.
func (b Budget) Final(retried int) bool { return retried >= b.Max }

// Spent reports whether the budget was spent before this delivery: it is the spare one.
func (b Budget) Spent(retried int) bool { return retried > b.Max }

// LastDelivery reports whether asynq archives whatever this delivery returns.
func (b Budget) LastDelivery(retried int) bool { return retried >= b.task }
