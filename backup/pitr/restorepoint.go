package pitr

import (
	"errors"
	"fmt"
	"time"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
)

// RestorePoint is where a point-in-time restore stops: a time, a GTID set
// or a binary log position, built once by the caller (PointAtTime,
// PointAtGTID, PointAtPosition) from whatever it parsed; nil is no point.
// The restore applies every event before the point and none at or after
// it: the first event whose timestamp is at or after the time
// (`mysqlbinlog --stop-datetime`), the first transaction whose GTID is not
// in the set, or the first event that starts at or after the position.
//
// Every question the restore asks of the point is a method, answered by
// each kind for itself: which kind a point is was decided when it was
// built, and is never asked again.
type RestorePoint interface {
	// String is the point's value for messages: an RFC 3339 time, a GTID
	// set or FILE:POS (the caller names the option it came from).
	String() string
	// StopsAt reports whether ev is the first event at or after the point.
	StopsAt(ev *binlog.BinlogEvent) bool
	// FollowsBackup reports whether the snapshot of backup b (whose
	// window is w) is before the point: b is a base the replay can start
	// from.
	FollowsBackup(b *catalog.BackupInfo, w BinlogWindow) bool
	// ReachedBy reports whether the window's archive proves what happened
	// up to the point.
	ReachedBy(w BinlogWindow) bool
	// HeldBy reports whether the replay from pos stops in chunk c at the
	// latest.
	HeldBy(c *ChunkInfo, pos binlog.BinlogPos) bool
	// stopArchived: ReachedBy promised an archived event at or after the
	// point (from the chunk manifests), so a replay that stops at none
	// contradicts them. A point of any other kind may be the archive's end.
	stopArchived() bool
}

// PointAtTime stops at the first event at or after t.
func PointAtTime(t time.Time) RestorePoint { return timePoint{t} }

// PointAtGTID stops at the first transaction not in the set; the set must
// not be empty (a point before every transaction is no point).
func PointAtGTID(set binlog.GTIDState) (RestorePoint, error) {
	if len(set) == 0 {
		return nil, errors.New("empty GTID set: expected at least one domain-server-sequence")
	}
	return gtidPoint{set}, nil
}

// PointAtPosition stops at the first event that starts at or after pos.
func PointAtPosition(pos binlog.BinlogPos) RestorePoint { return positionPoint{pos} }

type timePoint struct{ t time.Time }

func (p timePoint) String() string     { return p.t.Format(time.RFC3339) }
func (p timePoint) stopArchived() bool { return true }

func (p timePoint) StopsAt(ev *binlog.BinlogEvent) bool { return !ev.Time().Before(p.t) }

func (p timePoint) FollowsBackup(b *catalog.BackupInfo, _ BinlogWindow) bool {
	// Every event in the backup is older than its snapshot; backups
	// without that record count from when they started.
	if at := b.ManifestData().Consistency.SnapshotAt; !at.IsZero() {
		return at.Before(p.t)
	}
	return b.StartedAt.Before(p.t)
}

func (p timePoint) ReachedBy(w BinlogWindow) bool {
	return !p.t.After(w.Until) // the event at Until is at or after the point: the replay stops there
}

// HeldBy: c holds an event the replay reads at or after the time (not
// necessarily its last: timestamps can go backwards).
func (p timePoint) HeldBy(c *ChunkInfo, pos binlog.BinlogPos) bool {
	r := reached(c, pos)
	return !r.IsZero() && !r.Before(p.t)
}

type gtidPoint struct{ set binlog.GTIDState }

func (p gtidPoint) String() string     { return p.set.String() }
func (p gtidPoint) stopArchived() bool { return false }

func (p gtidPoint) StopsAt(ev *binlog.BinlogEvent) bool {
	return ev.GTID != "" && !p.set.Includes(ev.GTID)
}

func (p gtidPoint) FollowsBackup(_ *catalog.BackupInfo, w BinlogWindow) bool {
	st, err := binlog.ParseGTIDState(w.FromGTID)
	return err == nil && w.FromGTID != "" && p.set.Covers(st)
}

func (p gtidPoint) ReachedBy(w BinlogWindow) bool {
	st, err := binlog.ParseGTIDState(w.UntilGTID)
	return err == nil && st.Covers(p.set)
}

func (p gtidPoint) HeldBy(c *ChunkInfo, _ binlog.BinlogPos) bool {
	end, err := binlog.ParseGTIDState(c.EndGTID)
	return err == nil && !p.set.Covers(end)
}

type positionPoint struct{ pos binlog.BinlogPos }

func (p positionPoint) String() string     { return p.pos.String() }
func (p positionPoint) stopArchived() bool { return false }

func (p positionPoint) StopsAt(ev *binlog.BinlogEvent) bool {
	return binlog.CompareBinlogPos(binlog.BinlogPos{File: ev.File, Pos: ev.Start}, p.pos) >= 0
}

func (p positionPoint) FollowsBackup(_ *catalog.BackupInfo, w BinlogWindow) bool {
	return binlog.CompareBinlogPos(w.FromPosition, p.pos) <= 0
}

func (p positionPoint) ReachedBy(w BinlogWindow) bool {
	return binlog.CompareBinlogPos(p.pos, w.UntilPosition) <= 0
}

func (p positionPoint) HeldBy(c *ChunkInfo, _ binlog.BinlogPos) bool {
	return binlog.CompareBinlogPos(c.Next, p.pos) >= 0
}

// ErrNotRecoverable is matched by the error of a restore point that no
// backup and archived binary log reach: before the oldest backup, in a gap
// of the archive, after its end. The error (a *NotRecoverableError) names
// the recoverable windows.
var ErrNotRecoverable = errors.New("restore point is not recoverable")

// NotRecoverableError says why a restore point cannot be reached and what
// can: the caller may word it with the option the point came from.
type NotRecoverableError struct {
	Point RestorePoint
	// Why the point is not reached.
	Why string
	// Recoverable describes the recoverable windows ("" when the error is
	// not about the windows).
	Recoverable string
	// End is the end of the contiguous archive after the newest window
	// (zero when no window is recoverable): the last point a replay reaches.
	End binlog.BinlogPos
}

func (e *NotRecoverableError) Error() string {
	s := fmt.Sprintf("%s: %s: %s", ErrNotRecoverable, e.Point, e.Why)
	if e.Recoverable != "" {
		s += "; " + e.Recoverable
	}
	if !e.End.IsZero() {
		s += fmt.Sprintf(" (the archive ends at %s)", e.End)
	}
	return s
}

// Is makes errors.Is(err, ErrNotRecoverable) hold.
func (e *NotRecoverableError) Is(target error) bool { return target == ErrNotRecoverable }
