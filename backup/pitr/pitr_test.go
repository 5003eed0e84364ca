package pitr

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/binlogfake"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/storage/mem"
)

// The restore point against the chain of analyzeFixture: the newest
// backup before the point whose window reaches it is chosen; a point
// before every backup, in a gap or after the archive fails with
// ErrNotRecoverable and the recoverable windows.
func TestChooseBackupForPoint(t *testing.T) {
	chunks, backups, p, at := analyzeFixture(t)
	for _, b := range backups {
		if b.ID == "at-rotate" {
			b.ManifestData().Consistency.GTID = "0-1-10"
			b.ManifestData().Consistency.SnapshotAt = at(10).Add(40 * time.Second) // a long wait for the lock
		}
	}
	ch := AnalyzeBinlog("app", chunks, backups)
	end, _ := ch.End()
	for _, c := range []struct {
		name   string
		point  RestorePoint
		want   string // backup ID, or "error: …"
		chunks []binlog.BinlogPos
	}{
		{"time after a restart", PointAtTime(at(11)), "at-rotate", []binlog.BinlogPos{p(1, 500), p(2, 4)}},
		{"time at the window's last event", PointAtTime(at(12)), "at-rotate", []binlog.BinlogPos{p(1, 500), p(2, 4)}},
		{"time in the second run", PointAtTime(at(22)), "in-second-run", []binlog.BinlogPos{p(2, 800)}},
		{"time after the first run's end", PointAtTime(at(13)), "error: does not reach it", nil},
		{"time before every backup", PointAtTime(at(-5)), "error: before the oldest backup", nil},
		// The second chunk's last event is at the point: the replay stops there.
		{"time equal to a backup's start", PointAtTime(at(10)), "in-first", []binlog.BinlogPos{p(1, 100), p(1, 500)}},
		{"time after a backup started but before its snapshot", PointAtTime(at(10).Add(30 * time.Second)), "in-first", []binlog.BinlogPos{p(1, 100), p(1, 500), p(2, 4)}},
		{"position", PointAtPosition(p(2, 250)), "at-rotate", []binlog.BinlogPos{p(1, 500), p(2, 4)}},
		{"position at the archive's end", PointAtPosition(p(2, 300)), "at-rotate", []binlog.BinlogPos{p(1, 500), p(2, 4)}},
		{"position in the gap", PointAtPosition(p(2, 600)), "error: does not reach it", nil},
		{"position in the first chunk", PointAtPosition(p(1, 300)), "in-first", []binlog.BinlogPos{p(1, 100)}},
		{"GTID", gtidAt(t, "0-1-11"), "at-rotate", []binlog.BinlogPos{p(1, 500), p(2, 4)}},
		{"GTID after the archive", gtidAt(t, "0-1-13"), "error: does not reach it", nil},
		{"GTID before the backup", gtidAt(t, "0-1-9"), "error: before the oldest backup", nil},
	} {
		b, w, err := ch.choose(backups, c.point)
		if want, isErr := strings.CutPrefix(c.want, "error: "); isErr {
			if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrNotRecoverable) {
				t.Errorf("%s: %v, want ErrNotRecoverable with %q", c.name, err, want)
			} else if !strings.Contains(err.Error(), "backup at-rotate: from "+at(10).UTC().Format(time.RFC3339)+" (binlog.000001:900) to "+at(12).UTC().Format(time.RFC3339)+" (binlog.000002:300)") {
				t.Errorf("%s: the error does not name the recoverable windows: %v", c.name, err)
			} else if nr := (*NotRecoverableError)(nil); !errors.As(err, &nr) || nr.End != end || nr.Point.String() != c.point.String() {
				t.Errorf("%s: %#v, want a NotRecoverableError for the point ending at %s", c.name, nr, end)
			}
			continue
		}
		if err != nil || b.ID != c.want {
			t.Errorf("%s: chose %v (%v), want %s", c.name, b, err, c.want)
			continue
		}
		var got []binlog.BinlogPos
		for _, x := range ch.replayChunks(w.FromPosition, c.point) {
			got = append(got, x.Start)
		}
		if len(got) != len(c.chunks) {
			t.Errorf("%s: replays chunks %v, want %v", c.name, got, c.chunks)
			continue
		}
		for i := range got {
			if got[i] != c.chunks[i] {
				t.Errorf("%s: replays chunks %v, want %v", c.name, got, c.chunks)
				break
			}
		}
	}
}

// A chunk changed in the store after it was written: the restore fails
// before anything is restored (every chunk is checked against its
// manifest first), and so does a point the archive does not reach.
func TestRestorePointInTimeChecksBeforeRestoring(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	job.Compression = compress.None // no frame checksum: the manifest's SHA-256 must catch it
	srv := binlogfake.New(3308)
	srv.Commit(3)
	backupAt(t, s, job, srv, backuptest.T0)
	srv.Commit(20)
	srv.Rotate()
	srv.Commit(5)
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	chunks := chunksOf(t, s, job)
	if len(chunks) != 2 {
		t.Fatalf("%d chunks", len(chunks))
	}
	restored := false
	opts := PITROptions{Job: job, BackupRestoreOptions: backup.BackupRestoreOptions{Store: s,
		Restore: func(context.Context, restore.RestoreOptions, io.Reader) (*restore.RestoreResult, error) {
			restored = true
			return &restore.RestoreResult{}, nil
		}}}

	opts.Point = PointAtPosition(binlog.BinlogPos{File: "binlog.000009", Pos: 4})
	if _, err := RestorePointInTime(context.Background(), opts); !errors.Is(err, ErrNotRecoverable) || restored {
		t.Errorf("a point after the archive: %v (restored: %v)", err, restored)
	}

	obj := chunks[1].ManifestData().Object.Name
	rc, err := s.Open(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	data[len(data)/2] ^= 1
	if _, err := s.Put(context.Background(), obj, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	opts.Point = PointAtPosition(srv.Current())
	_, err = RestorePointInTime(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "nothing was restored: chunk binlog.000002:4: SHA-256") || restored {
		t.Errorf("a tampered chunk: %v (restored: %v)", err, restored)
	}
}

// gtidAt is the restore point of a GTID set (domain-server-sequence).
func gtidAt(t *testing.T, set string) RestorePoint {
	t.Helper()
	st, err := binlog.ParseGTIDState(set)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PointAtGTID(st)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
