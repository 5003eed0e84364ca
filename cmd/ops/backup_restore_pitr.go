package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/replay"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/progress"
)

// untilLayouts are the forms --until takes besides RFC 3339 (local time).
var untilLayouts = []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"}

// untilPoint is the restore point of --until, --until-gtid or
// --until-position, parsed once, here, and the flag it came from: backup
// gets the typed point, messages name the flag.
type untilPoint struct {
	pitr.RestorePoint
	flag string // until, until-gtid or until-position; "" with no point
}

// String is the point as the user gave it: "--until 2026-12-04T15:01:00Z".
func (u untilPoint) String() string { return "--" + u.flag + " " + u.RestorePoint.String() }

// parseRestorePoint reads --until, --until-gtid and --until-position (at
// most one; cobra enforces it): the one place that tells the kinds of
// point apart. The point is nil when none is given.
func parseRestorePoint(o backupRestoreOptions, loc *time.Location) (untilPoint, error) {
	switch {
	case o.until != "":
		s := strings.TrimSpace(o.until)
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return untilPoint{pitr.PointAtTime(t), "until"}, nil
		}
		for _, l := range untilLayouts {
			if t, err := time.ParseInLocation(l, s, loc); err == nil {
				return untilPoint{pitr.PointAtTime(t), "until"}, nil
			}
		}
		return untilPoint{}, exitcode.UsageError(fmt.Errorf("--until %q: expected RFC 3339 (2026-12-04T15:01:00Z, 2026-12-04T15:01:00+01:00) or \"YYYY-MM-DD HH:MM:SS\" in the local time zone", o.until))
	case o.untilGTID != "":
		st, err := binlog.ParseGTIDState(o.untilGTID)
		var p pitr.RestorePoint
		if err == nil {
			p, err = pitr.PointAtGTID(st)
		}
		if err != nil {
			return untilPoint{}, exitcode.UsageError(fmt.Errorf("--until-gtid %q: expected a MariaDB GTID position: domain-server-sequence, comma-separated (e.g. 0-1-1234)", o.untilGTID))
		}
		return untilPoint{p, "until-gtid"}, nil
	case o.untilPosition != "":
		pos, err := binlog.ParseBinlogPos(o.untilPosition)
		if err != nil {
			return untilPoint{}, exitcode.UsageError(fmt.Errorf("--until-position %q: %w", o.untilPosition, err))
		}
		return untilPoint{pitr.PointAtPosition(pos), "until-position"}, nil
	}
	return untilPoint{}, nil
}

// notRecoverable words pitr's NotRecoverableError with the flag the
// point came from, and says which --until-position replays everything
// archived.
func notRecoverable(point untilPoint, e *pitr.NotRecoverableError) error {
	msg := point.String() + ": " + e.Why
	if e.Recoverable != "" {
		msg += "; " + e.Recoverable
	}
	if !e.End.IsZero() {
		msg += fmt.Sprintf(" (to replay everything archived: --until-position %s)", e.End)
	}
	return fmt.Errorf("%w: %s", pitr.ErrNotRecoverable, msg)
}

// runPointInTimeRestore restores the newest backup before the point and
// replays the archived binary log up to it.
func runPointInTimeRestore(ctx context.Context, rt *opsRuntime, job backup.Job, store storage.Store, mapping map[string]string,
	point untilPoint, opts backupRestoreOptions) error {
	var ids []age.Identity
	path := opts.identity
	if path == "" {
		path = job.IdentityFile
	}
	if path != "" {
		var err error
		if ids, err = backup.LoadIdentities(path); err != nil {
			return err
		}
	} else if len(job.EncryptTo) > 0 {
		return exitcode.UsageError(fmt.Errorf("job %s encrypts its backups and binary log: give the age identity with --identity FILE or backup.jobs[].identity_file", job.Name))
	}
	rt.log.Info("point-in-time restore started", "job", job.Name, "point", point.String())
	ro := opts.restoreOptions(rt, job, store, mapping)
	ro.Identities = ids
	var bar *progress.Bar
	res, err := pitr.RestorePointInTime(ctx, pitr.PITROptions{
		BackupRestoreOptions: ro, Job: job, Point: point.RestorePoint, ReplayMode: opts.replay,
		ReplayProgress: func(a replay.Applied, total int) {
			if bar == nil { // the first commit: the restore of the backup is over
				bar = progress.New(rt.stderr, rt.stderrTTY, "replay", int64(total))
				bar.SetCount("transactions")
			}
			bar.Set(int64(a.Groups))
			bar.SetDetail(a.End.String())
		},
	})
	bar.Done()
	if nr := (*pitr.NotRecoverableError)(nil); errors.As(err, &nr) {
		return notRecoverable(point, nr)
	}
	if err != nil {
		return err
	}
	stop := "the end of the archive"
	if !res.StoppedAt.IsZero() {
		stop = fmt.Sprintf("%s (event at %s)", res.StoppedAt, res.StopTime.Local().Format(time.RFC3339))
	}
	rt.log.Info("point-in-time restore complete", "job", job.Name, "backup", res.Backup.ID, "from", res.From.String(),
		"stopped_at", res.StoppedAt.String(), "transactions", res.Stats.Groups, "events", res.Stats.Events,
		"skipped_transactions", res.Stats.SkipGroups, "skipped_account_statements", res.Stats.SkipAccount,
		"chunks", res.Chunks, "replay", res.Replay.Round(time.Millisecond).String())
	fmt.Fprintf(rt.stdout, "restored %s %s: %s, then %d transactions of the binary log from %s up to %s\n",
		job.Name, output.Escape(res.Backup.ID), output.Escape(strings.Join(res.Restore.Databases, ", ")), res.Stats.Groups, res.From, stop)
	return nil
}
