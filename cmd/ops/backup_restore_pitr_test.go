package main

import (
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql"
	"github.com/opsteam/ops/internal/exitcode"
)

func TestParseRestorePoint(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		opts backupRestoreOptions
		want string // the point, or "error: …"
	}{
		{backupRestoreOptions{}, "none"},
		{backupRestoreOptions{until: "2026-12-04T15:01:00Z"}, "time 2026-12-04T15:01:00Z"},
		{backupRestoreOptions{until: "2026-12-04T15:01:00+01:00"}, "time 2026-12-04T14:01:00Z"},
		{backupRestoreOptions{until: "2026-12-04 15:01:00"}, "time 2026-12-04T14:01:00Z"}, // local (CET)
		{backupRestoreOptions{until: "2026-12-04 15:01"}, "time 2026-12-04T14:01:00Z"},
		{backupRestoreOptions{until: "yesterday"}, "error: expected RFC 3339"},
		{backupRestoreOptions{until: "2026-12-04"}, "error: expected RFC 3339"},
		{backupRestoreOptions{untilGTID: "0-1-100,1-2-5"}, "gtid 0-1-100,1-2-5"},
		{backupRestoreOptions{untilGTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:23"}, "error: expected a MariaDB GTID position"},
		{backupRestoreOptions{untilPosition: "binlog.000042:1337"}, "position binlog.000042:1337"},
		{backupRestoreOptions{untilPosition: "binlog.000042"}, "error: --until-position"},
	} {
		p, pitr, err := parseRestorePoint(c.opts, berlin)
		var got string
		switch {
		case err != nil:
			got = "error: " + err.Error()
			if exitCode(err) != exitcode.Usage {
				t.Errorf("%+v: exit %d, want 2", c.opts, exitCode(err))
			}
		case !pitr:
			got = "none"
		case !p.Time.IsZero():
			got = "time " + p.Time.UTC().Format(time.RFC3339)
		case p.GTID != "":
			got = "gtid " + p.GTID
		case p.Position != (mysql.BinlogPos{}):
			got = "position " + p.Position.String()
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
