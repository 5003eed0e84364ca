package backup

import (
	"errors"
	"fmt"
	"time"

	"github.com/opsteam/ops/backup/mysql"
)

// RestorePoint is where a point-in-time restore stops: a time, a GTID set
// or a binary log position, built once by the caller (PointAtTime,
// PointAtGTID, PointAtPosition) from whatever it parsed. The restore
// applies every event before the point and none at or after it: the first
// event whose timestamp is at or after the time (`mysqlbinlog
// --stop-datetime`), the first transaction whose GTID is not in the set,
// or the first event that starts at or after the position. The zero value
// is no point (IsZero).
//
// Every question a restore asks of the point is a method here, so the
// choice between the three kinds is made in this file only.
type RestorePoint struct {
	kind pointKind
	time time.Time
	gtid mysql.GTIDState
	pos  mysql.BinlogPos
}

type pointKind uint8

const (
	noPoint pointKind = iota
	atTime
	atGTID
	atPosition
)

// PointAtTime stops at the first event at or after t.
func PointAtTime(t time.Time) RestorePoint { return RestorePoint{kind: atTime, time: t} }

// PointAtGTID stops at the first transaction not in the set; the set must
// not be empty (a point before every transaction is no point).
func PointAtGTID(set mysql.GTIDState) (RestorePoint, error) {
	if len(set) == 0 {
		return RestorePoint{}, errors.New("empty GTID set: expected at least one domain-server-sequence")
	}
	return RestorePoint{kind: atGTID, gtid: set}, nil
}

// PointAtPosition stops at the first event that starts at or after pos.
func PointAtPosition(pos mysql.BinlogPos) RestorePoint {
	return RestorePoint{kind: atPosition, pos: pos}
}

// IsZero reports whether p is no point (a plain restore).
func (p RestorePoint) IsZero() bool { return p.kind == noPoint }

// IsTime reports whether p is a time: the only kind a window can claim to
// reach (from its chunk manifests' times) that the events then disprove.
func (p RestorePoint) IsTime() bool { return p.kind == atTime }

// String is the point's value for messages: an RFC 3339 time, a GTID set
// or FILE:POS (the caller names the option it came from).
func (p RestorePoint) String() string {
	switch p.kind {
	case atTime:
		return p.time.Format(time.RFC3339)
	case atGTID:
		return p.gtid.String()
	case atPosition:
		return p.pos.String()
	}
	return "no restore point"
}

// StopsAt reports whether ev is the first event at or after the point.
func (p RestorePoint) StopsAt(ev *mysql.BinlogEvent) bool {
	switch p.kind {
	case atTime:
		return !ev.Time().Before(p.time)
	case atGTID:
		return ev.GTID != "" && !p.gtid.Includes(ev.GTID)
	case atPosition:
		return mysql.CompareBinlogPos(mysql.BinlogPos{File: ev.File, Pos: ev.Start}, p.pos) >= 0
	}
	return false
}

// FollowsBackup reports whether the snapshot of backup b (whose window is
// w) is before the point: b is a base the replay can start from.
func (p RestorePoint) FollowsBackup(b *BackupInfo, w BinlogWindow) bool {
	switch p.kind {
	case atTime:
		// Every event in the backup is older than its snapshot; backups
		// without that record count from when they started.
		if at := b.manifest.Consistency.SnapshotAt; !at.IsZero() {
			return at.Before(p.time)
		}
		return b.StartedAt.Before(p.time)
	case atGTID:
		st, err := mysql.ParseGTIDState(w.FromGTID)
		return err == nil && w.FromGTID != "" && p.gtid.Covers(st)
	case atPosition:
		return mysql.CompareBinlogPos(w.FromPosition, p.pos) <= 0
	}
	return false
}

// ReachedBy reports whether the window's archive proves what happened up
// to the point.
func (p RestorePoint) ReachedBy(w BinlogWindow) bool {
	switch p.kind {
	case atTime:
		return !p.time.After(w.Until) // the event at Until is at or after the point: the replay stops there
	case atGTID:
		st, err := mysql.ParseGTIDState(w.UntilGTID)
		return err == nil && st.Covers(p.gtid)
	case atPosition:
		return mysql.CompareBinlogPos(p.pos, w.UntilPosition) <= 0
	}
	return false
}

// HeldBy reports whether the replay from pos stops in chunk c at the
// latest. For a time, c holds an event the replay reads at or after it
// (not necessarily its last: timestamps can go backwards).
func (p RestorePoint) HeldBy(c *ChunkInfo, pos mysql.BinlogPos) bool {
	switch p.kind {
	case atTime:
		r := reached(c, pos)
		return !r.IsZero() && !r.Before(p.time)
	case atGTID:
		end, err := mysql.ParseGTIDState(c.EndGTID)
		return err == nil && !p.gtid.Covers(end)
	case atPosition:
		return mysql.CompareBinlogPos(c.Next, p.pos) >= 0
	}
	return false
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
	End mysql.BinlogPos
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
