package pitr

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/binlog"
)

// Each kind of point stops at the first event at or after it, and only
// there: the event just before it goes on, the one at it stops.
func TestRestorePointStopsAt(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 15, 1, 0, 0, time.UTC)
	ev := func(file string, start uint64, at time.Time, gtid string) *binlog.BinlogEvent {
		return &binlog.BinlogEvent{File: file, Start: start, Timestamp: uint32(at.Unix()), GTID: gtid}
	}
	pos := PointAtPosition(binlog.BinlogPos{File: "binlog.000002", Pos: 400})
	for _, c := range []struct {
		name  string
		point RestorePoint
		ev    *binlog.BinlogEvent
		want  bool
	}{
		{"time: a second before", PointAtTime(t0), ev("binlog.000001", 4, t0.Add(-time.Second), ""), false},
		{"time: at it", PointAtTime(t0), ev("binlog.000001", 4, t0, ""), true},
		{"time: after it", PointAtTime(t0), ev("binlog.000001", 4, t0.Add(time.Second), ""), true},
		{"gtid: in the set", gtidAt(t, "0-1-100,1-2-5"), ev("binlog.000001", 4, t0, "0-1-100"), false},
		{"gtid: other domain in the set", gtidAt(t, "0-1-100,1-2-5"), ev("binlog.000001", 4, t0, "1-2-5"), false},
		{"gtid: next transaction", gtidAt(t, "0-1-100,1-2-5"), ev("binlog.000001", 4, t0, "0-1-101"), true},
		{"gtid: a domain the set lacks", gtidAt(t, "0-1-100"), ev("binlog.000001", 4, t0, "2-1-1"), true},
		{"gtid: an event inside a transaction", gtidAt(t, "0-1-100"), ev("binlog.000009", 4, t0, ""), false},
		{"position: just before", pos, ev("binlog.000002", 399, t0, ""), false},
		{"position: at it", pos, ev("binlog.000002", 400, t0, ""), true},
		{"position: an older file", pos, ev("binlog.000001", 900, t0, ""), false},
		{"position: a newer file", pos, ev("binlog.000003", 4, t0, ""), true},
	} {
		if got := c.point.StopsAt(c.ev); got != c.want {
			t.Errorf("%s: %s StopsAt(%s:%d %s %q) = %v, want %v", c.name, c.point, c.ev.File, c.ev.Start, c.ev.Time(), c.ev.GTID, got, c.want)
		}
	}
}

// String is the point's value as messages show it; only a time promises
// an archived event to stop at.
func TestRestorePointString(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		point        RestorePoint
		want         string
		stopArchived bool
	}{
		{PointAtTime(time.Date(2026, 12, 4, 15, 1, 0, 0, cet)), "2026-12-04T15:01:00+01:00", true},
		{gtidAt(t, "1-2-5,0-1-100"), "0-1-100,1-2-5", false},
		{PointAtPosition(binlog.BinlogPos{File: "binlog.000042", Pos: 1337}), "binlog.000042:1337", false},
	} {
		if got := c.point.String(); got != c.want || c.point.stopArchived() != c.stopArchived {
			t.Errorf("%s: stopArchived %v, want %s, %v", got, c.point.stopArchived(), c.want, c.stopArchived)
		}
	}
	if p, err := PointAtGTID(binlog.GTIDState{}); err == nil || p != nil {
		t.Errorf("PointAtGTID of the empty set: %v, %v; want an error", p, err)
	}
	if _, err := RestorePointInTime(context.Background(), PITROptions{}); err == nil || !strings.Contains(err.Error(), "no restore point") {
		t.Errorf("RestorePointInTime without a point: %v", err)
	}
}
