package pitr

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/storage"
)

// PruneResult is what backup.Prune did to the job's backups and, with the
// binary log archived, to its chunks (nil when the job archives none).
type PruneResult struct {
	*backup.PruneResult
	Binlog *BinlogPruneResult
}

// Prune is backup.Prune for a job whose binary log may be archived: once
// retention has decided which backups stay, and before anything is
// deleted, the archive is pruned down to what the kept backups need.
func Prune(ctx context.Context, o backup.PruneOptions) (*PruneResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var binlog *BinlogPruneResult
	o.Kept = func(ctx context.Context, kept []*catalog.BackupInfo, grace time.Duration, now time.Time) error {
		var err error
		binlog, err = PruneBinlog(ctx, o.Store, o.Job, kept, o.DryRun, grace, now, log)
		return err
	}
	res, err := backup.Prune(ctx, o)
	if res == nil {
		return nil, err
	}
	return &PruneResult{PruneResult: res, Binlog: binlog}, err
}

// BinlogPruneResult says what retention did to the archived binary log.
type BinlogPruneResult struct {
	// KeepFrom is the position of the oldest kept backup: every chunk
	// from the one holding it on is kept (zero: no backup with a
	// position, every chunk kept).
	KeepFrom binlog.BinlogPos
	Chunks   []binlog.BinlogPos // complete chunks removed (or that would be), by start
	Partial  []binlog.BinlogPos // partial and corrupt chunks removed (or that would be)
	Deleted  []string           // objects deleted
}

// PruneBinlog applies retention to the archived binary log: chunks that end
// at or before the position of the oldest kept backup are not needed to
// reach any point after it and are removed; so are partial chunks (a
// killed archiver's) and corrupt ones older than grace. Untrusted chunks
// are left alone. Chunks of another binary log series than the backup's
// (a different base name) are kept: their order cannot be compared.
func PruneBinlog(ctx context.Context, s storage.Store, job backup.Job, kept []*catalog.BackupInfo, dryRun bool, grace time.Duration, now time.Time, log *slog.Logger) (*BinlogPruneResult, error) {
	chunks, err := ListBinlogChunks(ctx, s, job)
	if err != nil {
		return nil, err
	}
	res := &BinlogPruneResult{}
	if len(chunks) == 0 {
		return res, nil
	}
	for _, b := range kept {
		m := b.ManifestData()
		if m == nil || m.Consistency.BinlogFile == "" {
			continue
		}
		p := binlog.BinlogPos{File: m.Consistency.BinlogFile, Pos: m.Consistency.BinlogPos}
		if res.KeepFrom.IsZero() || binlog.CompareBinlogPos(p, res.KeepFrom) < 0 {
			res.KeepFrom = p
		}
	}
	var doomed []*ChunkInfo
	for _, c := range chunks {
		switch c.Status {
		case catalog.StatusComplete:
			if !res.KeepFrom.IsZero() && binlog.SameBinlogSeries(c.Next.File, res.KeepFrom.File) && binlog.CompareBinlogPos(c.Next, res.KeepFrom) <= 0 {
				res.Chunks = append(res.Chunks, c.Start)
				doomed = append(doomed, c)
			}
		case catalog.StatusPartial, catalog.StatusCorrupt:
			if !c.modified.IsZero() && now.Sub(c.modified) > grace {
				res.Partial = append(res.Partial, c.Start)
				doomed = append(doomed, c)
			}
		case catalog.StatusUntrusted:
			log.Warn("binlog chunk is untrusted: left alone by prune", "job", job.Name, "chunk", c.Start.String(), "problem", c.Problem)
		}
	}
	if dryRun {
		return res, nil
	}
	for _, c := range doomed {
		deleted, err := catalog.DeleteManifestFirst(ctx, s, c.Manifest, c.objects)
		res.Deleted = append(res.Deleted, deleted...)
		if err != nil {
			return res, fmt.Errorf("pruning binlog chunk %s of job %s: %w", c.Start, job.Name, err)
		}
	}
	if len(doomed) > 0 {
		log.Info("pruned archived binary log", "job", job.Name, "chunks", len(res.Chunks), "partial", len(res.Partial), "keep_from", res.KeepFrom.String())
	}
	return res, nil
}
