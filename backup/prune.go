package backup

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
)

// PruneOptions configure retention for one job.
type PruneOptions struct {
	Job      Job
	Store    storage.Store
	DryRun   bool
	Location *time.Location // calendar for daily/weekly/monthly; time.Local when nil
	Logger   *slog.Logger
	// PartialGrace protects backups that may still be running: partial
	// backups and orphaned parts younger than this are left alone.
	PartialGrace time.Duration
	Now          func() time.Time
	// Kept, when set, runs once the decisions are made and before anything
	// is deleted, with the complete backups kept (newest first), the grace
	// period and the time prune works at: point-in-time recovery prunes the
	// job's binary log archive there, down to what the kept backups need
	// (pitr.Prune). An error stops the prune before it deletes anything.
	Kept func(ctx context.Context, kept []*catalog.BackupInfo, grace time.Duration, now time.Time) error
}

// PruneResult says what prune kept and removed.
type PruneResult struct {
	Decisions []Decision // complete backups, newest first
	Partial   []string   // IDs of partial and corrupt backups removed (or that would be)
	Untrusted []string   // IDs of untrusted backups (never removed by prune)
	Orphans   []string   // leftover parts removed (or that would be)
	Deleted   []string   // every object deleted
}

// Prune applies the job's retention to its complete backups, removes
// partial backups and orphaned parts older than the grace period, and never
// removes the newest complete backup. With DryRun nothing is deleted.
func Prune(ctx context.Context, o PruneOptions) (*PruneResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	grace := o.PartialGrace
	if grace == 0 {
		grace = 6 * time.Hour
	}
	list, err := ListBackups(ctx, o.Store, o.Job, true)
	if err != nil {
		return nil, err
	}
	var snaps []Snapshot
	byID := map[string]*catalog.BackupInfo{}
	res := &PruneResult{}
	for _, b := range list {
		byID[b.ID] = b
		switch {
		case b.Complete:
			snaps = append(snaps, Snapshot{ID: b.ID, Time: b.StartedAt})
		case b.Status == catalog.StatusUntrusted:
			// Never deleted by retention: adding a manifest key to a job
			// makes its older backups untrusted, and tampering is
			// evidence. They are reported; delete them by hand.
			res.Untrusted = append(res.Untrusted, b.ID)
			log.Warn("backup is untrusted: left alone by prune", "job", o.Job.Name, "id", b.ID, "problem", b.Problem)
		case now().Sub(b.StartedAt) > grace: // partial or corrupt
			res.Partial = append(res.Partial, b.ID)
		}
	}
	res.Decisions = ApplyRetention(snaps, o.Job.Retention, o.Location)
	keepChains(res.Decisions, byID) // physical chains stay whole
	var doomed, kept []*catalog.BackupInfo
	for _, d := range res.Decisions {
		if !d.Keep {
			doomed = append(doomed, byID[d.ID])
		} else {
			kept = append(kept, byID[d.ID])
		}
	}
	if o.Kept != nil {
		if err := o.Kept(ctx, kept, grace, now()); err != nil {
			return nil, err
		}
	}
	for _, id := range res.Partial {
		doomed = append(doomed, byID[id])
	}
	if orph, ok := o.Store.(storage.Orphans); ok {
		names, err := orph.Orphans(ctx, catalog.JobPrefix(o.Job.Prefix, o.Job.Name), grace)
		if err != nil {
			return nil, fmt.Errorf("listing orphaned parts: %w", err)
		}
		res.Orphans = names
	}
	if o.DryRun {
		return res, nil
	}
	for _, b := range doomed {
		deleted, err := catalog.DeleteManifestFirst(ctx, o.Store, b.Manifest, b.Objects())
		res.Deleted = append(res.Deleted, deleted...)
		if err != nil {
			return res, fmt.Errorf("pruning backup %s of job %s: %w", b.ID, o.Job.Name, err)
		}
		log.Info("pruned backup", "job", o.Job.Name, "id", b.ID, "complete", b.Complete)
	}
	if orph, ok := o.Store.(storage.Orphans); ok && len(res.Orphans) > 0 {
		if err := orph.DeleteOrphans(ctx, res.Orphans); err != nil {
			return res, fmt.Errorf("deleting orphaned parts: %w", err)
		}
		res.Deleted = append(res.Deleted, res.Orphans...)
	}
	return res, nil
}
