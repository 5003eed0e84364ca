package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/progress"
	"github.com/opsteam/ops/internal/schedule"
)

type backupRunOptions struct {
	jobs        []string
	noPrune     bool
	full        bool
	metricsFile metricsFileFlag
}

func newBackupRunCmd(c *cli) *cobra.Command {
	var opts backupRunOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Back up every job (or the --job ones), then apply retention",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupRun(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.jobs, "job", nil, "`NAME` of the job to run (repeatable; default: every job)")
	cmd.Flags().BoolVar(&opts.noPrune, "no-prune", false, "do not apply retention after a successful backup")
	cmd.Flags().BoolVar(&opts.full, "full", false, "physical jobs: take a full backup (start a new chain) even when physical.incremental is on")
	opts.metricsFile.register(cmd.Flags())
	return cmd
}

func runBackupRun(ctx context.Context, rt *opsRuntime, opts backupRunOptions) error {
	jobs, err := rt.jobs(opts.jobs)
	if err != nil {
		return err
	}
	var failed []error
	for _, job := range jobs {
		job.Physical.ForceFull = opts.full
		start := time.Now()
		var m *catalog.Manifest
		notified := rt.notifyBackup(ctx, job)
		err := lockedRun(rt.locker, metrics.KindBackup, job.Name, func() error {
			onTimeout := func() { rt.log.Warn("backup timed out: cancelling it", "job", job.Name, "timeout", job.Timeout) }
			err := schedule.WithTimeout(ctx, job.Timeout, onTimeout, func(ctx context.Context) (err error) {
				m, err = rt.runJob(ctx, job, !opts.noPrune)
				return err
			})
			if errors.Is(err, schedule.ErrTimeout) {
				err = fmt.Errorf("backup %s: %w", job.Name, err)
			}
			return err
		})
		notified(m, err)
		opts.metricsFile.record(rt, metrics.Run{Kind: metrics.KindBackup, Name: job.Name, Start: start, Err: err,
			Result: backupResult(m)})
		if err != nil {
			if ctx.Err() != nil || len(jobs) == 1 {
				return err
			}
			// Not logged here: run prints the joined error once, at the end.
			failed = append(failed, fmt.Errorf("job %s: %w", job.Name, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d jobs failed: %w", len(failed), len(jobs), errors.Join(failed...))
	}
	return nil
}

// runJob backs up one job for `ops backup run` and prints the backup; the
// manifest is nil when the backup itself failed.
func (rt *opsRuntime) runJob(ctx context.Context, job backup.Job, prune bool) (*catalog.Manifest, error) {
	m, err := rt.backupOnce(ctx, job, prune, rt.stderrTTY)
	// The success line is a report, like an info log line: --log-level warn
	// (or -q, which also drops stdout) leaves nothing for cron to mail.
	if m != nil && rt.log.Enabled(ctx, slog.LevelInfo) {
		fmt.Fprintf(rt.stdout, "%s %s %s %s\n", job.Name, output.Escape(m.ID), output.Escape(m.Object.Name), bytesize.Human(m.Object.Size))
	}
	return m, err
}

// backupResult is what the metrics record of a backup run (the stored size).
func backupResult(m *catalog.Manifest) metrics.Result {
	if m == nil {
		return metrics.Result{}
	}
	return metrics.Result{BackupBytes: m.Object.Size, BackupID: m.ID}
}

// backupOnce runs one backup of a job and, when it succeeded and prune is
// set, applies the job's retention. It is what both `ops backup run` and
// `ops serve` execute. A non-nil manifest means the backup itself succeeded.
func (rt *opsRuntime) backupOnce(ctx context.Context, job backup.Job, prune, bar bool) (*catalog.Manifest, error) {
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return nil, err
	}
	unit := "SQL"
	if job.IsPhysical() {
		unit = "copied" // mariadb-backup's stream of the datadir
	}
	pb, opts := rt.backupBar(bar, job.Name, unit)
	opts.Job, opts.Store, opts.Tool, opts.Logger = job, store, toolInfo(), rt.log
	m, err := backup.RunBackup(ctx, opts)
	pb.Done() // ended by opts.Stored already, unless the backup failed before
	if err != nil {
		return nil, err
	}
	if !prune {
		return m, nil
	}
	res, err := pitr.Prune(ctx, backup.PruneOptions{Job: job, Store: store, Logger: rt.log})
	if err != nil {
		return m, fmt.Errorf("backup %s succeeded, but applying retention failed: %w", m.ID, err)
	}
	if n := len(res.Deleted); n > 0 {
		rt.log.Info("retention applied", "job", job.Name, "deleted_objects", n)
	}
	return m, nil
}

// backupBar is the progress bar of a backup on a terminal (nil otherwise)
// and the RunOptions that feed it: the SQL written against the server's
// estimate of the tables' size (percentage, ETA), the current table and
// the bytes stored. The estimate is corrected as tables end (a finished
// table's real size replaces its estimate: progress.Estimate), so the bar
// never passes 100 %. The dump reports the SQL after each part it writes;
// in between, the SQL is extrapolated from the bytes stored at the
// compression ratio seen so far, so the bar moves with the stream. The bar
// ends as soon as the stream is stored, before "backup complete" is logged.
func (rt *opsRuntime) backupBar(enabled bool, name, unit string) (*progress.Bar, backup.RunOptions) {
	pb := progress.New(rt.stderr, enabled, "backup "+name, 0)
	if pb == nil {
		return nil, backup.RunOptions{}
	}
	var mu sync.Mutex
	est := progress.NewEstimate(nil)
	var raw, storedAtRaw, shown int64
	update := func(done int64) {
		shown = max(shown, done) // the bar never goes back
		pb.Set(shown)
		if t := est.Total(); t > 0 {
			pb.SetEstimate(t, unit)
		}
	}
	return pb, backup.RunOptions{
		DumpPlanned: func(tables map[string]backup.TableEstimate) {
			items := make(map[string]progress.Item, len(tables))
			for name, t := range tables {
				items[name] = progress.Item{Bytes: t.Bytes, Rows: t.Rows}
			}
			mu.Lock()
			defer mu.Unlock()
			est = progress.NewEstimate(items)
			update(0)
		},
		DumpProgress: func(p backup.DumpProgress) {
			mu.Lock()
			defer mu.Unlock()
			est.Add(p.Table, p.PartBytes, p.PartRows)
			if p.Ended != "" {
				est.Finish(p.Ended)
			}
			raw, storedAtRaw = p.RawBytes, p.StoredBytes
			update(raw)
			if p.Table != "" { // the dump reports a part once written: the table it just wrote
				pb.SetDetail("wrote " + p.Table)
			}
		},
		Progress: func(stored int64) {
			pb.SetStored(stored)
			mu.Lock()
			defer mu.Unlock()
			if storedAtRaw > 0 && stored > storedAtRaw {
				update(int64(float64(stored) * float64(raw) / float64(storedAtRaw)))
			}
		},
		Stored: func(sqlBytes int64) {
			if sqlBytes > 0 {
				pb.Set(sqlBytes) // exact: the extrapolation counts age's few bytes too
			}
			pb.Done()
		},
	}
}
