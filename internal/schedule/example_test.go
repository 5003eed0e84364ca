package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/schedule"
)

// config stands for the loaded ops.yaml.
type config struct {
	Listen  string
	Backups []struct{ Name, Schedule string }
	Checks  []struct {
		Name, Schedule string
		Targets        []string
	}
	InventorySchedule string
}

func loadConfig(context.Context) (*config, error) {
	return &config{Listen: "127.0.0.1:0", InventorySchedule: "@daily"}, nil
}

// jobsFrom turns a configuration into the scheduler's job set. Each Run
// closes over what it needs; it returns the typed metrics.Result and the
// same error as the one-shot command, which Options.Classify maps to an
// exit status (here a mark: exitcode.Check = problem).
func jobsFrom(cfg *config) []schedule.Job {
	var jobs []schedule.Job
	for _, b := range cfg.Backups {
		jobs = append(jobs, schedule.Job{
			Kind: metrics.KindBackup, Name: b.Name, Schedule: b.Schedule,
			Run: func(ctx context.Context) (metrics.Result, error) {
				// m, err := backup.RunBackup(ctx, backup.RunOptions{...})
				// then retention; size = m.Object.Size (bytes stored)
				return metrics.Result{BackupBytes: 0}, nil
			},
		})
	}
	for _, c := range cfg.Checks {
		jobs = append(jobs, schedule.Job{
			Kind: metrics.KindTLSCheck, Name: c.Name, Schedule: c.Schedule, Timeout: 10 * time.Minute,
			Run: func(ctx context.Context) (metrics.Result, error) {
				var res metrics.Result
				var failed []string
				for _, t := range c.Targets { // results := tlscheck.Check(ctx, ...)
					pass := true
					res.Verdicts = append(res.Verdicts, metrics.Verdict{Target: t, Pass: pass})
					if !pass {
						failed = append(failed, t)
					}
				}
				if len(failed) > 0 {
					return res, exitcode.Check(fmt.Errorf("policy failure: %s", strings.Join(failed, ", ")))
				}
				return res, nil
			},
		})
	}
	if cfg.InventorySchedule != "" {
		jobs = append(jobs, schedule.Job{
			Kind: metrics.KindInventory, Name: "inventory", Schedule: cfg.InventorySchedule,
			Run: func(ctx context.Context) (metrics.Result, error) {
				return metrics.Result{Inventory: &metrics.Inventory{Objects: map[string]int{"vm": 0}}}, nil
			},
		})
	}
	return jobs
}

// exitCode stands in for cmd/ops' exit table (cmd/ops/exit.go).
func exitCode(err error) int {
	if code, ok := exitcode.Marked(err); ok {
		return code
	}
	return exitcode.Runtime
}

// Example shows how cmd/ops/serve.go wires the daemon (compiled, not run).
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM) // main does this
	defer stop()
	log := slog.New(slog.DiscardHandler)

	cfg, err := loadConfig(ctx)
	if err != nil {
		return
	}
	m := metrics.New()
	// Optional: m.SeedBackup(job, manifest.FinishedAt, duration, size) from
	// each job's newest complete backup, so age alerts work after a restart.
	s := schedule.New(schedule.Options{
		Load: func(ctx context.Context) ([]schedule.Job, error) {
			cfg, err := loadConfig(ctx) // re-read ops.yaml; validate
			if err != nil {
				return nil, exitcode.UsageError(err)
			}
			return jobsFrom(cfg), nil
		},
		Classify: exitCode, // cmd/ops passes its exit table
		Logger:   log,
		Metrics:  m,
		Locker:   schedule.NewLocker(""), // "" = DefaultLockDir(); or a configured directory
	})

	if dryRun := len(os.Args) > 99; dryRun { // ops serve --dry-run
		plans, err := schedule.PlanJobs(jobsFrom(cfg), time.Now(), 5, nil)
		if err != nil {
			return // exit 2: a bad schedule
		}
		_ = schedule.WritePlan(os.Stdout, plans) // or output.WriteJSON(os.Stdout, plans)
		return
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := s.ListenAndServe(ctx, cfg.Listen, hup); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("serve", "err", err)
	}
}

// ExampleLocker shows a one-shot command (ops backup run) taking the same
// lock as the daemon, and writing its metrics for node_exporter.
func ExampleLocker() {
	dir, _ := os.MkdirTemp("", "ops-example")
	defer os.RemoveAll(dir)
	locker := schedule.NewLocker(dir) // the same directory `ops serve` uses

	lock, err := locker.TryLock(schedule.JobID{Kind: metrics.KindBackup, Name: "app"})
	if err != nil {
		fmt.Println(err) // job backup/app is already running (pid 4242)
		return
	}
	defer lock.Unlock()

	start := time.Now()
	var runErr error // = backup.RunBackup(...)
	m := metrics.New()
	m.Record(metrics.Run{Kind: metrics.KindBackup, Name: "app", Start: start, End: time.Now(),
		Err: runErr, Code: exitCode(runErr), Result: metrics.Result{BackupBytes: 1 << 20}})
	if err := metrics.WriteTextfile(dir+"/ops.prom", m.Registry()); err != nil {
		fmt.Println(err)
	}
	_, err = locker.TryLock(schedule.JobID{Kind: metrics.KindBackup, Name: "app"})
	fmt.Println(errors.Is(err, schedule.ErrLocked))
	// Output: true
}
