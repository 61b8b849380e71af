package tasks

// Ended reports whether the record holds its key's terminal result for the current run: what
// Await waits for, and what the producers' status calls "done". A replay reopens a failed key and
// a reopened key has no result, so a result that is there is the current run's.
func (e Entry) Ended() bool {
	return (e.State == StateSucceeded || e.State == StateFailed) && len(e.Result) > 0
}
