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

	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/schedule"
)

// lockedRun runs fn while holding the cross-process lock of one job, so that
// a cron-started command and `ops serve` never run the same job at once.
func lockedRun(l *schedule.Locker, kind, name string, fn func() error) error {
	lock, err := l.TryLock(schedule.JobID{Kind: kind, Name: name})
	if err != nil {
		return err
	}
	defer lock.Unlock()
	return fn()
}

// scheduledJobs turns the runtime's config into the scheduler's job set.
// Every job runs with rt, the runtime it was built from, even after a
// reload has replaced the set.
func (rt *opsRuntime) scheduledJobs() []schedule.Job {
	var jobs []schedule.Job
	for _, job := range rt.cfg.Backup.Jobs {
		jobs = append(jobs, schedule.Job{
			Kind: metrics.KindBackup, Name: job.Name, Schedule: job.Schedule,
			Run: func(ctx context.Context) (metrics.Result, error) {
				m, err := rt.backupOnce(ctx, job, true, false)
				return backupResult(m), err
			},
		})
	}
	jobs = append(jobs, rt.tlscheckJobs()...)
	jobs = append(jobs, rt.inventoryJobs()...)
	return jobs
}

type serveOptions struct {
	dryRun bool
	// reload delivers SIGHUP: each value makes load build a new runtime
	// (the file and the environment read again) for a new job set.
	reload <-chan os.Signal
	load   func() (*opsRuntime, error)
}

func newServeCmd(c *cli) *cobra.Command {
	var opts serveOptions
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
			if !opts.dryRun {
				hup := make(chan os.Signal, 1)
				signal.Notify(hup, syscall.SIGHUP)
				defer signal.Stop(hup)
				opts.reload = hup
			}
			opts.load = func() (*opsRuntime, error) { return c.load(cmd) }
			return runServe(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().String("listen", "", "address for /metrics, /healthz and the status page (default serve.listen, 127.0.0.1:9273)")
	c.bindConfigFlag("serve.listen", cmd.Flags().Lookup("listen"))
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "list every job with its next five run times, and exit")
	return cmd
}

// runServe runs the scheduler on rt's jobs until ctx ends. A reload builds
// a new runtime and a new job set from it; runs already going on keep the
// runtime they started with.
func runServe(ctx context.Context, rt *opsRuntime, opts serveOptions) error {
	if opts.dryRun {
		plans, err := schedule.PlanJobs(rt.scheduledJobs(), time.Now(), 5, nil)
		if err != nil {
			return err // schedule.ErrInvalidJobs: exit 2
		}
		return schedule.WritePlan(rt.stdout, plans)
	}
	first := true
	ms := metrics.New()
	binlogs := metrics.NewBinlogCollector()
	ms.Registry().MustRegister(binlogs)
	archivers := newBinlogSupervisor(ctx, rt.log, binlogs) // binlog.go: the archivers of jobs with binlog.enabled
	defer archivers.stop()
	s := schedule.New(schedule.Options{
		Classify: exitCode,
		Logger:   rt.log,
		Metrics:  ms,
		Locker:   rt.locker,
		Load: func(context.Context) ([]schedule.Job, error) {
			if first { // Start: the runtime the command was started with
				first = false
				archivers.reconcile(rt)
				return rt.scheduledJobs(), nil
			}
			next, err := opts.load() // SIGHUP: read the file and the environment again
			if err != nil {
				return nil, err
			}
			archivers.reconcile(next)
			return next.scheduledJobs(), nil
		},
	})
	rt.log.Info("serving", "listen", rt.cfg.Serve.Listen)
	err := s.ListenAndServe(ctx, rt.cfg.Serve.Listen, opts.reload)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
