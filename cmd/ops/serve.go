package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/schedule"
)

// lockedRun runs fn while holding the cross-process lock of one job, so that
// a cron-started command and `ops serve` never run the same job at once.
func (a *app) lockedRun(l *schedule.Locker, kind, name string, fn func() error) error {
	lock, err := l.TryLock(schedule.JobID{Kind: kind, Name: name})
	if err != nil {
		return err
	}
	defer lock.Unlock()
	return fn()
}

// recordRun writes one run's metrics to a node_exporter textfile; a failure
// to write is logged, never turned into the command's exit status.
func (a *app) recordRun(path string, r metrics.Run) {
	if r.End.IsZero() {
		r.End = time.Now()
	}
	m := metrics.New()
	m.Record(r)
	if err := metrics.WriteTextfile(path, m.Registry()); err != nil {
		a.log.Error("writing the metrics file failed", "path", path, "error", err.Error())
	}
}

// scheduledJobs turns the loaded config into the scheduler's job set.
func (a *app) scheduledJobs() []schedule.Job {
	var jobs []schedule.Job
	for _, j := range a.cfg.Backup.Jobs {
		job := j
		jobs = append(jobs, schedule.Job{
			Kind: metrics.KindBackup, Name: job.Name, Schedule: job.Schedule,
			Run: func(ctx context.Context) (metrics.Result, error) {
				m, err := a.backupOnce(ctx, job, true, false)
				var res metrics.Result
				if m != nil {
					res.BackupBytes = m.Object.Size
				}
				return res, err
			},
		})
	}
	jobs = append(jobs, a.tlscheckJobs()...)
	jobs = append(jobs, a.inventoryJobs()...)
	return jobs
}

func newServeCmd(a *app) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run every scheduled job, with /metrics, /healthz and a status page",
		Long: `Run every "schedule" of the config (backup jobs, tlscheck checks, inventory)
until SIGTERM or SIGINT, then wait for running jobs (30s grace, then they are
cancelled). Overlapping runs of a job are skipped, panics are recovered, a
failed run never stops the daemon, and SIGHUP reloads the config (a broken
config is reported and the old one kept). Each job holds a lock file, so a
cron-started "ops backup run" of the same job never runs at the same time.

HTTP on serve.listen: /metrics (Prometheus), /healthz, /status.json and /.

Exit status: 0 after a clean stop, 2 config error, 3 runtime failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dryRun {
				plans, err := schedule.PlanJobs(a.scheduledJobs(), time.Now(), 5, nil)
				if err != nil {
					return exitcode.UsageError(err)
				}
				return schedule.WritePlan(a.stdout, plans)
			}
			first := true
			s := schedule.New(schedule.Options{
				Logger:  a.log,
				Metrics: metrics.New(),
				Locker:  schedule.NewLocker(a.cfg.LockDir),
				Load: func(context.Context) ([]schedule.Job, error) {
					if !first { // SIGHUP: read the file and the environment again
						if err := a.loadConfig(cmd); err != nil {
							return nil, err
						}
					}
					first = false
					return a.scheduledJobs(), nil
				},
			})
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			a.log.Info("serving", "listen", a.cfg.Serve.Listen)
			err := s.ListenAndServe(ctx, a.cfg.Serve.Listen, hup)
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().String("listen", "", "address for /metrics, /healthz and the status page (default serve.listen, 127.0.0.1:9273)")
	a.bindConfigFlag("serve.listen", cmd.Flags().Lookup("listen"))
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list every job with its next five run times, and exit")
	return cmd
}
