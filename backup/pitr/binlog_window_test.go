package pitr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/binlogfake"
	"github.com/opsteam/ops/backup/mysql/replay"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/storage/mem"
)

// Timestamps that go backwards: a recovery onto the source server replays
// old events into its binary log with their original time (and a clock
// can step back). The archive's reach in time comes from the greatest
// event time, never from the last event's.

// settableClock stamps the fake server's events.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *settableClock) get() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// The chunker records the greatest event time of each chunk (max_event),
// later than its last event's when old events were replayed at the end.
func TestArchiveBinlogRecordsTheNewestEvent(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(3308)
	clock := &settableClock{now: backuptest.T0}
	srv.SetClock(clock.get)
	srv.Commit(3)
	backupAt(t, s, job, srv, backuptest.T0)
	clock.set(backuptest.T0.Add(10 * time.Minute))
	srv.Commit(5) // the source's own writes
	clock.set(backuptest.T0.Add(2 * time.Minute))
	srv.Commit(5) // replayed by a recovery: their original time
	srv.Commit(5)
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	chunks := chunksOf(t, s, job)
	if len(chunks) != 1 || !chunks[0].Complete() {
		t.Fatalf("chunks %+v", chunks)
	}
	c := chunks[0]
	m := c.ManifestData()
	if !m.LastEvent.Equal(backuptest.T0.Add(2*time.Minute)) || !m.MaxEvent.Equal(backuptest.T0.Add(10*time.Minute)) || !c.Newest().Equal(backuptest.T0.Add(10*time.Minute)) {
		t.Errorf("chunk: last event %s, max event %s, newest %s; want the last at +2m and the greatest at +10m", m.LastEvent, m.MaxEvent, c.Newest())
	}
	// The archiver's status (the metric's last-event timestamp) is the
	// greatest time as well.
	st := &ArchiveStatus{}
	srv.Commit(1)
	if _, err := ArchiveBinlog(context.Background(), ArchiveOptions{Job: job, Store: s, Once: true, Status: st,
		OpenSource: (&fakeSource{srv: srv}).open}); err != nil {
		t.Fatal(err)
	}
	if got := st.State().LastEvent; !got.Equal(backuptest.T0.Add(10 * time.Minute)) {
		t.Errorf("archiver status: last event %s, want the greatest archived time %s", got, backuptest.T0.Add(10*time.Minute))
	}
}

// A manifest written before max_event was recorded has none: the chunk's
// newest time is its last event's, and its MAC (over the JSON without the
// field) still verifies.
func TestChunkWithoutMaxEvent(t *testing.T) {
	c := &ChunkInfo{FirstEvent: backuptest.T0.Add(time.Hour), LastEvent: backuptest.T0}
	if !c.Newest().Equal(backuptest.T0) {
		t.Errorf("newest of a chunk without max_event: %s, want its last event %s", c.Newest(), backuptest.T0)
	}
	data, err := json.Marshal(&ChunkManifest{LastEvent: backuptest.T0})
	if err != nil || strings.Contains(string(data), "max_event") {
		t.Errorf("a manifest without max_event encodes it (old MACs would not verify): %s %v", data, err)
	}
}

// windowsFixture is a chain whose timestamps go backwards: the second
// chunk ends with replayed events (last event at 1, greatest at 8), the
// third holds only replayed events.
func windowsFixture(t *testing.T, withMax bool) ([]*ChunkInfo, []*catalog.BackupInfo, func(uint64) binlog.BinlogPos, func(int) time.Time) {
	p := func(pos uint64) binlog.BinlogPos { return binlog.BinlogPos{File: "binlog.000001", Pos: pos} }
	at := func(min int) time.Time { return backuptest.T0.Add(time.Duration(min) * time.Minute) }
	chunk := func(start, end uint64, first, last, maxEv int) *ChunkInfo {
		c := &ChunkInfo{Status: catalog.StatusComplete, Start: p(start), End: p(end), Next: p(end), Follows: p(start),
			FirstEvent: at(first), LastEvent: at(last), EndGTID: fmt.Sprintf("0-1-%d", end)}
		if withMax {
			c.MaxEvent = at(maxEv)
		}
		return c
	}
	chunks := []*ChunkInfo{
		chunk(100, 500, 0, 5, 5),
		chunk(500, 900, 6, 1, 8),
		chunk(900, 1200, 2, 3, 3),
	}
	backup := func(id string, pos uint64, started int) *catalog.BackupInfo {
		return catalog.Complete(catalog.BackupInfo{ID: id, StartedAt: at(started)}, &catalog.Manifest{Consistency: catalog.ConsistencyInfo{BinlogFile: "binlog.000001", BinlogPos: pos}})
	}
	backups := []*catalog.BackupInfo{
		backup("inside-the-second", 700, 7), // the second chunk's greatest time may be before it
		backup("at-the-start", 100, -1),
	}
	return chunks, backups, p, at
}

func TestWindowsFromTheNewestEvent(t *testing.T) {
	chunks, backups, p, at := windowsFixture(t, true)
	ch := AnalyzeBinlog("app", chunks, backups)
	want := map[string]struct {
		until  time.Time
		chunks int
	}{
		"at-the-start": {at(8), 3},
		// From inside the second chunk only its last event (1) and the
		// third's (3) are known to be read: the window is its backup's time.
		"inside-the-second": {at(7), 2},
	}
	if len(ch.Windows) != 2 {
		t.Fatalf("windows %+v", ch.Windows)
	}
	for _, w := range ch.Windows {
		if !w.Recoverable || !w.Until.Equal(want[w.Backup].until) || w.UntilPosition != p(1200) || w.Chunks != want[w.Backup].chunks {
			t.Errorf("window of %s: %+v, want until %s at %s", w.Backup, w, want[w.Backup].until, p(1200))
		}
	}
	if pos, tm := ch.End(); pos != p(1200) || !tm.Equal(at(8)) {
		t.Errorf("End: %s %s, want %s %s", pos, tm, p(1200), at(8))
	}
	for _, c := range []struct {
		name   string
		point  time.Time
		backup string // "" when not recoverable
		chunks []binlog.BinlogPos
	}{
		{"after the last event but before the greatest", at(7).Add(30 * time.Second), "at-the-start", []binlog.BinlogPos{p(100), p(500)}},
		{"at the greatest event", at(8), "at-the-start", []binlog.BinlogPos{p(100), p(500)}},
		{"in the first chunk", at(4), "at-the-start", []binlog.BinlogPos{p(100)}},
		{"after the greatest event", at(8).Add(time.Second), "", nil},
	} {
		b, w, err := ch.choose(backups, PointAtTime(c.point))
		if c.backup == "" {
			if !errors.Is(err, ErrNotRecoverable) || !strings.Contains(err.Error(), "does not reach it") ||
				!strings.Contains(err.Error(), "to "+at(8).UTC().Format(time.RFC3339)+" (binlog.000001:1200)") {
				t.Errorf("%s: %v, want ErrNotRecoverable naming the window to %s", c.name, err, at(8))
			}
			continue
		}
		if err != nil || b.ID != c.backup {
			t.Errorf("%s: chose %v (%v), want %s", c.name, b, err, c.backup)
			continue
		}
		var got []binlog.BinlogPos
		for _, x := range ch.replayChunks(w.FromPosition, PointAtTime(c.point)) {
			got = append(got, x.Start)
		}
		if len(got) != len(c.chunks) || got[len(got)-1] != c.chunks[len(c.chunks)-1] {
			t.Errorf("%s: replays chunks %v, want %v", c.name, got, c.chunks)
		}
	}

	// Chunks archived before max_event was recorded: their last events.
	ch = AnalyzeBinlog("app", windowsFixtureChunks(t, false), backups)
	if _, tm := ch.End(); !tm.Equal(at(5)) {
		t.Errorf("End without max_event: %s, want the greatest last event %s", tm, at(5))
	}
}

func windowsFixtureChunks(t *testing.T, withMax bool) []*ChunkInfo {
	c, _, _, _ := windowsFixture(t, withMax)
	return c
}

// The replay stops at the first event at or after the point, as
// `mysqlbinlog --stop-datetime`: events after it with older timestamps
// (a recovery's replay) are not applied, and a point no archived event
// reaches is refused.
func TestReplayStopsAtTheFirstEventAtOrAfterThePoint(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(3308)
	clock := &settableClock{now: backuptest.T0}
	srv.SetClock(clock.get)
	srv.Statements("INSERT INTO t VALUES (0)")
	backupAt(t, s, job, srv, backuptest.T0)
	clock.set(backuptest.T0.Add(10 * time.Minute))
	srv.Statements("INSERT INTO t VALUES (1)")
	srv.Statements("INSERT INTO t VALUES (2)")
	clock.set(backuptest.T0.Add(20 * time.Minute))
	damage := srv.Current()
	srv.Statements("DELETE FROM t")
	clock.set(backuptest.T0.Add(2 * time.Minute))
	srv.Statements("INSERT INTO t VALUES (3)") // replayed: older than the point
	srv.Statements("INSERT INTO t VALUES (4)")
	archiveOnce(t, s, job, &fakeSource{srv: srv})

	chunks := chunksOf(t, s, job)
	backups, err := backup.ListBackups(context.Background(), s, job, true)
	if err != nil {
		t.Fatal(err)
	}
	ch := AnalyzeBinlog(job.Name, chunks, backups)
	point := PointAtTime(backuptest.T0.Add(15 * time.Minute))
	_, w, err := ch.choose(backups, point)
	if err != nil {
		t.Fatal(err)
	}
	need := ch.replayChunks(w.FromPosition, point)
	o := PITROptions{Job: job, BackupRestoreOptions: backup.BackupRestoreOptions{Store: s}}
	files, err := fetchChunks(context.Background(), o, need, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res := &PITRResult{}
	if err := replayChunks(context.Background(), need, files, w.FromPosition, point,
		replay.NewReplayFilter(map[string]string{"test": "test"}, nil), nil, res); err != nil {
		t.Fatal(err)
	}
	if res.StoppedAt != damage || !res.StopTime.Equal(backuptest.T0.Add(20*time.Minute)) || res.Stats.Groups != 2 {
		t.Errorf("replay to %s: stopped at %s (%s) after %d transactions; want at %s (the DELETE at +20m) after 2",
			point, res.StoppedAt, res.StopTime, res.Stats.Groups, damage)
	}
}

// A chunk manifest that claims a greater time than any event the replay
// reads (edited, or a clock that was ahead): the window trusts it, but the
// checking pass finds no event at or after the point and the restore is
// refused before anything is restored.
func TestRestorePointInTimeRefusesAPointTheReplayDoesNotReach(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(3308)
	clock := &settableClock{now: backuptest.T0}
	srv.SetClock(clock.get)
	srv.Statements("INSERT INTO t VALUES (0)")
	backupAt(t, s, job, srv, backuptest.T0)
	clock.set(backuptest.T0.Add(10 * time.Minute))
	srv.Statements("INSERT INTO t VALUES (1)")
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	c := chunksOf(t, s, job)[0]
	backuptest.EditManifest(t, s, c.Manifest, func(m map[string]any) { m["max_event"] = backuptest.T0.Add(time.Hour).Format(time.RFC3339) })
	restored := false
	o := PITROptions{Job: job, Point: PointAtTime(backuptest.T0.Add(30 * time.Minute)), BackupRestoreOptions: backup.BackupRestoreOptions{Store: s,
		Restore: func(context.Context, restore.RestoreOptions, io.Reader) (*restore.RestoreResult, error) {
			restored = true
			return &restore.RestoreResult{}, nil
		}}}
	_, err := RestorePointInTime(context.Background(), o)
	if !errors.Is(err, ErrNotRecoverable) || !strings.Contains(err.Error(), "has no event at or after it, although its chunk manifests say so") || restored {
		t.Errorf("a point no event reaches: %v (restored: %v)", err, restored)
	}
}

// verify recomputes each chunk's greatest event time: a manifest whose
// max_event is not its events' (the windows' times come from it) is a
// problem.
func TestVerifyBinlogChecksMaxEvent(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(3308)
	clock := &settableClock{now: backuptest.T0}
	srv.SetClock(clock.get)
	backupAt(t, s, job, srv, backuptest.T0)
	clock.set(backuptest.T0.Add(10 * time.Minute))
	srv.Commit(5)
	clock.set(backuptest.T0.Add(time.Minute))
	srv.Commit(5)
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	backups, _ := backup.ListBackups(context.Background(), s, job, false)
	if vr, err := VerifyBinlog(context.Background(), s, job, backups[0], nil); err != nil || !vr.OK() {
		t.Fatalf("verify of an untouched archive: %+v %v", vr, err)
	}
	c := chunksOf(t, s, job)[0]
	backuptest.EditManifest(t, s, c.Manifest, func(m map[string]any) { m["max_event"] = backuptest.T0.Add(time.Hour).Format(time.RFC3339) })
	vr, err := VerifyBinlog(context.Background(), s, job, backups[0], nil)
	want := "greatest event time " + backuptest.T0.Add(10*time.Minute).UTC().Format(time.RFC3339) + "; manifest says " + backuptest.T0.Add(time.Hour).UTC().Format(time.RFC3339)
	if err != nil || !strings.Contains(strings.Join(vr.Problems, "\n"), want) {
		t.Fatalf("a max_event that is not the events': %q %v, want %q", vr.Problems, err, want)
	}
}
