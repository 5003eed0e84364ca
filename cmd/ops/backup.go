package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/backends"
	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/progress"
	"github.com/opsteam/ops/internal/schedule"
)

func newBackupCmd(c *cli) *cobra.Command {
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
	cmd.AddCommand(newBackupRunCmd(c), newBackupListCmd(c), newBackupRestoreCmd(c), newBackupVerifyCmd(c), newBackupPruneCmd(c))
	cmd.AddCommand(newBackupBinlogCmd(c)) // binlog.go
	cmd.AddCommand(newBackupCatCmd(c))    // cat.go
	return cmd
}

// jobs returns the configured jobs selected by --job (all when none), or the
// built-in default job when the config has none.
func (rt *opsRuntime) jobs(names []string) ([]backup.Job, error) {
	all := rt.cfg.Backup.Jobs
	if len(all) == 0 {
		j := backup.DefaultJob()
		file := ""
		if rt.loaded != nil {
			file = rt.loaded.File
		}
		j.DefaultKeyFile = defaultKeyFile(file, j.Name)
		all = []backup.Job{j}
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

func (rt *opsRuntime) job(name string) (backup.Job, error) {
	if name == "" {
		if len(rt.cfg.Backup.Jobs) > 1 {
			return backup.Job{}, exitcode.UsageError(errors.New("--job is required when more than one job is configured"))
		}
	}
	var names []string
	if name != "" {
		names = []string{name}
	}
	js, err := rt.jobs(names)
	if err != nil {
		return backup.Job{}, err
	}
	return js[0], nil
}

// openStore builds the job's storage target. Under a readOnly context
// (list, verify, restore, prune) it creates nothing: a missing container
// or directory is an error naming it.
func (rt *opsRuntime) openStore(ctx context.Context, job backup.Job) (storage.Store, error) {
	t, ok := rt.cfg.Storage.Targets[job.Target]
	if !ok {
		return nil, exitcode.UsageError(fmt.Errorf("job %s: no storage target named %q", job.Name, job.Target))
	}
	if ctx.Value(readOnlyKey{}) != nil {
		return backends.OpenReadOnly(ctx, job.Target, t, rt.log, rt.retryBudget(job.Target))
	}
	return backends.Open(ctx, job.Target, t, rt.log, rt.retryBudget(job.Target))
}

// retryBudget is the retry budget of the storage target named name: its
// own retry_budget when the config sets one, else storage.retry_budget.
func (rt *opsRuntime) retryBudget(name string) time.Duration {
	if rt.loaded.IsSet("storage.targets." + name + ".retry_budget") {
		return rt.cfg.Storage.Targets[name].RetryBudget
	}
	return rt.cfg.Storage.RetryBudget
}

type readOnlyKey struct{}

// readOnly marks ctx for commands that only read or delete: every store
// they open (the binary log parts too) is opened read-only.
func readOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnlyKey{}, true)
}

func toolInfo() backup.ToolInfo {
	v, c, _ := buildInfo()
	return backup.ToolInfo{Name: "ops", Version: v, Commit: c}
}

type backupRunOptions struct {
	jobs        []string
	noPrune     bool
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
		start := time.Now()
		var m *backup.Manifest
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
func (rt *opsRuntime) runJob(ctx context.Context, job backup.Job, prune bool) (*backup.Manifest, error) {
	m, err := rt.backupOnce(ctx, job, prune, rt.stderrTTY)
	// The success line is a report, like an info log line: --log-level warn
	// (or -q, which also drops stdout) leaves nothing for cron to mail.
	if m != nil && rt.log.Enabled(ctx, slog.LevelInfo) {
		fmt.Fprintf(rt.stdout, "%s %s %s %s\n", job.Name, output.Escape(m.ID), output.Escape(m.Object.Name), bytesize.Human(m.Object.Size))
	}
	return m, err
}

// backupResult is what the metrics record of a backup run (the stored size).
func backupResult(m *backup.Manifest) metrics.Result {
	if m == nil {
		return metrics.Result{}
	}
	return metrics.Result{BackupBytes: m.Object.Size, BackupID: m.ID}
}

// backupOnce runs one backup of a job and, when it succeeded and prune is
// set, applies the job's retention. It is what both `ops backup run` and
// `ops serve` execute. A non-nil manifest means the backup itself succeeded.
func (rt *opsRuntime) backupOnce(ctx context.Context, job backup.Job, prune, bar bool) (*backup.Manifest, error) {
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return nil, err
	}
	pb, opts := rt.backupBar(bar, job.Name)
	opts.Job, opts.Store, opts.Tool, opts.Logger = job, store, toolInfo(), rt.log
	m, err := backup.RunBackup(ctx, opts)
	pb.Done() // ended by opts.Stored already, unless the backup failed before
	if err != nil {
		return nil, err
	}
	if !prune {
		return m, nil
	}
	res, err := backup.Prune(ctx, backup.PruneOptions{Job: job, Store: store, Logger: rt.log})
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
func (rt *opsRuntime) backupBar(enabled bool, name string) (*progress.Bar, backup.RunOptions) {
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
			pb.SetEstimate(t, "SQL")
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

type backupListOptions struct {
	jobs   []string
	all    bool
	binlog bool
	output outputFlag
}

func newBackupListCmd(c *cli) *cobra.Command {
	opts := backupListOptions{output: newOutputFlag(output.Table, output.JSON)}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List backups, newest first (partial ones only with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupList(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.jobs, "job", nil, "`NAME` of the job to list (repeatable; default: every job)")
	cmd.Flags().BoolVar(&opts.all, "all", false, "include partial backups (no manifest: interrupted or failed)")
	cmd.Flags().BoolVar(&opts.binlog, "binlog", false, "list the archived binary log instead: chunks, each backup's recovery window, gaps")
	opts.output.register(cmd.Flags())
	return cmd
}

func runBackupList(ctx context.Context, rt *opsRuntime, opts backupListOptions) error {
	ctx = readOnly(ctx)
	if err := opts.output.check(); err != nil {
		return err
	}
	if opts.binlog {
		return runBinlogList(ctx, rt, opts)
	}
	jobs, err := rt.jobs(opts.jobs)
	if err != nil {
		return err
	}
	var list []*backup.BackupInfo
	for _, job := range jobs {
		store, err := rt.openStore(ctx, job)
		if err != nil {
			return err
		}
		l, err := backup.ListBackups(ctx, store, job, opts.all)
		if err != nil {
			return err
		}
		list = append(list, l...)
	}
	sortNewestFirst(list)
	if list == nil {
		list = []*backup.BackupInfo{}
	}
	return opts.output.write(rt.stdout, jsonOf(list), func(w io.Writer) error { return writeBackupTable(w, list) })
}

func writeBackupTable(w io.Writer, list []*backup.BackupInfo) error {
	rows := make([][]string, 0, len(list))
	for _, b := range list {
		status := b.Status
		if !b.Complete {
			status = strings.ToUpper(status)
		}
		enc := "-"
		if b.Encrypted {
			enc = "age"
		}
		rows = append(rows, []string{b.Job, b.ID, b.StartedAt.Local().Format(time.DateTime), status,
			bytesize.Human(b.Size), string(b.Compression), enc, strings.Join(b.Databases, ",")})
	}
	return output.WriteTable(w, []string{"JOB", "ID", "STARTED", "STATUS", "SIZE", "COMPRESSION", "ENCRYPTION", "DATABASES"}, rows)
}

func sortNewestFirst(list []*backup.BackupInfo) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].StartedAt.After(list[j-1].StartedAt); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

type backupVerifyOptions struct {
	job, backup, identity string
	restoreTest           bool
	trustUnauthenticated  bool
}

func newBackupVerifyCmd(c *cli) *cobra.Command {
	var opts backupVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-read a backup and check every object against its manifest (exit 1 on mismatch)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupVerify(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringVar(&opts.job, "job", "", "`NAME` of the job whose backup to verify")
	cmd.Flags().StringVar(&opts.backup, "backup", "latest", "backup `ID` or latest")
	cmd.Flags().BoolVar(&opts.restoreTest, "restore-test", false, "also restore into scratch databases and compare rows and CHECKSUM TABLE")
	cmd.Flags().StringVar(&opts.identity, "identity", "", "age identity `FILE` for --restore-test of encrypted backups")
	cmd.Flags().BoolVar(&opts.trustUnauthenticated, trustFlag, false, trustFlagHelp)
	return cmd
}

func runBackupVerify(ctx context.Context, rt *opsRuntime, opts backupVerifyOptions) error {
	ctx = readOnly(ctx)
	job, err := rt.job(opts.job)
	if err != nil {
		return err
	}
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return err
	}
	b, err := backup.FindBackup(ctx, store, job, opts.backup)
	if errors.Is(err, backup.ErrNotComplete) && opts.trustUnauthenticated && b.AcceptUnsigned() {
		err = nil // written before the job had a key: checkAuthenticated warns
	}
	if errors.Is(err, backup.ErrNotComplete) {
		fmt.Fprintf(rt.stdout, "%s %s %s %s\n", strings.ToUpper(b.Status), job.Name, b.ID, b.Problem)
		return exitcode.Check(err)
	}
	if err != nil {
		return err
	}
	if err := rt.checkAuthenticated(job, b, opts.trustUnauthenticated); err != nil {
		fmt.Fprintf(rt.stdout, "UNAUTHENTICATED %s %s: no manifest key to check its manifest with\n", job.Name, output.Escape(b.ID))
		return err
	}
	if len(job.EncryptTo) > 0 && !b.Encrypted {
		fmt.Fprintf(rt.stdout, "MISMATCH %s %s: not encrypted, but the job encrypts every backup\n", job.Name, b.ID)
		return exitcode.Check(fmt.Errorf("backup %s of job %s is not encrypted although the job encrypts every backup: it was not written by this job", b.ID, job.Name))
	}
	res, err := backup.VerifyBackup(ctx, store, b)
	if err != nil {
		return err
	}
	if !res.OK() {
		for _, p := range res.Problems {
			fmt.Fprintln(rt.stdout, "MISMATCH "+output.Escape(p))
		}
		return exitcode.Check(fmt.Errorf("backup %s of job %s failed verification (%d problems)", b.ID, job.Name, len(res.Problems)))
	}
	fmt.Fprintf(rt.stdout, "OK %s %s %s sha256:%s\n", job.Name, output.Escape(b.ID), output.Escape(b.Object), output.Escape(b.ManifestData().StreamSHA256))
	if opts.backup == "" || opts.backup == "latest" {
		if err := reportNewerBroken(ctx, rt, store, job, b); err != nil {
			return err
		}
	}
	binlogErr := rt.verifyBinlog(ctx, job, b, opts.identity) // binlog.go
	if binlogErr != nil && exitCode(binlogErr) != exitcode.CheckFailed {
		return binlogErr
	}
	if !opts.restoreTest {
		return binlogErr
	}
	ids, err := rt.identities(job, opts.identity, b)
	if err != nil {
		return err
	}
	checks, err := backup.RestoreTest(ctx, backup.BackupRestoreOptions{
		Store: store, Backup: b, MySQL: job.RestoreConn(), Threads: job.Threads, Identities: ids, Logger: rt.log,
		RequireEncryption: len(job.EncryptTo) > 0, TrustUnauthenticated: opts.trustUnauthenticated,
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
		if c.WantDigest != "" {
			sum = " digest " + c.WantDigest
			if c.GotDigest != c.WantDigest {
				sum += " restored " + c.GotDigest
			}
		}
		if c.WantChecksum != nil {
			sum = fmt.Sprintf(" checksum %d", *c.WantChecksum)
			if c.GotChecksum == nil || *c.GotChecksum != *c.WantChecksum {
				sum += fmt.Sprintf(" restored %s", fmtSum(c.GotChecksum))
			}
		}
		// Database and table names come from the server: escaped.
		fmt.Fprintf(rt.stdout, "%s %s.%s rows %d restored %d%s\n", status, output.Escape(c.Database), output.Escape(c.Table), c.WantRows, c.GotRows, sum)
	}
	if bad > 0 {
		return exitcode.Check(fmt.Errorf("restore test of backup %s: %d of %d tables differ", b.ID, bad, len(checks)))
	}
	return binlogErr
}

type backupPruneOptions struct {
	jobs   []string
	dryRun bool
	grace  time.Duration
}

func newBackupPruneCmd(c *cli) *cobra.Command {
	var opts backupPruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Apply retention: remove backups no keep_* rule keeps, partial backups and orphaned parts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupPrune(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.jobs, "job", nil, "`NAME` of the job to prune (repeatable; default: every job)")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "print what would be removed, remove nothing")
	cmd.Flags().DurationVar(&opts.grace, "grace", 6*time.Hour, "leave partial backups and leftover parts younger than this alone (they may belong to a running backup)")
	return cmd
}

func runBackupPrune(ctx context.Context, rt *opsRuntime, opts backupPruneOptions) error {
	ctx = readOnly(ctx)
	if opts.grace <= 0 {
		return exitcode.UsageError(fmt.Errorf("--grace %s: expected a positive duration", opts.grace))
	}
	jobs, err := rt.jobs(opts.jobs)
	if err != nil {
		return err
	}
	for _, job := range jobs {
		store, err := rt.openStore(ctx, job)
		if err != nil {
			return err
		}
		res, err := backup.Prune(ctx, backup.PruneOptions{Job: job, Store: store, DryRun: opts.dryRun, Logger: rt.log, PartialGrace: opts.grace})
		if err != nil {
			return err
		}
		verb := "remove"
		if opts.dryRun {
			verb = "would remove"
		}
		for _, d := range res.Decisions {
			if d.Keep {
				fmt.Fprintf(rt.stdout, "keep    %s %s (%s)\n", job.Name, output.Escape(d.ID), strings.Join(d.Reasons, ", "))
			} else {
				fmt.Fprintf(rt.stdout, "%s %s %s\n", verb, job.Name, output.Escape(d.ID))
			}
		}
		// IDs and orphans are object names from the storage listing: escaped.
		for _, id := range res.Partial {
			fmt.Fprintf(rt.stdout, "%s %s %s (partial)\n", verb, job.Name, output.Escape(id))
		}
		for _, id := range res.Untrusted {
			fmt.Fprintf(rt.stdout, "keep    %s %s (UNTRUSTED: its manifest has no valid MAC; check it, delete it by hand)\n", job.Name, id)
		}
		for _, o := range res.Orphans {
			fmt.Fprintf(rt.stdout, "%s orphan %s\n", verb, output.Escape(o))
		}
		if bl := res.Binlog; bl != nil {
			for _, p := range bl.Chunks {
				fmt.Fprintf(rt.stdout, "%s %s binlog chunk %s (before the oldest kept backup, at %s)\n", verb, job.Name, p, bl.KeepFrom)
			}
			for _, p := range bl.Partial {
				fmt.Fprintf(rt.stdout, "%s %s binlog chunk %s (partial)\n", verb, job.Name, p)
			}
		}
	}
	return nil
}

type backupRestoreOptions struct {
	job, backup, identity string
	databases             []string // SRC=DST
	replace, keepPartial  bool
	trustUnauthenticated  bool
	// until, untilGTID, untilPosition: a point-in-time restore.
	until, untilGTID, untilPosition string
}

func newBackupRestoreCmd(c *cli) *cobra.Command {
	var opts backupRestoreOptions
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore a backup into the job's server (every database, or --database SRC=DST)",
		Long: `Restore a complete backup into the job's server. With no --database, every
database of the backup is recreated under its own name; --database app=app_copy
restores one database under another name (repeatable; only the named databases
are restored then). Encrypted backups need the age identity (--identity or the
job's identity_file).

Restore writes only into databases it creates: system databases are refused,
and so is a target that exists and is not empty, unless --replace (drop it and
restore it anew). The stored stream is read in 4 MiB pieces, each checked
against the manifest's SHA-256 before anything in it is used; the manifest
must carry a valid MAC under the job's key (manifest_key_file, else
keys/<job>.key beside the config file, created by the first backup): on a host
without the key, --trust-unauthenticated-manifest accepts the risk. Every
statement of the stream is checked before it is sent: only what ops writes
runs, only in the restored databases. On any failure
(SQL error, refused statement, truncated or tampered stream, cancellation) the
databases the restore created are dropped again, unless --keep-partial.

Point-in-time restore: with --until TIME (RFC 3339, or "YYYY-MM-DD HH:MM:SS"
in the local time zone), --until-gtid GTIDSET or --until-position FILE:POS, the
newest complete backup before that point is restored, then the job's archived
binary log (ops backup binlog) is replayed from the backup's position up to,
and excluding, the first event at or after the point, for the restored
databases only (under their --database names, like mysqlbinlog --rewrite-db).
Every chunk needed is fetched and checked, and the whole replay is filtered,
before the target is touched; a point before the oldest backup, in a gap of
the archive or after its end fails with exit 2 and the recoverable windows.
The replay runs the stock mariadb-binlog and mariadb clients (mysqlbinlog and
mysql for MySQL), like "mysqlbinlog --stop-datetime ... | mysql".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("backup") && (opts.until != "" || opts.untilGTID != "" || opts.untilPosition != "") {
				return exitcode.UsageError(fmt.Errorf("--backup and --until*: a point-in-time restore picks the newest backup before the point itself"))
			}
			return runBackupRestore(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringVar(&opts.job, "job", "", "`NAME` of the job whose backup to restore")
	cmd.Flags().StringVar(&opts.backup, "backup", "latest", "backup `ID` or latest")
	cmd.Flags().StringArrayVar(&opts.databases, "database", nil, "`SRC=DST`: restore database SRC under the name DST (repeatable)")
	cmd.Flags().StringVar(&opts.identity, "identity", "", "age identity `FILE` for encrypted backups (default: the job's identity_file)")
	cmd.Flags().BoolVar(&opts.replace, "replace", false, "drop and recreate target databases that exist and are not empty")
	cmd.Flags().BoolVar(&opts.keepPartial, "keep-partial", false, "keep what a failed restore created (for inspection) instead of dropping it")
	cmd.Flags().StringVar(&opts.until, "until", "", "point-in-time restore: replay the binary log up to (excluding) this time")
	cmd.Flags().StringVar(&opts.untilGTID, "until-gtid", "", "point-in-time restore: replay the transactions of this GTID set")
	cmd.Flags().StringVar(&opts.untilPosition, "until-position", "", "point-in-time restore: replay up to (excluding) the event at FILE:POS")
	cmd.Flags().BoolVar(&opts.trustUnauthenticated, trustFlag, false, trustFlagHelp)
	cmd.MarkFlagsMutuallyExclusive("until", "until-gtid", "until-position")
	return cmd
}

func runBackupRestore(ctx context.Context, rt *opsRuntime, opts backupRestoreOptions) error {
	ctx = readOnly(ctx)
	job, err := rt.job(opts.job)
	if err != nil {
		return err
	}
	mapping, err := parseDBMaps(opts.databases)
	if err != nil {
		return err
	}
	point, pitr, err := parseRestorePoint(opts, time.Local)
	if err != nil {
		return err
	}
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return err
	}
	if pitr {
		return runPointInTimeRestore(ctx, rt, job, store, mapping, point, opts)
	}
	b, ids, err := rt.readableBackup(ctx, store, job, opts.backup, mapping, opts.trustUnauthenticated, opts.identity)
	if err != nil {
		return err
	}
	rt.log.Info("restore started", "job", job.Name, "id", b.ID, "object", b.Object)
	bar := progress.New(rt.stderr, rt.stderrTTY, "restore "+b.ID, b.Size)
	res, err := backup.RestoreBackup(ctx, backup.BackupRestoreOptions{
		Store: store, Backup: b, MySQL: job.RestoreConn(), Threads: job.Threads, Databases: mapping, Identities: ids, Logger: rt.log, Progress: bar.Set,
		Replace: opts.replace, KeepPartial: opts.keepPartial, RequireEncryption: len(job.EncryptTo) > 0,
		TrustUnauthenticated: opts.trustUnauthenticated,
	})
	bar.Done()
	if err != nil {
		return err
	}
	rt.log.Info("restore complete", "job", job.Name, "id", b.ID, "statements", res.Statements,
		"sql_bytes", res.RawBytes, "duration", res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond).String())
	fmt.Fprintf(rt.stdout, "restored %s %s: %s\n", job.Name, output.Escape(b.ID), output.Escape(strings.Join(res.Databases, ", ")))
	return nil
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
		if mysql.SystemDatabases[strings.ToLower(dst)] {
			return nil, exitcode.UsageError(fmt.Errorf("--database %q: %s is a system database: ops never restores into it", s, dst))
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

// trustFlag restores or verifies a backup whose manifest no key
// authenticates (a new machine without the job's key).
const (
	trustFlag     = "trust-unauthenticated-manifest"
	trustFlagHelp = "use a backup whose manifest no key authenticates (this host has not the job's manifest key): anyone who could write to the storage could have forged it; the statement guard stays on"
)

// checkAuthenticated refuses a backup whose manifest no key authenticated
// unless --trust-unauthenticated-manifest, and warns when it is given.
func (rt *opsRuntime) checkAuthenticated(job backup.Job, b *backup.BackupInfo, trust bool) error {
	if b.Authenticated {
		return nil
	}
	if !trust {
		return fmt.Errorf("backup %s of job %s: its manifest is not authenticated: this host has no manifest key for the job (manifest_key_file, or %s): "+
			"anyone who can write to the storage could have forged it; copy the job's key here, or accept the risk with --%s: %w",
			b.ID, job.Name, orNone(job.DefaultKeyFile), trustFlag, backup.ErrUnauthenticated)
	}
	rt.log.Warn("using a backup whose manifest is not authenticated (--"+trustFlag+"): it is only as trustworthy as the storage", "job", job.Name, "id", b.ID)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no default key file"
	}
	return s
}

func fmtSum(v *uint64) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}

// reportNewerBroken fails `verify` (latest) when a backup newer than the
// newest complete one is corrupt or untrusted: the newest backup of the job
// is then not the one verify checked.
func reportNewerBroken(ctx context.Context, rt *opsRuntime, store storage.Store, job backup.Job, latest *backup.BackupInfo) error {
	all, err := backup.ListBackups(ctx, store, job, true)
	if err != nil {
		return err
	}
	var broken []string
	for _, b := range all {
		if b.ID > latest.ID && (b.Status == backup.StatusCorrupt || b.Status == backup.StatusUntrusted) {
			fmt.Fprintf(rt.stdout, "%s %s %s %s\n", strings.ToUpper(b.Status), job.Name, output.Escape(b.ID), output.Escape(b.Problem))
			broken = append(broken, b.ID)
		}
	}
	if len(broken) > 0 {
		return exitcode.Check(fmt.Errorf("job %s: %d newer backup(s) are corrupt or untrusted (%s); verified %s instead", job.Name, len(broken), strings.Join(broken, ", "), latest.ID))
	}
	return nil
}
