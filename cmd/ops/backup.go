package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/backends"
	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/progress"
	"github.com/opsteam/ops/internal/schedule"
)

func newBackupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up, list, restore, verify and prune MySQL/MariaDB backups",
		Long: `Back up MySQL/MariaDB databases with a consistent, parallel native dump,
compressed (and optionally age-encrypted) and streamed to Swift or a local
directory, with a manifest written last.

With no config at all, "ops backup run" backs up every database of the local
server (Unix socket, ~/.my.cnf if present) into ./backups.

Exit status: 0 ok, 1 verification found a mismatch, 2 usage or config error,
3 the backup, restore or prune could not complete, 130 interrupted.`,
	}
	cmd.AddCommand(newBackupRunCmd(a), newBackupListCmd(a), newBackupRestoreCmd(a), newBackupVerifyCmd(a), newBackupPruneCmd(a))
	return cmd
}

// jobs returns the configured jobs selected by --job (all when none), or the
// built-in default job when the config has none.
func (a *app) jobs(names []string) ([]backup.Job, error) {
	all := a.cfg.Backup.Jobs
	if len(all) == 0 {
		all = []backup.Job{backup.DefaultJob()}
	}
	if len(names) == 0 {
		return all, nil
	}
	var out []backup.Job
	for _, n := range names {
		found := false
		for _, j := range all {
			if j.Name == n {
				out, found = append(out, j), true
				break
			}
		}
		if !found {
			var known []string
			for _, j := range all {
				known = append(known, j.Name)
			}
			return nil, exitcode.UsageError(fmt.Errorf("--job %s: no such job (configured: %s)", n, strings.Join(known, ", ")))
		}
	}
	return out, nil
}

func (a *app) job(name string) (backup.Job, error) {
	if name == "" {
		if len(a.cfg.Backup.Jobs) > 1 {
			return backup.Job{}, exitcode.UsageError(errors.New("--job is required when more than one job is configured"))
		}
	}
	var names []string
	if name != "" {
		names = []string{name}
	}
	js, err := a.jobs(names)
	if err != nil {
		return backup.Job{}, err
	}
	return js[0], nil
}

// openStore builds the job's storage target.
func (a *app) openStore(ctx context.Context, job backup.Job) (storage.Store, error) {
	t, ok := a.cfg.Storage.Targets[job.Target]
	if !ok {
		return nil, exitcode.UsageError(fmt.Errorf("job %s: no storage target named %q", job.Name, job.Target))
	}
	return backends.Open(ctx, job.Target, t, a.log)
}

func toolInfo() backup.ToolInfo {
	v, c, _ := buildInfo()
	return backup.ToolInfo{Name: "ops", Version: v, Commit: c}
}

func newBackupRunCmd(a *app) *cobra.Command {
	var jobNames []string
	var noPrune bool
	var metricsFile string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Back up every job (or the --job ones), then apply retention",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobs, err := a.jobs(jobNames)
			if err != nil {
				return err
			}
			var failed []string
			locker := schedule.NewLocker(a.cfg.LockDir)
			for _, job := range jobs {
				start := time.Now()
				err := a.lockedRun(locker, metrics.KindBackup, job.Name, func() error {
					return a.runJob(cmd.Context(), job, !noPrune)
				})
				if metricsFile != "" {
					a.recordRun(metricsFile, metrics.Run{Kind: metrics.KindBackup, Name: job.Name, Start: start, Err: err,
						Result: metrics.Result{BackupBytes: a.lastBackupSize}})
				}
				if err != nil {
					if cmd.Context().Err() != nil {
						return err
					}
					a.log.Error("backup failed", "job", job.Name, "error", err.Error())
					failed = append(failed, job.Name)
					if len(jobs) == 1 {
						return err
					}
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d jobs failed: %s", len(failed), len(jobs), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&jobNames, "job", nil, "job to run (repeatable; default: every job)")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "do not apply retention after a successful backup")
	cmd.Flags().StringVar(&metricsFile, "metrics-file", "", "write Prometheus metrics of this run to FILE (node_exporter textfile collector)")
	return cmd
}

func (a *app) runJob(ctx context.Context, job backup.Job, prune bool) error {
	m, err := a.backupOnce(ctx, job, prune, a.stderrTTY)
	a.lastBackupSize = 0
	if m != nil {
		a.lastBackupSize = m.Object.Size
		fmt.Fprintf(a.stdout, "%s %s %s %s\n", job.Name, m.ID, m.Object.Name, bytesize.Human(m.Object.Size))
	}
	return err
}

// backupOnce runs one backup of a job and, when it succeeded and prune is
// set, applies the job's retention. It is what both `ops backup run` and
// `ops serve` execute. A non-nil manifest means the backup itself succeeded.
func (a *app) backupOnce(ctx context.Context, job backup.Job, prune, bar bool) (*backup.Manifest, error) {
	store, err := a.openStore(ctx, job)
	if err != nil {
		return nil, err
	}
	pb := progress.New(a.stderr, bar, "backup "+job.Name, 0)
	m, err := backup.RunBackup(ctx, backup.RunOptions{
		Job: job, Store: store, Tool: toolInfo(), Logger: a.log, Progress: pb.Set,
	})
	pb.Done()
	if err != nil {
		return nil, err
	}
	if !prune {
		return m, nil
	}
	res, err := backup.Prune(ctx, backup.PruneOptions{Job: job, Store: store, Logger: a.log})
	if err != nil {
		return m, fmt.Errorf("backup %s succeeded, but applying retention failed: %w", m.ID, err)
	}
	if n := len(res.Deleted); n > 0 {
		a.log.Info("retention applied", "job", job.Name, "deleted_objects", n)
	}
	return m, nil
}

func newBackupListCmd(a *app) *cobra.Command {
	var jobNames []string
	var all bool
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List backups, newest first (partial ones only with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.CheckFormat(format, output.Table, output.JSON); err != nil {
				return exitcode.UsageError(err)
			}
			jobs, err := a.jobs(jobNames)
			if err != nil {
				return err
			}
			var list []*backup.BackupInfo
			for _, job := range jobs {
				store, err := a.openStore(cmd.Context(), job)
				if err != nil {
					return err
				}
				l, err := backup.ListBackups(cmd.Context(), store, job.Prefix, job.Name, all)
				if err != nil {
					return err
				}
				list = append(list, l...)
			}
			sortNewestFirst(list)
			if format == output.JSON {
				if list == nil {
					list = []*backup.BackupInfo{}
				}
				return output.WriteJSON(a.stdout, list)
			}
			rows := make([][]string, 0, len(list))
			for _, b := range list {
				status := "complete"
				if !b.Complete {
					status = "PARTIAL"
				}
				enc := "-"
				if b.Encrypted {
					enc = "age"
				}
				rows = append(rows, []string{b.Job, b.ID, b.StartedAt.Local().Format(time.DateTime), status,
					bytesize.Human(b.Size), string(b.Compression), enc, strings.Join(b.Databases, ",")})
			}
			return output.WriteTable(a.stdout, []string{"JOB", "ID", "STARTED", "STATUS", "SIZE", "COMPRESSION", "ENCRYPTION", "DATABASES"}, rows)
		},
	}
	cmd.Flags().StringArrayVar(&jobNames, "job", nil, "job to list (repeatable; default: every job)")
	cmd.Flags().BoolVar(&all, "all", false, "include partial backups (no manifest: interrupted or failed)")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table or json")
	return cmd
}

func sortNewestFirst(list []*backup.BackupInfo) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].StartedAt.After(list[j-1].StartedAt); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

func newBackupVerifyCmd(a *app) *cobra.Command {
	var jobName, id, identity string
	var restoreTest bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-read a backup and check every object against its manifest (exit 1 on mismatch)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			job, err := a.job(jobName)
			if err != nil {
				return err
			}
			store, err := a.openStore(cmd.Context(), job)
			if err != nil {
				return err
			}
			b, err := backup.FindBackup(cmd.Context(), store, job.Prefix, job.Name, id)
			if err != nil {
				return err
			}
			res, err := backup.VerifyBackup(cmd.Context(), store, b)
			if err != nil {
				return err
			}
			if !res.OK() {
				for _, p := range res.Problems {
					fmt.Fprintln(a.stdout, "MISMATCH "+p)
				}
				return exitcode.Check(fmt.Errorf("backup %s of job %s failed verification (%d problems)", b.ID, job.Name, len(res.Problems)))
			}
			fmt.Fprintf(a.stdout, "OK %s %s %s sha256:%s\n", job.Name, b.ID, b.Object, b.ManifestData().StreamSHA256)
			if !restoreTest {
				return nil
			}
			ids, err := a.identities(job, identity, b)
			if err != nil {
				return err
			}
			checks, err := backup.RestoreTest(cmd.Context(), backup.BackupRestoreOptions{
				Store: store, Backup: b, MySQL: job.MySQL, Threads: job.Threads, Identities: ids, Logger: a.log,
			})
			if err != nil {
				return err
			}
			bad := 0
			for _, c := range checks {
				status := "OK      "
				if !c.OK() {
					status, bad = "MISMATCH", bad+1
				}
				sum := ""
				if c.WantChecksum != nil {
					sum = fmt.Sprintf(" checksum %d", *c.WantChecksum)
					if c.GotChecksum == nil || *c.GotChecksum != *c.WantChecksum {
						sum += fmt.Sprintf(" restored %s", fmtSum(c.GotChecksum))
					}
				}
				fmt.Fprintf(a.stdout, "%s %s.%s rows %d restored %d%s\n", status, c.Database, c.Table, c.WantRows, c.GotRows, sum)
			}
			if bad > 0 {
				return exitcode.Check(fmt.Errorf("restore test of backup %s: %d of %d tables differ", b.ID, bad, len(checks)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&jobName, "job", "", "job whose backup to verify")
	cmd.Flags().StringVar(&id, "backup", "latest", "backup ID or latest")
	cmd.Flags().BoolVar(&restoreTest, "restore-test", false, "also restore into scratch databases and compare rows and CHECKSUM TABLE")
	cmd.Flags().StringVar(&identity, "identity", "", "age identity file for --restore-test of encrypted backups")
	return cmd
}

func newBackupPruneCmd(a *app) *cobra.Command {
	var jobNames []string
	var dryRun bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Apply retention: remove backups no keep_* rule keeps, partial backups and orphaned parts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grace <= 0 {
				return exitcode.UsageError(fmt.Errorf("--grace %s: expected a positive duration", grace))
			}
			jobs, err := a.jobs(jobNames)
			if err != nil {
				return err
			}
			for _, job := range jobs {
				store, err := a.openStore(cmd.Context(), job)
				if err != nil {
					return err
				}
				res, err := backup.Prune(cmd.Context(), backup.PruneOptions{Job: job, Store: store, DryRun: dryRun, Logger: a.log, PartialGrace: grace})
				if err != nil {
					return err
				}
				verb := "remove"
				if dryRun {
					verb = "would remove"
				}
				for _, d := range res.Decisions {
					if d.Keep {
						fmt.Fprintf(a.stdout, "keep    %s %s (%s)\n", job.Name, d.ID, strings.Join(d.Reasons, ", "))
					} else {
						fmt.Fprintf(a.stdout, "%s %s %s\n", verb, job.Name, d.ID)
					}
				}
				for _, id := range res.Partial {
					fmt.Fprintf(a.stdout, "%s %s %s (partial)\n", verb, job.Name, id)
				}
				for _, o := range res.Orphans {
					fmt.Fprintf(a.stdout, "%s orphan %s\n", verb, o)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&jobNames, "job", nil, "job to prune (repeatable; default: every job)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be removed, remove nothing")
	cmd.Flags().DurationVar(&grace, "grace", 6*time.Hour, "leave partial backups and leftover parts younger than this alone (they may belong to a running backup)")
	return cmd
}

func newBackupRestoreCmd(a *app) *cobra.Command {
	var jobName, id, identity string
	var dbMaps []string
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore a backup into the job's server (every database, or --database SRC=DST)",
		Long: `Restore a complete backup into the job's server. With no --database, every
database of the backup is recreated under its own name; --database app=app_copy
restores one database under another name (repeatable; only the named databases
are restored then). Encrypted backups need the age identity (--identity or the
job's identity_file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			job, err := a.job(jobName)
			if err != nil {
				return err
			}
			mapping, err := parseDBMaps(dbMaps)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := a.openStore(ctx, job)
			if err != nil {
				return err
			}
			b, err := backup.FindBackup(ctx, store, job.Prefix, job.Name, id)
			if err != nil {
				return err
			}
			for src := range mapping {
				if !contains(b.Databases, src) {
					return exitcode.UsageError(fmt.Errorf("--database %s=…: backup %s has no database %q (it has: %s)", src, b.ID, src, strings.Join(b.Databases, ", ")))
				}
			}
			ids, err := a.identities(job, identity, b)
			if err != nil {
				return err
			}
			a.log.Info("restore started", "job", job.Name, "id", b.ID, "object", b.Object)
			bar := progress.New(a.stderr, a.stderrTTY, "restore "+b.ID, b.Size)
			res, err := backup.RestoreBackup(ctx, backup.BackupRestoreOptions{
				Store: store, Backup: b, MySQL: job.MySQL, Threads: job.Threads, Databases: mapping, Identities: ids, Logger: a.log, Progress: bar.Set,
			})
			bar.Done()
			if err != nil {
				return err
			}
			a.log.Info("restore complete", "job", job.Name, "id", b.ID, "statements", res.Statements,
				"sql_bytes", res.RawBytes, "duration", res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond).String())
			fmt.Fprintf(a.stdout, "restored %s %s: %s\n", job.Name, b.ID, strings.Join(res.Databases, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&jobName, "job", "", "job whose backup to restore")
	cmd.Flags().StringVar(&id, "backup", "latest", "backup ID or latest")
	cmd.Flags().StringArrayVar(&dbMaps, "database", nil, "SRC=DST: restore database SRC under the name DST (repeatable)")
	cmd.Flags().StringVar(&identity, "identity", "", "age identity file for encrypted backups (default: the job's identity_file)")
	return cmd
}

func parseDBMaps(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, s := range list {
		src, dst, ok := strings.Cut(s, "=")
		if !ok {
			dst = src
		}
		if src == "" || dst == "" || len(dst) > 64 {
			return nil, exitcode.UsageError(fmt.Errorf("--database %q: expected SRC=DST with database names of 1 to 64 characters", s))
		}
		m[src] = dst
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// identities loads the age identity needed for an encrypted backup.
func (a *app) identities(job backup.Job, flag string, b *backup.BackupInfo) ([]age.Identity, error) {
	if !b.Encrypted {
		return nil, nil
	}
	path := flag
	if path == "" {
		path = job.IdentityFile
	}
	if path == "" {
		return nil, exitcode.UsageError(fmt.Errorf("backup %s is encrypted: give the age identity with --identity FILE or backup.jobs[].identity_file", b.ID))
	}
	return backup.LoadIdentities(path)
}

func fmtSum(v *uint64) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}
