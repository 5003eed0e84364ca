package main

import (
	"context"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/internal/notify"
)

// notifyWait bounds how long a one-shot command waits, after its work, for
// notifications still being delivered (with their retries).
const notifyWait = 2 * time.Minute

// notifyBackup sends the job's start notification (in the background) and
// returns the function that sends its result. Neither ever fails nor
// blocks the backup.
func (rt *opsRuntime) notifyBackup(ctx context.Context, job backup.Job) (done func(m *catalog.Manifest, err error)) {
	if rt.notes == nil {
		return func(*catalog.Manifest, error) {}
	}
	cfg := notify.Merge(rt.cfg.Notify, job.Notify)
	start := time.Now()
	rt.notes.Send(ctx, cfg, notify.Event{Kind: "backup", Job: job.Name, Result: notify.Start, Started: start})
	return func(m *catalog.Manifest, err error) {
		ev := notify.Event{Kind: "backup", Job: job.Name, Result: notify.Success, Started: start,
			Duration: time.Since(start).Seconds()}
		if m != nil {
			ev.BackupID, ev.Size = m.ID, m.Object.Size
		}
		if err != nil {
			ev.Result, ev.Error = notify.Failure, errorText(err)
		}
		rt.notes.Send(ctx, cfg, ev)
	}
}

// waitNotifications lets the deliveries in flight finish before the
// process exits (bounded by notifyWait).
func (rt *opsRuntime) waitNotifications() {
	if rt == nil || rt.notes == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyWait)
	defer cancel()
	rt.notes.Wait(ctx)
}
