package physical

import (
	"strings"
	"testing"
)

// mariadb-backup's stderr around the moment it holds commits (10.11).
const stderrAroundBlockCommit = `[00] 2026-12-07 23:48:49 Finished BACKUP STAGE BLOCK_DDL
[00] 2026-12-07 23:48:49 Starting BACKUP STAGE BLOCK_COMMIT
[00] 2026-12-07 23:48:49 Acquired locks for BACKUP STAGE BLOCK_COMMIT
[00] 2026-12-07 23:48:49 Copied file ./mysql/slow_log.CSM for log table ` + "`mysql`.`slow_log`" + `, 35 bytes
[00] 2026-12-07 23:48:49 Executing BACKUP STAGE END
`

// The line is recognised however the pipe cuts stderr, and only once it
// is whole: "Starting BACKUP STAGE BLOCK_COMMIT" is not yet the moment.
func TestSnapshotterSeesBlockCommit(t *testing.T) {
	acquired := strings.Index(stderrAroundBlockCommit, "Acquired")
	lineEnd := acquired + strings.IndexByte(stderrAroundBlockCommit[acquired:], '\n')
	for cut := 1; cut < len(stderrAroundBlockCommit); cut += 7 {
		s := &snapshotter{snap: &Snapshot{}}
		for rest := stderrAroundBlockCommit; rest != ""; {
			k := min(cut, len(rest))
			written := len(stderrAroundBlockCommit) - len(rest) + k
			if _, err := s.Write([]byte(rest[:k])); err != nil {
				t.Fatal(err)
			}
			if s.seen != (written > lineEnd) {
				t.Fatalf("pieces of %d: after %d bytes seen = %v (the line ends at %d)", cut, written, s.seen, lineEnd)
			}
			rest = rest[k:]
		}
	}
	s := &snapshotter{snap: &Snapshot{}}
	s.Write([]byte(strings.ReplaceAll(stderrAroundBlockCommit, "Acquired locks for BACKUP STAGE BLOCK_COMMIT", "Acquired locks for BACKUP STAGE BLOCK_DDL")))
	if s.seen {
		t.Fatal("another stage taken for BLOCK_COMMIT")
	}
}

// A snapshot is kept only when every session's position is the backup's.
func TestSnapshotterKeepsOnlyTheBackupsPoint(t *testing.T) {
	at := BinlogInfo{File: "binlog.000005", Pos: 6643640}
	for _, c := range []struct {
		name string
		s    *snapshotter
		want string // "" = kept
	}{
		{"at the point", &snapshotter{seen: true, pos: []BinlogInfo{{File: "binlog.000005", Pos: 6643640}, {File: "binlog.000005", Pos: 6643640}}, at: []int64{1765155601, 1765155600}}, ""},
		{"one session late", &snapshotter{seen: true, pos: []BinlogInfo{{File: "binlog.000005", Pos: 6643640}, {File: "binlog.000005", Pos: 6644000}}}, "commits resumed first"},
		{"next file", &snapshotter{seen: true, pos: []BinlogInfo{{File: "binlog.000006", Pos: 6643640}}}, "commits resumed first"},
		{"line never seen", &snapshotter{pos: nil}, "never said"},
		{"no binlog position recorded", &snapshotter{seen: true, pos: []BinlogInfo{{File: "binlog.000005", Pos: 4}}}, "no binary log position"},
	} {
		c.s.snap = &Snapshot{}
		pos := at
		if c.name == "no binlog position recorded" {
			pos = BinlogInfo{}
		}
		snap, why := c.s.result(pos)
		if c.want == "" && (snap == nil || why != "") || c.want != "" && (snap != nil || !strings.Contains(why, c.want)) {
			t.Errorf("%s: snapshot %v, why %q; want %q", c.name, snap != nil, why, c.want)
		}
		if snap != nil && snap.At != 1765155600 {
			t.Errorf("%s: the snapshot's clock %d, want the earliest session's", c.name, snap.At)
		}
	}
}
