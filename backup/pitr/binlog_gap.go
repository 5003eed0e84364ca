package pitr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/binlog"
)

// ErrBinlogGap is matched by the error of an archiver run that met a gap:
// binary logs the server purged before they were archived. The archiver
// went on from the server's oldest log (what it stored is sound), but the
// points in time in the gap cannot be recovered: the operator must know.
var ErrBinlogGap = errors.New("binlog gap")

// GapError reports the gaps an archiver run met, and the backup from which
// on point-in-time recovery works again.
type GapError struct {
	Job  string
	Gaps []BinlogGap
	// Resume is the oldest complete backup whose binary log position is
	// at or after the end of the last gap ("" = none yet).
	Resume string
}

func (e *GapError) Error() string {
	var missing []string
	for _, g := range e.Gaps {
		missing = append(missing, g.From.String()+" up to "+g.To.String())
	}
	last := e.Gaps[len(e.Gaps)-1].To
	again := fmt.Sprintf("from backup %s on", e.Resume)
	if e.Resume == "" {
		again = fmt.Sprintf("only from a backup taken from now on (none of job %s is at or after %s yet): take a new backup", e.Job, last)
	}
	return fmt.Sprintf("binlog gap: the server of job %s purged binary logs before they were archived: %s is missing, and no point in time in it can be recovered; archiving went on from %s; point-in-time recovery works again %s",
		e.Job, strings.Join(missing, ", "), last, again)
}

func (e *GapError) Unwrap() error { return ErrBinlogGap }

// gapError is the error of a run that met gaps (nil when it met none).
func (a *archiver) gapError(ctx context.Context) error {
	if len(a.res.Gaps) == 0 {
		return nil
	}
	e := &GapError{Job: a.o.Job.Name, Gaps: a.res.Gaps}
	// The run may end because ctx ended (SIGTERM): the listing still runs.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	last := e.Gaps[len(e.Gaps)-1].To
	if list, err := backup.ListBackups(lctx, a.o.Store, a.o.Job, false); err == nil {
		for _, b := range list { // newest first: the last match is the oldest
			m := b.ManifestData()
			if m != nil && m.Consistency.BinlogFile != "" && binlog.CompareBinlogPos(binlog.BinlogPos{File: m.Consistency.BinlogFile, Pos: m.Consistency.BinlogPos}, last) >= 0 {
				e.Resume = b.ID
			}
		}
	} else {
		a.log.Warn("cannot list the backups to say from which one point-in-time recovery works again", "job", a.o.Job.Name, "error", err.Error())
	}
	return e
}
