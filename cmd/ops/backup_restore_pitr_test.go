package main

import (
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/exitcode"
)

func TestParseRestorePoint(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		opts backupRestoreOptions
		want string // the point as messages show it, or "error: …"
	}{
		{backupRestoreOptions{}, "none"},
		{backupRestoreOptions{until: "2026-12-04T15:01:00Z"}, "--until 2026-12-04T15:01:00Z"},
		{backupRestoreOptions{until: "2026-12-04T15:01:00+01:00"}, "--until 2026-12-04T15:01:00+01:00"},
		{backupRestoreOptions{until: "2026-12-04 15:01:00"}, "--until 2026-12-04T15:01:00+01:00"}, // local (CET)
		{backupRestoreOptions{until: " 2026-12-04 15:01 "}, "--until 2026-12-04T15:01:00+01:00"},
		{backupRestoreOptions{until: "yesterday"}, "error: expected RFC 3339"},
		{backupRestoreOptions{until: "2026-12-04"}, "error: expected RFC 3339"},
		{backupRestoreOptions{untilGTID: "1-2-5,0-1-100"}, "--until-gtid 0-1-100,1-2-5"},
		{backupRestoreOptions{untilGTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:23"}, "error: --until-gtid \"3E11FA47-71CA-11E1-9E33-C80AA9429562:23\": expected a MariaDB GTID position"},
		{backupRestoreOptions{untilGTID: ","}, "error: --until-gtid \",\": expected a MariaDB GTID position"},
		{backupRestoreOptions{untilPosition: "binlog.000042:1337"}, "--until-position binlog.000042:1337"},
		{backupRestoreOptions{untilPosition: "binlog.000042"}, "error: --until-position \"binlog.000042\""},
	} {
		p, err := parseRestorePoint(c.opts, berlin)
		var got string
		switch {
		case err != nil:
			got = "error: " + err.Error()
			if exitCode(err) != exitcode.Usage {
				t.Errorf("%+v: exit %d, want 2", c.opts, exitCode(err))
			}
		case p.RestorePoint == nil:
			got = "none"
		default:
			got = p.String()
		}
		if want, isErr := strings.CutPrefix(c.want, "error: "); isErr {
			if !strings.Contains(got, want) {
				t.Errorf("%+v: %s, want an error with %q", c.opts, got, want)
			}
		} else if got != c.want {
			t.Errorf("%+v: %s, want %s", c.opts, got, c.want)
		}
	}
}

// A point no backup reaches: backup says why, restore words it with the
// flag the user gave and the --until-position that replays everything.
func TestNotRecoverableNamesTheFlag(t *testing.T) {
	p, err := parseRestorePoint(backupRestoreOptions{untilPosition: "binlog.000009:4"}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	end := binlog.BinlogPos{File: "binlog.000002", Pos: 300}
	got := notRecoverable(p, &pitr.NotRecoverableError{Point: p.RestorePoint, Why: "it is after the archive", Recoverable: "recoverable: backup b1: …", End: end})
	want := "restore point is not recoverable: --until-position binlog.000009:4: it is after the archive; recoverable: backup b1: … (to replay everything archived: --until-position binlog.000002:300)"
	if got.Error() != want || exitCode(got) != exitcode.Usage {
		t.Errorf("got %q (exit %d)\nwant %q (exit 2)", got, exitCode(got), want)
	}
	got = notRecoverable(p, &pitr.NotRecoverableError{Point: p.RestorePoint, Why: "no event at or after it"})
	if want := "restore point is not recoverable: --until-position binlog.000009:4: no event at or after it"; got.Error() != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
