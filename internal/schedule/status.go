package schedule

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsteam/ops/internal/metrics"
)

// StatusSource supplies what the status page shows beyond the scheduler's
// own runs: read from storage by the caller (cmd/ops), which caches it (a
// storage listing per page view would be too costly). It is called for
// every view of / and /status.json, never for /metrics, and must return
// promptly (cached data, possibly old; CheckedAt says how old).
type StatusSource func(ctx context.Context) StatusExtra

// StatusExtra is what a StatusSource returns.
type StatusExtra struct {
	// Backups is the last good backup of each backup job found in its
	// storage (made by ops serve, cron or by hand), by job name.
	Backups map[string]StoredBackup
	// Archivers are the binary log archives, one per job that archives.
	Archivers []ArchiverStatus
}

// Levels of a row of the status page, worst last; they are the CSS classes
// of the page (green, orange, red).
const (
	LevelOK      = metrics.Success
	LevelProblem = metrics.Problem
	LevelFailure = metrics.Failure
)

// StoredBackup is a backup job's last good backup in storage. The source
// sets ID, Time, Size, CheckedAt and Err; the scheduler sets the rest from
// the job's schedule.
type StoredBackup struct {
	ID        string    `json:"id,omitempty"` // "" when storage holds no good backup of the job
	Time      time.Time `json:"time,omitzero"`
	Size      int64     `json:"size,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"` // when storage was read
	Err       string    `json:"error,omitempty"`     // storage could not be read (the rest is from the last good read)
	// StaleAfterSeconds is twice the longest gap between the job's
	// scheduled runs: a backup older than that means at least one
	// scheduled backup did not happen. 0: the job is not scheduled (no
	// colour rule).
	StaleAfterSeconds int64  `json:"stale_after_seconds,omitempty"`
	Stale             bool   `json:"stale"`
	Level             string `json:"level,omitempty"` // success, problem, failure; "" = no rule
	Note              string `json:"note,omitempty"`
}

// ArchiverStatus is one job's binary log archive: the live state of ops
// serve's archiver (Running and the lag) and what storage holds (the
// recoverable window), which the source reads.
type ArchiverStatus struct {
	Job string `json:"job"`
	// Running: ops serve's archiver of the job reports (it may be
	// reconnecting; SilentSeconds says how long the server said nothing).
	Running       bool      `json:"running"`
	LastEvent     time.Time `json:"last_event,omitzero"` // newest archived event (server clock)
	LagSeconds    float64   `json:"lag_seconds"`         // ops_binlog_lag_seconds
	SilentSeconds float64   `json:"silent_seconds"`      // ops_binlog_source_silent_seconds
	GapsSeen      int       `json:"gaps_seen"`           // gaps met since the archiver started
	// Window is the span of point-in-time recovery: from the oldest backup
	// that can be rolled forward to the end of the archive; nil when no
	// backup can be.
	Window *RecoveryWindow `json:"window,omitempty"`
	// ArchiveGaps are the holes of the stored archive; Problems its
	// unusable chunks (and why no window).
	ArchiveGaps int       `json:"archive_gaps"`
	Problems    []string  `json:"problems,omitempty"`
	CheckedAt   time.Time `json:"checked_at,omitzero"`
	Err         string    `json:"error,omitempty"` // storage could not be read
	Level       string    `json:"level"`           // set by the scheduler
}

// RecoveryWindow is a span of point-in-time recovery.
type RecoveryWindow struct {
	From          time.Time `json:"from"`   // the oldest recoverable backup's snapshot
	Backup        string    `json:"backup"` // that backup's ID
	Until         time.Time `json:"until"`  // the end of the archive
	UntilPosition string    `json:"until_position,omitempty"`
	Backups       int       `json:"backups"` // how many backups can be rolled forward
}

// silentLimit is how long an archiver's server may say nothing before the
// row turns orange (it sends a heartbeat every 10 s when idle).
const silentLimit = 30 * time.Second

// level is the colour of an archiver's row: red when nothing can be
// recovered to a point in time or the archive has holes, orange when the
// archiver is not running or its server is silent or storage unreadable.
func (a *ArchiverStatus) level() string {
	switch {
	case a.Err == "" && (a.Window == nil || a.ArchiveGaps > 0):
		return LevelFailure
	case a.GapsSeen > 0:
		return LevelFailure
	case a.Err != "" || !a.Running || a.SilentSeconds > silentLimit.Seconds():
		return LevelProblem
	}
	return LevelOK
}

// SeverityCount is the number of inventory findings of one severity.
type SeverityCount struct {
	Severity string `json:"severity"`
	Count    int    `json:"count"`
}

// severityOrder is how findings are listed: worst first.
var severityOrder = []string{"error", "warning", "info"}

// findingCounts orders the findings of an inventory run, worst first, every
// known severity present (0 included) and unknown ones after them.
func findingCounts(m map[string]int) []SeverityCount {
	if m == nil {
		return nil
	}
	out := make([]SeverityCount, 0, len(m)+len(severityOrder))
	known := map[string]bool{}
	for _, s := range severityOrder {
		known[s] = true
		out = append(out, SeverityCount{s, m[s]})
	}
	for _, s := range slices.Sorted(maps.Keys(m)) {
		if !known[s] {
			out = append(out, SeverityCount{s, m[s]})
		}
	}
	return out
}

// findingsLevel is the colour of an inventory: red with an error, orange
// with a warning.
func findingsLevel(counts []SeverityCount) string {
	lvl := LevelOK
	for _, c := range counts {
		switch {
		case c.Count == 0:
		case c.Severity == "error":
			return LevelFailure
		case c.Severity == "warning":
			lvl = LevelProblem
		}
	}
	return lvl
}

// worse returns the worse of two levels ("" is no level).
func worse(a, b string) string {
	rank := map[string]int{"": 0, LevelOK: 1, LevelProblem: 2, LevelFailure: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// scheduleInterval is the longest gap between consecutive runs of sched
// over the eight days after from (at most 2000 runs), so that a weekday
// schedule's weekend counts; 0 when it does not run twice.
func scheduleInterval(sched cron.Schedule, from time.Time) time.Duration {
	t := sched.Next(from)
	if t.IsZero() {
		return 0
	}
	end := t.Add(8 * 24 * time.Hour)
	var longest time.Duration
	for i := 0; i < 2000 && t.Before(end); i++ {
		n := sched.Next(t)
		if n.IsZero() || !n.After(t) {
			break
		}
		longest = max(longest, n.Sub(t))
		t = n
	}
	return longest
}

// judge sets the colour of a job's last good backup: red when older than
// twice its schedule's interval (or when there is none), no rule without a
// schedule.
func (b *StoredBackup) judge(sched cron.Schedule, now time.Time) {
	var iv time.Duration
	if sched != nil {
		iv = scheduleInterval(sched, now)
	}
	limit := 2 * iv
	b.StaleAfterSeconds = int64(limit / time.Second)
	switch {
	case b.ID == "" && b.Err != "":
		b.Level, b.Note = LevelProblem, "storage could not be read"
	case iv == 0 && b.ID == "":
		b.Level, b.Note = "", "no good backup in storage; not scheduled"
	case iv == 0:
		b.Level, b.Note = "", "not scheduled: no age limit"
	case b.ID == "":
		b.Level, b.Note = LevelFailure, "no good backup in storage"
	case now.Sub(b.Time) > limit:
		b.Stale = true
		b.Level, b.Note = LevelFailure, fmt.Sprintf("stale: older than %s (twice its schedule's interval)", shortDur(limit))
	default:
		b.Level, b.Note = LevelOK, fmt.Sprintf("fresh: newer than %s (twice its schedule's interval)", shortDur(limit))
	}
	if b.Err != "" && b.ID != "" {
		b.Level = worse(b.Level, LevelProblem)
	}
}

// shortDur prints a duration without trailing zero units (48h, 2h30m, 4s).
func shortDur(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// StatusPage is what / renders and /status.json encodes.
type StatusPage struct {
	Host      string           `json:"-"`
	Now       time.Time        `json:"-"`
	Healthy   bool             `json:"healthy"` // what /healthz says: 200 or 503
	State     string           `json:"state"`   // the body of /healthz
	Jobs      []JobStatus      `json:"jobs"`
	Archivers []ArchiverStatus `json:"archivers"`
}

// Page builds the status page: Status, with each backup job's last good
// backup in storage and the binary log archives from Options.StatusSource,
// and every row's colour.
func (s *Scheduler) Page(ctx context.Context) StatusPage {
	host, _ := os.Hostname()
	state := s.state()
	now := time.Now().In(s.o.Location)
	p := StatusPage{Host: host, Now: now, Healthy: state == "ok", State: state, Jobs: s.Status(), Archivers: []ArchiverStatus{}}
	var extra StatusExtra
	if s.o.StatusSource != nil {
		extra = s.o.StatusSource(ctx)
	}
	scheds := s.schedules()
	for i := range p.Jobs {
		j := &p.Jobs[i]
		j.Level = j.LastResult
		if b, ok := extra.Backups[j.Name]; ok && j.Kind == metrics.KindBackup {
			b.Time = inLoc(b.Time, s.o.Location)
			b.judge(scheds[JobID{Kind: j.Kind, Name: j.Name}], now)
			j.Stored = &b
			j.Level = worse(j.Level, b.Level)
		}
		if j.Findings != nil {
			j.Level = worse(j.Level, findingsLevel(j.Findings))
		}
	}
	for _, a := range extra.Archivers {
		a.Level = a.level()
		a.LastEvent = inLoc(a.LastEvent, s.o.Location)
		if a.Window != nil {
			w := *a.Window
			w.From, w.Until = inLoc(w.From, s.o.Location), inLoc(w.Until, s.o.Location)
			a.Window = &w
		}
		p.Archivers = append(p.Archivers, a)
	}
	return p
}

// inLoc shows t in the scheduler's time zone (the zero time stays zero).
func inLoc(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(loc)
}

// schedules are the parsed schedules of the current jobs (nil: none).
func (s *Scheduler) schedules() map[JobID]cron.Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[JobID]cron.Schedule, len(s.jobs))
	for id, e := range s.jobs {
		out[id] = e.sched
	}
	return out
}
