package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/schedule"
)

// fakeStorage stands in for readJobStorage: it counts reads, can be held
// (a slow storage) and can fail.
type fakeStorage struct {
	mu    sync.Mutex
	reads map[string]int
	id    string
	err   error
	hold  chan struct{} // when not nil, a read waits for it
}

func (f *fakeStorage) read(_ context.Context, _ *opsRuntime, job backup.Job) jobStorage {
	f.mu.Lock()
	f.reads[job.Name]++
	id, err, hold := f.id, f.err, f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if err != nil {
		return jobStorage{backup: schedule.StoredBackup{Err: err.Error()}}
	}
	return jobStorage{backup: schedule.StoredBackup{ID: id, Size: 42}}
}

func (f *fakeStorage) count(job string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[job]
}

func statusRuntime(jobs ...string) *opsRuntime {
	cfg := &Config{}
	for _, n := range jobs {
		cfg.Backup.Jobs = append(cfg.Backup.Jobs, backup.Job{Name: n, Target: "local"})
	}
	return &opsRuntime{cfg: cfg}
}

// waitIdle waits until no read is running.
func waitIdle(t *testing.T, s *storageStatus) {
	t.Helper()
	s.mu.Lock()
	done := s.loading
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the storage read never ended")
		}
	}
}

// Storage is read once per TTL, not per view; again right after serve's
// own backup; a failed read keeps the last good backup with the error; a
// view of a job never read waits for the first read.
func TestStorageStatusCache(t *testing.T) {
	t.Parallel()
	f := &fakeStorage{reads: map[string]int{}, id: "20261207T030000Z"}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	s := newStorageStatus(t.Context(), slog.New(slog.DiscardHandler), metrics.NewBinlogCollector())
	s.read = f.read
	s.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	s.setRuntime(statusRuntime("app"))

	ctx := context.Background()
	if got := s.get(ctx).Backups["app"]; got.ID != "20261207T030000Z" || got.Err != "" {
		t.Fatalf("first view: %+v (a view waits for the first read)", got)
	}
	for range 5 {
		s.get(ctx)
	}
	waitIdle(t, s)
	if n := f.count("app"); n != 1 {
		t.Fatalf("6 views within the TTL read storage %d times, want 1", n)
	}

	advance(statusTTL)
	f.mu.Lock()
	f.id = "20261207T040000Z"
	f.mu.Unlock()
	s.get(ctx) // starts a read, shows the cached data meanwhile
	waitIdle(t, s)
	if got := s.get(ctx).Backups["app"]; got.ID != "20261207T040000Z" || f.count("app") != 2 {
		t.Fatalf("after the TTL: %+v, %d reads", got, f.count("app"))
	}

	// serve's own backup: read again at once, without waiting for the TTL.
	f.mu.Lock()
	f.id = "20261207T050000Z"
	f.mu.Unlock()
	s.stored("app")
	waitIdle(t, s)
	if got := s.get(ctx).Backups["app"]; got.ID != "20261207T050000Z" || f.count("app") != 3 {
		t.Fatalf("after serve's backup: %+v, %d reads", got, f.count("app"))
	}

	// a storage outage: the last good backup stays, with the error.
	f.mu.Lock()
	f.err = errors.New("connection refused")
	f.mu.Unlock()
	advance(statusTTL)
	s.get(ctx)
	waitIdle(t, s)
	if got := s.get(ctx).Backups["app"]; got.ID != "20261207T050000Z" || got.Err != "connection refused" {
		t.Fatalf("after a failed read: %+v", got)
	}

	// a reload with a new job: its first view waits for it; the unchanged
	// job keeps its cache.
	f.mu.Lock()
	f.err = nil
	f.mu.Unlock()
	s.setRuntime(statusRuntime("app", "db2"))
	if got := s.get(ctx).Backups["db2"]; got.ID == "" || f.count("app") != 4 {
		t.Fatalf("the new job after a reload: %+v; app read %d times, want 4", got, f.count("app"))
	}
}

// A storage that does not answer: the view waits statusFirstWait at most
// (here: the request's context) and says so; the read goes on.
func TestStorageStatusSlowStorage(t *testing.T) {
	t.Parallel()
	f := &fakeStorage{reads: map[string]int{}, id: "x", hold: make(chan struct{})}
	s := newStorageStatus(t.Context(), slog.New(slog.DiscardHandler), metrics.NewBinlogCollector())
	s.read = f.read
	s.setRuntime(statusRuntime("app"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := s.get(ctx).Backups["app"]; got.ID != "" || got.Err == "" {
		t.Fatalf("a view while storage hangs: %+v", got)
	}
	close(f.hold)
	waitIdle(t, s)
	if got := s.get(context.Background()).Backups["app"]; got.ID != "x" {
		t.Fatalf("after the read ended: %+v", got)
	}
}

// The window spans from the oldest backup that can be rolled forward to
// the furthest point reached; with none, the newest backup's problem says
// why.
func TestRecoveryWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	pos := func(n uint64) binlog.BinlogPos { return binlog.BinlogPos{File: "bin.000001", Pos: n} }
	ch := &pitr.BinlogChain{Windows: []pitr.BinlogWindow{
		{Backup: "new", From: t0.Add(24 * time.Hour), Recoverable: true, Until: t0.Add(30 * time.Hour), UntilPosition: pos(900)},
		{Backup: "mid", From: t0.Add(12 * time.Hour), Recoverable: true, Until: t0.Add(30 * time.Hour), UntilPosition: pos(900)},
		{Backup: "old", From: t0, Recoverable: false, Problem: "the archive starts after it"},
	}}
	w, problems := recoveryWindow(ch)
	if w == nil || w.Backup != "mid" || !w.From.Equal(t0.Add(12*time.Hour)) || !w.Until.Equal(t0.Add(30*time.Hour)) ||
		w.Backups != 2 || w.UntilPosition != pos(900).String() || len(problems) != 0 {
		t.Fatalf("window %+v, problems %v", w, problems)
	}
	ch.Windows = ch.Windows[2:]
	if w, problems := recoveryWindow(ch); w != nil || len(problems) != 1 || problems[0] != "backup old: the archive starts after it" {
		t.Fatalf("no recoverable backup: %+v %v", w, problems)
	}
	if w, problems := recoveryWindow(&pitr.BinlogChain{}); w != nil || len(problems) != 1 {
		t.Fatalf("no backup: %+v %v", w, problems)
	}
}
