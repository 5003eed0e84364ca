package main

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// Scheduled tlscheck checks and the inventory have no timeout key: their
// runs are bounded by these (each connection and each source has its own
// shorter timeout, tlscheck.timeout and inventory.sources[].timeout).
const (
	scheduledCheckTimeout     = time.Hour
	scheduledInventoryTimeout = time.Hour
)

// scheduledJobs turns the runtime's config into the scheduler's job set.
// Every job runs with rt, the runtime it was built from, even after a
// reload has replaced the set. stored, when not nil, is told after each
// backup run that the job's storage changed.
func (rt *opsRuntime) scheduledJobs(stored func(job string)) []schedule.Job {
	var jobs []schedule.Job
	for _, job := range rt.cfg.Backup.Jobs {
		jobs = append(jobs, schedule.Job{
			Kind: metrics.KindBackup, Name: job.Name, Schedule: job.Schedule, Timeout: job.Timeout,
			Run: func(ctx context.Context) (metrics.Result, error) {
				notified := rt.notifyBackup(ctx, job)
				m, err := rt.backupOnce(ctx, job, true, false)
				notified(m, err)
				if stored != nil {
					stored(job.Name) // a backup, a pruning, or a partial one to show
				}
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
	// insecureListen allows a non-loopback serve.listen without a token
	// or TLS.
	insecureListen bool
	// reload delivers SIGHUP: each value makes load build a new runtime
	// (the file and the environment read again) for a new job set.
	reload <-chan os.Signal
	load   func() (*opsRuntime, error)
	// listen binds serve.listen (nil = TCP; tests pass a loopback one).
	listen func(ctx context.Context, addr string) (net.Listener, error)
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

HTTP on serve.listen: /metrics (Prometheus), /healthz, /status.json and /
(serve.status_page: false turns the last two off). serve.token_file requires
"Authorization: Bearer TOKEN" on every request; serve.tls_cert_file and
serve.tls_key_file make it HTTPS. SIGHUP re-reads both files. A serve.listen
that is not loopback needs one of them, or --insecure-listen.

The status page shows what storage holds, whoever wrote it (serve, cron, a
person): each backup job's last good backup (time, age, size), red when
older than twice the longest interval of its schedule; each binary log
archive's lag and point-in-time recovery window (from the oldest backup that
can be rolled forward to the end of the archive); the inventory's findings
by severity, red with an error. Storage is read at most once a minute per
job, and again after each of serve's backups.

With tlscheck.report_dir set, the TLSRPT reports in that directory are summed
at each scrape of /metrics (ops_tlsrpt_sessions, ops_tlsrpt_failures,
ops_tlsrpt_reports, ops_tlsrpt_bad_files): each file is read once per name,
size and modification time, a scrape waits at most 2s for the scan, and a
file that is not a report is logged once and counted, never fatal.

/healthz answers 503 while a run goes on past its timeout
(backup.jobs[].timeout; 1h for tlscheck checks and the inventory).

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
	cmd.Flags().BoolVar(&opts.insecureListen, "insecure-listen", false,
		"allow a non-loopback serve.listen without serve.token_file or TLS")
	return cmd
}

// runServe runs the scheduler on rt's jobs until ctx ends. A reload builds
// a new runtime and a new job set from it; runs already going on keep the
// runtime they started with.
func runServe(ctx context.Context, rt *opsRuntime, opts serveOptions) error {
	if opts.dryRun {
		plans, err := schedule.PlanJobs(rt.scheduledJobs(nil), time.Now(), 5, nil)
		if err != nil {
			return err // schedule.ErrInvalidJobs: exit 2
		}
		return schedule.WritePlan(rt.stdout, plans)
	}
	sec, err := newServeSecurity(rt.cfg.Serve)
	if err != nil {
		return err
	}
	if err := rt.checkListen(ctx, sec, opts.insecureListen); err != nil {
		return err
	}
	listen := opts.listen
	if listen == nil {
		listen = func(ctx context.Context, addr string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, "tcp", addr)
		}
	}
	ln, err := listen(ctx, rt.cfg.Serve.Listen) // before any job is loaded: a port in use fails fast
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", rt.cfg.Serve.Listen, err)
	}
	first := true
	ms := metrics.New()
	binlogs := metrics.NewBinlogCollector()
	ms.Registry().MustRegister(binlogs)
	archivers := newBinlogSupervisor(ctx, rt.log, binlogs) // backup_binlog.go: the archivers of jobs with binlog.enabled
	defer archivers.stop()
	status := newStorageStatus(ctx, rt.log, binlogs) // servestatus.go: what storage holds, for the status page
	reports := newTLSRPTSource(ctx)                  // serve_tlsrpt.go: the TLSRPT reports of tlscheck.report_dir
	ms.Registry().MustRegister(metrics.NewTLSRPTCollector(reports.get))
	s := schedule.New(schedule.Options{
		Classify:     exitCode,
		Logger:       rt.log,
		Metrics:      ms,
		Locker:       rt.locker,
		HTTP:         sec.options(),
		StatusSource: status.get,
		Load: func(context.Context) ([]schedule.Job, error) {
			if first { // Start: the runtime the command was started with
				first = false
				archivers.reconcile(rt)
				status.setRuntime(rt)
				reports.setRuntime(rt)
				return rt.scheduledJobs(status.stored), nil
			}
			// SIGHUP: the token and certificate files, then the config file
			// and the environment, are read again.
			if err := sec.reload(); err != nil {
				rt.log.Error("reload: keeping the previous token or certificate", "err", err)
			}
			next, err := opts.load()
			if err != nil {
				return nil, err
			}
			if next.cfg.Serve != rt.cfg.Serve {
				next.log.Warn("serve.* changed: restart ops serve to apply it (a reload re-reads only the token and certificate files)")
			}
			archivers.reconcile(next)
			status.setRuntime(next)
			reports.setRuntime(next)
			return next.scheduledJobs(status.stored), nil
		},
	})
	rt.log.Info("serving", "listen", rt.cfg.Serve.Listen)
	err = s.Serve(ctx, ln, opts.reload)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
