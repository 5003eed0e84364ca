package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/schedule"
)

// Reading storage for the status page: each job's listing is kept for
// statusTTL (listing a Swift container per page view would be too costly)
// and read again after each of serve's own backups. A view waits at most
// statusFirstWait for a job never read yet (then shows "reading"); a read
// is abandoned after statusReadTimeout.
const (
	statusTTL         = time.Minute
	statusFirstWait   = 10 * time.Second
	statusReadTimeout = 30 * time.Second
)

// jobStorage is what storage holds about one job, as the status page shows
// it.
type jobStorage struct {
	backup  schedule.StoredBackup
	archive *schedule.ArchiverStatus // nil: the job does not archive its binary log
}

// storageStatus is `ops serve`'s schedule.StatusSource: each backup job's
// last good backup and each archiving job's recoverable window, read from
// storage (whoever wrote them: serve, cron, a person), cached; with the live
// lag of serve's archivers.
type storageStatus struct {
	ctx     context.Context // serve's: its end abandons reads
	log     *slog.Logger
	binlogs *metrics.BinlogCollector
	now     func() time.Time
	read    func(ctx context.Context, rt *opsRuntime, job backup.Job) jobStorage

	mu      sync.Mutex
	rt      *opsRuntime
	cache   map[string]*cachedJob
	loading chan struct{} // closed when the running read ends; nil: none running
}

type cachedJob struct {
	data  jobStorage
	read  time.Time // when data was read; zero: never
	dirty bool      // a run stored something since: read again
}

func newStorageStatus(ctx context.Context, log *slog.Logger, binlogs *metrics.BinlogCollector) *storageStatus {
	return &storageStatus{ctx: ctx, log: log, binlogs: binlogs, now: time.Now, read: readJobStorage, cache: map[string]*cachedJob{}}
}

// setRuntime shows the jobs of rt (at start and after each reload); what
// was read for a job whose config changed is read again.
func (s *storageStatus) setRuntime(rt *opsRuntime) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.rt
	s.rt = rt
	keep := map[string]*cachedJob{}
	for _, j := range rt.cfg.Backup.Jobs {
		if c := s.cache[j.Name]; c != nil && old != nil && sameStorage(old, rt, j) {
			keep[j.Name] = c
		}
	}
	s.cache = keep
}

// sameStorage reports whether job reads the same storage under both
// runtimes.
func sameStorage(a, b *opsRuntime, job backup.Job) bool {
	for _, j := range a.cfg.Backup.Jobs {
		if j.Name == job.Name {
			return jobFingerprint(a, j) == jobFingerprint(b, job)
		}
	}
	return false
}

// stored marks a job's storage as changed (serve's run stored a backup or
// pruned) and reads it again now, in the background.
func (s *storageStatus) stored(job string) {
	s.mu.Lock()
	if c := s.cache[job]; c != nil {
		c.dirty = true
	}
	s.mu.Unlock()
	s.refresh()
}

// dueLocked reports the jobs to read again, and whether one was never read.
func (s *storageStatus) dueLocked(now time.Time) (due []backup.Job, first bool) {
	if s.rt == nil {
		return nil, false
	}
	for _, j := range s.rt.cfg.Backup.Jobs {
		c := s.cache[j.Name]
		switch {
		case c == nil || c.read.IsZero():
			due, first = append(due, j), true
		case c.dirty || now.Sub(c.read) >= statusTTL:
			due = append(due, j)
		}
	}
	return due, first
}

// refresh starts reading the jobs that are due, unless a read is running;
// it returns the running read's end (nil when nothing is read) and
// whether a job was never read.
func (s *storageStatus) refresh() (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	due, first := s.dueLocked(s.now())
	if s.loading != nil || len(due) == 0 {
		return s.loading, first
	}
	done := make(chan struct{})
	s.loading = done
	rt := s.rt
	for _, j := range due {
		if c := s.cache[j.Name]; c != nil {
			c.dirty = false // a run storing while we read sets it again
		}
	}
	go func() {
		defer close(done)
		for _, j := range due {
			ctx, cancel := context.WithTimeout(readOnly(s.ctx), statusReadTimeout)
			data := s.read(ctx, rt, j)
			cancel()
			if data.backup.Err != "" { // shown on the page; the job's runs say more
				s.log.Debug("status page: cannot read storage", "job", j.Name, "error", data.backup.Err)
			}
			s.mu.Lock()
			if s.rt == rt {
				s.saveLocked(j.Name, data)
			}
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.loading = nil
		s.mu.Unlock()
	}()
	return done, first
}

// saveLocked stores what a read found; a failed read keeps what the last
// good one found, with the error.
func (s *storageStatus) saveLocked(name string, data jobStorage) {
	c := s.cache[name]
	if c == nil {
		c = &cachedJob{}
		s.cache[name] = c
	}
	if data.backup.Err != "" && !c.read.IsZero() {
		prev := c.data
		prev.backup.Err, prev.backup.CheckedAt = data.backup.Err, data.backup.CheckedAt
		if prev.archive != nil && data.archive != nil {
			prev.archive.Err, prev.archive.CheckedAt = data.archive.Err, data.archive.CheckedAt
		}
		data = prev
	}
	c.data, c.read = data, s.now()
}

// get is the StatusSource: what the cache holds, after starting a read of
// what is due; a job never read yet is waited for (statusFirstWait).
func (s *storageStatus) get(ctx context.Context) schedule.StatusExtra {
	done, first := s.refresh()
	if first && done != nil {
		t := time.NewTimer(statusFirstWait)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := schedule.StatusExtra{Backups: map[string]schedule.StoredBackup{}}
	if s.rt == nil {
		return out
	}
	for _, j := range s.rt.cfg.Backup.Jobs {
		c := s.cache[j.Name]
		if c == nil || c.read.IsZero() {
			out.Backups[j.Name] = schedule.StoredBackup{Err: "not read yet (storage is slow to answer)"}
			if j.Binlog.Enabled {
				out.Archivers = append(out.Archivers, s.live(j.Name, &schedule.ArchiverStatus{Job: j.Name, Err: "not read yet"}))
			}
			continue
		}
		out.Backups[j.Name] = c.data.backup
		if c.data.archive != nil {
			a := *c.data.archive
			out.Archivers = append(out.Archivers, s.live(j.Name, &a))
		}
	}
	return out
}

// live adds the running archiver's state (ops_binlog_* metrics) to a row.
func (s *storageStatus) live(job string, a *schedule.ArchiverStatus) schedule.ArchiverStatus {
	if st, ok := s.binlogs.State(job); ok {
		a.Running = true
		a.LastEvent = st.LastEvent
		a.LagSeconds, a.SilentSeconds, a.GapsSeen = st.Lag.Seconds(), st.Silent.Seconds(), st.Gaps
	}
	return *a
}

// readJobStorage lists one job's backups (and binary log chunks when it
// archives them): the newest good backup, and the span from the oldest
// backup that can be rolled forward to the end of the archive. The same
// reads as `ops backup list [--binlog]`.
func readJobStorage(ctx context.Context, rt *opsRuntime, job backup.Job) jobStorage {
	now := time.Now()
	var out jobStorage
	out.backup.CheckedAt = now
	if job.Binlog.Enabled {
		out.archive = &schedule.ArchiverStatus{Job: job.Name, CheckedAt: now}
	}
	fail := func(err error) jobStorage {
		out.backup.Err = err.Error()
		if out.archive != nil {
			out.archive.Err = err.Error()
		}
		return out
	}
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return fail(err)
	}
	backups, err := backup.ListBackups(ctx, store, job, false)
	if err != nil {
		return fail(err)
	}
	sortNewestFirst(backups)
	for _, b := range backups {
		if b.Status == catalog.StatusComplete {
			out.backup.ID, out.backup.Time, out.backup.Size = b.ID, b.StartedAt, b.Size
			break
		}
	}
	if out.archive == nil {
		return out
	}
	chunks, err := pitr.ListBinlogChunks(ctx, store, job)
	if err != nil {
		out.archive.Err = err.Error()
		return out
	}
	ch := pitr.AnalyzeBinlog(job.Name, chunks, backups)
	out.archive.Window, out.archive.Problems = recoveryWindow(ch)
	out.archive.ArchiveGaps = len(ch.Gaps)
	return out
}

// recoveryWindow spans the recoverable windows of a chain: from the oldest
// backup that can be rolled forward to the furthest point reached. With
// none, the problems say why (the newest backup's first).
func recoveryWindow(ch *pitr.BinlogChain) (*schedule.RecoveryWindow, []string) {
	var w *schedule.RecoveryWindow
	var problems []string
	for _, bw := range ch.Windows {
		if !bw.Recoverable {
			if w == nil && len(problems) == 0 && bw.Problem != "" {
				problems = append(problems, "backup "+bw.Backup+": "+bw.Problem)
			}
			continue
		}
		if w == nil {
			w = &schedule.RecoveryWindow{From: bw.From, Backup: bw.Backup, Until: bw.Until, UntilPosition: bw.UntilPosition.String()}
		}
		w.Backups++
		if bw.From.Before(w.From) {
			w.From, w.Backup = bw.From, bw.Backup
		}
		if bw.Until.After(w.Until) {
			w.Until, w.UntilPosition = bw.Until, bw.UntilPosition.String()
		}
	}
	if w != nil {
		problems = nil
	}
	if len(ch.Windows) == 0 {
		problems = append(problems, "no backup with a binary log position: take a backup")
	}
	return w, append(problems, ch.Problems...)
}
