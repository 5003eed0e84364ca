package backup

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

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
}

// PruneResult says what prune kept and removed.
type PruneResult struct {
	Decisions []Decision // complete backups, newest first
	Partial   []string   // IDs of partial and corrupt backups removed (or that would be)
	Untrusted []string   // IDs of untrusted backups (never removed by prune)
	Orphans   []string   // leftover parts removed (or that would be)
	Deleted   []string   // every object deleted
	// Binlog is what happened to the archived binary log (binlog_prune.go).
	Binlog *BinlogPruneResult
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
	byID := map[string]*BackupInfo{}
	res := &PruneResult{}
	for _, b := range list {
		byID[b.ID] = b
		switch {
		case b.Complete:
			snaps = append(snaps, Snapshot{ID: b.ID, Time: b.StartedAt})
		case b.Status == StatusUntrusted:
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
	var doomed, kept []*BackupInfo
	for _, d := range res.Decisions {
		if !d.Keep {
			doomed = append(doomed, byID[d.ID])
		} else {
			kept = append(kept, byID[d.ID])
		}
	}
	if res.Binlog, err = pruneBinlog(ctx, o.Store, o.Job, kept, o.DryRun, grace, now(), log); err != nil {
		return nil, err
	}
	for _, id := range res.Partial {
		doomed = append(doomed, byID[id])
	}
	if orph, ok := o.Store.(storage.Orphans); ok {
		names, err := orph.Orphans(ctx, JobPrefix(o.Job.Prefix, o.Job.Name), grace)
		if err != nil {
			return nil, fmt.Errorf("listing orphaned parts: %w", err)
		}
		res.Orphans = names
	}
	if o.DryRun {
		return res, nil
	}
	for _, b := range doomed {
		deleted, err := deleteManifestFirst(ctx, o.Store, b.Manifest, b.objects)
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

// deleteManifestFirst deletes one backup or binlog chunk: its manifest
// first, then its other objects, one at a time and in that order. The order
// is what keeps listings honest: an interrupted prune leaves objects without
// a manifest, which every listing shows as partial and the next prune
// removes. Data deleted first would leave, for a while or for good, a
// manifest promising objects that are gone: a backup (or chunk) listed as
// complete that cannot be restored. It returns the names deleted, in order,
// also with an error.
func deleteManifestFirst(ctx context.Context, s storage.Store, manifest string, objects []string) ([]string, error) {
	names := slices.DeleteFunc(slices.Clone(objects), func(n string) bool { return n == manifest })
	if manifest != "" {
		names = slices.Insert(names, 0, manifest)
	}
	deleted := make([]string, 0, len(names))
	for _, n := range names {
		if err := s.Delete(ctx, n); err != nil {
			return deleted, fmt.Errorf("deleting %s: %w", n, err)
		}
		deleted = append(deleted, n)
	}
	return deleted, nil
}
