package console

import (
	"net/http"

	"cphpurchase/internal/tasks"
)

// batchesShown is how many of the newest batches the batches page lists.
const batchesShown = 50

// batchesView lists the newest batches with their progress, as `enqueue batch status` counts it.
type batchesView struct {
	frame
	Errors  []string
	Batches []batchRow
}

// batchRow is one batch: its counts, and how far it is to ready (final counts every key that
// will move no more: ready, failed, timed out or dead-lettered).
type batchRow struct {
	tasks.BatchSummary
	Ready, Final, Percent int
	DeadLettered          int
}

// batches lists the newest batches, newest first, with their progress to ready.
func (c *Console) batches(w http.ResponseWriter, r *http.Request) {
	f, ok := c.refreshingFrame(w, r, "Batches")
	if !ok {
		return
	}
	v := batchesView{frame: f}
	list, err := c.op.Batches(r.Context(), batchesShown)
	if err != nil {
		v.Errors = append(v.Errors, "batches: "+err.Error())
	}
	for _, b := range list {
		row := batchRow{BatchSummary: b}
		row.Ready, row.Final = tasks.UntilReady.Progress(b.Counts)
		for _, n := range b.Counts.DeadLettered {
			row.DeadLettered += n
		}
		if b.Counts.Total > 0 {
			row.Percent = 100 * row.Final / b.Counts.Total
		}
		v.Batches = append(v.Batches, row)
	}
	c.render(w, http.StatusOK, "batches", v)
}
