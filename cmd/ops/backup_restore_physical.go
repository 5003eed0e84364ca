package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/progress"
)

// runPhysicalRestore is `ops backup restore --datadir DIR` of a physical
// job: the chain ending at --backup, checked whole, then extracted and
// prepared into DIR.
func runPhysicalRestore(ctx context.Context, rt *opsRuntime, job backup.Job, opts backupRestoreOptions, point untilPoint) error {
	switch {
	case !job.IsPhysical():
		return exitcode.UsageError(fmt.Errorf("--datadir: job %s is a logical job (method: %s): its backups are restored into a server, without --datadir", job.Name, job.Method))
	case opts.datadir == "":
		return exitcode.UsageError(fmt.Errorf("job %s is a physical job: give the data directory to restore into with --datadir DIR (absent or empty)", job.Name))
	case point.RestorePoint != nil && opts.backup != "latest" && opts.backup != "":
		return exitcode.UsageError(fmt.Errorf("--backup and --until*: a point-in-time restore picks the newest backup before the point itself"))
	case len(opts.databases) > 0 || opts.replace:
		return exitcode.UsageError(fmt.Errorf("--database and --replace are for logical jobs: a physical restore leaves a whole data directory"))
	}
	if err := backup.CheckDatadir(opts.datadir); err != nil {
		return exitcode.UsageError(err)
	}
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return err
	}
	if point.RestorePoint != nil {
		return runPhysicalPointInTime(ctx, rt, job, store, opts, point)
	}
	b, ids, err := rt.readableBackup(ctx, store, job, opts.backup, nil, opts.trustUnauthenticated, opts.identity)
	if err != nil {
		return err
	}
	list, err := backup.ListBackups(ctx, store, job, false)
	if err != nil {
		return err
	}
	list = withBackup(list, b)
	chain, err := backup.ChainOf(list, b.ID)
	if err != nil {
		return err
	}
	var total int64
	for _, m := range chain {
		total += 2 * m.Object.Size // checked, then extracted
	}
	rt.log.Info("restore started", "job", job.Name, "id", b.ID, "method", backup.MethodPhysical, "chain", len(chain), "datadir", opts.datadir)
	start := time.Now()
	bar := progress.New(rt.stderr, rt.stderrTTY, "restore "+b.ID, total)
	_, err = backup.RestorePhysical(ctx, backup.PhysicalRestoreOptions{
		Store: store, List: list, ID: b.ID, Datadir: opts.datadir, Identities: ids, Logger: rt.log,
		Binary: job.Physical.Binary, TrustUnauthenticated: opts.trustUnauthenticated,
		RequireEncryption: len(job.EncryptTo) > 0, Progress: bar.Set,
	})
	bar.Done()
	if errors.Is(err, backup.ErrDatadirNotEmpty) {
		return exitcode.UsageError(err)
	}
	if err != nil {
		return err
	}
	rt.log.Info("restore complete", "job", job.Name, "id", b.ID, "datadir", opts.datadir, "backups", len(chain),
		"duration", time.Since(start).Round(time.Millisecond).String())
	fmt.Fprintf(rt.stdout, "restored %s %s into %s (%d backup(s): the full %s%s): start it with mariadbd --datadir=%s\n",
		job.Name, output.Escape(b.ID), output.Escape(opts.datadir), len(chain), output.Escape(chain[0].ID), incrementals(len(chain)-1),
		output.Escape(opts.datadir))
	// Written by mariadb-backup --slave-info on a replica: a file of the
	// restored directory, so escaped like anything read back.
	if replica, err := physical.ReplicaInfo(opts.datadir); err != nil {
		rt.log.Warn("reading the replica position in the restored directory", "err", err)
	} else if replica != "" {
		fmt.Fprintf(rt.stdout, "the backed-up server was a replica (physical.slave_info): to make this one continue where it was, run: %s\n", output.Escape(replica))
	}
	return nil
}

func incrementals(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d incremental(s)", n)
}

// withBackup puts b in list in place of the entry with its ID (b may be an
// unsigned backup the user accepted).
func withBackup(list []*catalog.BackupInfo, b *catalog.BackupInfo) []*catalog.BackupInfo {
	for i, x := range list {
		if x.ID == b.ID {
			list[i] = b
			return list
		}
	}
	return append(list, b)
}

// physicalRestoreTest is verify --restore-test of a physical backup: the
// chain prepared in a scratch directory, a throw-away mariadbd on it, CHECK
// TABLE and COUNT(*) of every table; exit 1 when a table is not sound.
func (rt *opsRuntime) physicalRestoreTest(ctx context.Context, job backup.Job, store storage.Store, b *catalog.BackupInfo, ids []age.Identity, trust bool) error {
	list, err := backup.ListBackups(ctx, store, job, false)
	if err != nil {
		return err
	}
	checks, chain, err := backup.PhysicalRestoreTest(ctx, backup.PhysicalRestoreOptions{
		Store: store, List: withBackup(list, b), ID: b.ID, Identities: ids, Logger: rt.log,
		Binary: job.Physical.Binary, TrustUnauthenticated: trust, RequireEncryption: len(job.EncryptTo) > 0,
	}, "", "")
	if err != nil {
		return err
	}
	bad, compared := 0, 0
	for _, c := range checks {
		status := "OK      "
		if c.Problem != "" {
			status, bad = "MISMATCH", bad+1
		}
		// Names and messages come from the restored server: escaped.
		line := fmt.Sprintf("%s %s.%s rows %d check %s", status, output.Escape(c.Database), output.Escape(c.Table), c.Rows, output.Escape(c.Status))
		switch {
		case c.Problem != "":
			line += ": " + output.Escape(c.Problem)
		case c.Recorded && c.Record.WantDigest != "":
			compared++
			line += " rows and digest as recorded"
		case c.Recorded:
			compared++
			line += " rows as recorded"
		default:
			line += " (not recorded in the manifest)"
		}
		fmt.Fprintln(rt.stdout, line)
	}
	rt.log.Info("physical restore test", "job", job.Name, "id", b.ID, "chain", len(chain), "tables", len(checks), "compared", compared, "bad", bad)
	if bad > 0 {
		return exitcode.Check(fmt.Errorf("restore test of backup %s: %d of %d tables are not sound or differ from the backup's record", b.ID, bad, len(checks)))
	}
	return nil
}

// runPhysicalPointInTime is restore --datadir DIR --until*: the physical
// chain before the point prepared in DIR, then the archived binary log
// replayed on a throw-away server there.
func runPhysicalPointInTime(ctx context.Context, rt *opsRuntime, job backup.Job, store storage.Store, opts backupRestoreOptions, point untilPoint) error {
	var ids []age.Identity
	if path := cmp.Or(opts.identity, job.IdentityFile); path != "" {
		var err error
		if ids, err = backup.LoadIdentities(path); err != nil {
			return err
		}
	} else if len(job.EncryptTo) > 0 {
		return exitcode.UsageError(fmt.Errorf("job %s encrypts its backups and binary log: give the age identity with --identity FILE or backup.jobs[].identity_file", job.Name))
	}
	rt.log.Info("point-in-time restore started", "job", job.Name, "point", point.String(), "datadir", opts.datadir)
	res, err := pitr.RestorePhysicalPointInTime(ctx, pitr.PhysicalPITROptions{
		PhysicalRestoreOptions: backup.PhysicalRestoreOptions{Store: store, Datadir: opts.datadir, Identities: ids, Logger: rt.log,
			Binary: job.Physical.Binary, TrustUnauthenticated: opts.trustUnauthenticated, RequireEncryption: len(job.EncryptTo) > 0},
		Job: job, Point: point.RestorePoint, ReplayMode: opts.replay,
	})
	if nr := (*pitr.NotRecoverableError)(nil); errors.As(err, &nr) {
		return notRecoverable(point, nr)
	}
	if errors.Is(err, backup.ErrDatadirNotEmpty) {
		return exitcode.UsageError(err)
	}
	if err != nil {
		return err
	}
	stop := "the end of the archive"
	if !res.StoppedAt.IsZero() {
		stop = res.StoppedAt.String()
	}
	rt.log.Info("point-in-time restore complete", "job", job.Name, "backup", res.Backup.ID, "from", res.From.String(),
		"stopped_at", res.StoppedAt.String(), "transactions", res.Stats.Groups, "chunks", res.Chunks, "replay", res.Replay.Round(time.Millisecond).String())
	fmt.Fprintf(rt.stdout, "restored %s %s into %s, then %d transactions of the binary log from %s up to %s: start it with mariadbd --datadir=%s\n",
		job.Name, output.Escape(res.Backup.ID), output.Escape(opts.datadir), res.Stats.Groups, res.From, stop, output.Escape(opts.datadir))
	return nil
}
