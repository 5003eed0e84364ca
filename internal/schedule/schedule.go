package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
)

// Defaults for Options.
const (
	DefaultGrace      = 30 * time.Second
	DefaultCancelWait = 10 * time.Second
)

// RunFunc does one run of a job. ctx is cancelled when the scheduler gives
// up waiting for the run at shutdown, or at the job's Timeout. Options.Classify
// says what its error means: exit status 1 is a Problem, any other a Failure.
// A run past its Timeout is a Failure whatever it returns (its error is a
// *TimeoutError).
type RunFunc func(ctx context.Context) (metrics.Result, error)

// Job is one scheduled unit of work.
type Job struct {
	Kind     string        // metrics.KindBackup, metrics.KindTLSCheck, metrics.KindInventory
	Name     string        // unique within the kind
	Schedule string        // cron spec (see ParseSpec); "" = listed but never run
	Timeout  time.Duration // per-run deadline (the run is cancelled, a failure, and /healthz 503 while it still runs); 0 = none
	Run      RunFunc
}

// ID is the job's identity across reloads.
func (j Job) ID() JobID { return JobID{Kind: j.Kind, Name: j.Name} }

// LoadFunc builds the job set, typically by reading and validating the
// config file again. It is called once by Start and once per Reload.
type LoadFunc func(ctx context.Context) ([]Job, error)

// Options configure a Scheduler. Only Load is required.
type Options struct {
	Load LoadFunc
	// Classify maps a run's error to the exit status a one-shot command
	// would have had (cmd/ops passes its exit table): 1 makes the run a
	// Problem, anything else a Failure. nil: every error is a Failure (3).
	Classify func(error) int
	Logger   *slog.Logger
	Metrics  *metrics.Set // nil = a fresh one
	// Locker, when set, makes every run hold its job's cross-process lock,
	// so that a one-shot `ops backup run` and the daemon never overlap; a
	// run whose lock is held elsewhere is skipped (reason "locked").
	Locker *Locker
	// Location is the time zone of specs without CRON_TZ=; nil = time.Local.
	Location *time.Location
	// Grace is how long Stop waits for running jobs before cancelling their
	// context; CancelWait is how long it then waits for them to return.
	Grace      time.Duration
	CancelWait time.Duration
	// HTTP secures the endpoints of Handler and Serve.
	HTTP HTTPOptions
	// StatusSource adds what storage holds to the status page (nil: only
	// the scheduler's own runs are shown).
	StatusSource StatusSource
}

// entry is one job of the current set.
type entry struct {
	job   Job
	sched cron.Schedule // nil = not scheduled
	cid   cron.EntryID
	tok   uint64 // which cron registration may fire this job
}

// history is what the status page shows about past runs; it survives
// reloads for jobs that stay.
type history struct {
	lastStart, lastEnd time.Time
	lastResult         string
	lastErr            string
	runs, failures     int
	skipped            int
	runningSince       time.Time     // zero when not running
	runTimeout         time.Duration // the running run's Job.Timeout; 0 = none
	backupID           string        // the last backup stored (backup jobs)
	backupSize         int64
	findings           map[string]int // the last inventory run's findings by severity (nil: none reported)
}

// Scheduler runs a job set. Create it with New; it is safe for concurrent use.
type Scheduler struct {
	o   Options
	log *slog.Logger
	m   *metrics.Set

	cron *cron.Cron

	mu       sync.Mutex
	jobs     map[JobID]*entry
	order    []JobID
	hist     map[JobID]*history
	nextTok  uint64
	started  bool
	stopping bool
	stopped  chan struct{} // closed when Stop has finished
	stopErr  error

	runs       sync.WaitGroup
	runCtx     context.Context
	cancelRuns context.CancelFunc
}

// New returns a Scheduler that has not loaded anything yet.
func New(o Options) *Scheduler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Classify == nil {
		o.Classify = func(error) int { return exitcode.Runtime }
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.CancelWait <= 0 {
		o.CancelWait = DefaultCancelWait
	}
	s := &Scheduler{
		o:       o,
		log:     o.Logger,
		m:       o.Metrics,
		jobs:    map[JobID]*entry{},
		hist:    map[JobID]*history{},
		stopped: make(chan struct{}),
	}
	cl := cronLogger{o.Logger}
	// Recover is only a safety net around our own wrapper: run() recovers
	// job panics itself so that they are counted. Overlap is handled per
	// job ID in fire(), which holds across reloads (cron's
	// SkipIfStillRunning is per wrapper instance).
	s.cron = cron.New(cron.WithLocation(o.Location), cron.WithParser(parser),
		cron.WithLogger(cl), cron.WithChain(cron.Recover(cl)))
	o.Metrics.RegisterProcessMetrics()
	if err := o.Metrics.Registry().Register(&nextRunCollector{s}); err != nil {
		s.log.Warn("scheduler metrics not registered", "err", err)
	}
	return s
}

// Metrics is the Set the scheduler records into.
func (s *Scheduler) Metrics() *metrics.Set { return s.m }

// ErrInvalidJobs matches (errors.Is) the error of a job set that cannot be
// scheduled (a missing name or Run, a duplicate, a bad schedule): a
// configuration error, not a failed run.
var ErrInvalidJobs = errors.New("invalid job set")

// invalidJobs marks an error as ErrInvalidJobs and keeps its message.
type invalidJobs struct{ err error }

func (e *invalidJobs) Error() string        { return e.err.Error() }
func (e *invalidJobs) Unwrap() error        { return e.err }
func (e *invalidJobs) Is(target error) bool { return target == ErrInvalidJobs }

// prepare validates a job set: unique IDs, a Run func, valid schedules.
// Its error matches ErrInvalidJobs.
func prepare(jobs []Job) (map[JobID]*entry, error) {
	set := make(map[JobID]*entry, len(jobs))
	var errs []error
	for _, j := range jobs {
		id := j.ID()
		switch {
		case j.Kind == "" || j.Name == "":
			errs = append(errs, fmt.Errorf("job %q: kind and name are required", id))
			continue
		case set[id] != nil:
			errs = append(errs, fmt.Errorf("job %s: defined twice", id))
			continue
		case j.Run == nil:
			errs = append(errs, fmt.Errorf("job %s: no Run function", id))
			continue
		}
		e := &entry{job: j}
		if strings.TrimSpace(j.Schedule) != "" {
			sched, err := ParseSpec(j.Schedule)
			if err != nil {
				errs = append(errs, fmt.Errorf("job %s: %w", id, err))
				continue
			}
			e.sched = sched
		}
		set[id] = e
	}
	if len(errs) > 0 {
		return set, &invalidJobs{errors.Join(errs...)}
	}
	return set, nil
}

// Start loads the job set and starts running it. ctx is only the parent of
// the jobs' values: cancelling it does not stop the scheduler (Stop does),
// so that a SIGTERM-cancelled context still lets running jobs finish within
// the grace period.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("scheduler already started")
	}
	s.mu.Unlock()
	if s.o.Load == nil {
		return errors.New("scheduler: no Load function")
	}
	jobs, err := s.o.Load(ctx)
	var set map[JobID]*entry
	if err == nil {
		set, err = prepare(jobs)
	}
	if err != nil {
		s.m.ConfigLoaded(false, time.Now())
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runCtx, s.cancelRuns = context.WithCancel(context.WithoutCancel(ctx))
	s.swapLocked(jobs, set)
	s.started = true
	s.cron.Start()
	s.m.ConfigLoaded(true, time.Now())
	s.log.Info("scheduler started", "jobs", len(set), "scheduled", s.countScheduledLocked())
	return nil
}

// Reload calls Load again and swaps the job set atomically: jobs that
// disappear are unscheduled (a running one finishes), new ones are
// scheduled, changed ones take effect from their next run; a job whose
// schedule is unchanged keeps its next run time. When Load fails or the new
// set is invalid, the running set is kept and the error is returned (and
// logged, and shown by ops_config_last_reload_successful 0).
func (s *Scheduler) Reload(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopping {
		s.mu.Unlock()
		return errors.New("scheduler not running: reload ignored")
	}
	s.mu.Unlock()
	jobs, err := s.o.Load(ctx)
	var set map[JobID]*entry
	if err == nil {
		set, err = prepare(jobs)
	}
	if err != nil {
		s.m.ConfigLoaded(false, time.Now())
		s.log.Error("reload failed: keeping the running job set", "err", err)
		return fmt.Errorf("reload: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return errors.New("scheduler stopping: reload ignored")
	}
	added, removed, changed := s.swapLocked(jobs, set)
	s.m.ConfigLoaded(true, time.Now())
	s.log.Info("reloaded", "jobs", len(set), "added", added, "removed", removed, "changed", changed)
	return nil
}

// swapLocked installs a validated set. s.mu is held.
func (s *Scheduler) swapLocked(jobs []Job, set map[JobID]*entry) (added, removed, changed []string) {
	for id, old := range s.jobs {
		if set[id] != nil {
			continue
		}
		if old.cid != 0 {
			s.cron.Remove(old.cid)
		}
		removed = append(removed, id.String())
		if h := s.hist[id]; h == nil || h.runningSince.IsZero() {
			delete(s.hist, id)
			s.m.Forget(id.Kind, id.Name)
		} // else: run() forgets it when the run ends
	}
	for id, e := range set {
		old := s.jobs[id]
		switch {
		case old == nil:
			added = append(added, id.String())
			s.m.Declare(id.Kind, id.Name)
		case old.job.Schedule != e.job.Schedule || old.job.Timeout != e.job.Timeout:
			changed = append(changed, id.String())
		}
		if old != nil && old.cid != 0 && old.job.Schedule == e.job.Schedule {
			e.cid, e.tok = old.cid, old.tok // same trigger: the next run time stays
		} else {
			if old != nil && old.cid != 0 {
				s.cron.Remove(old.cid)
			}
			if e.sched != nil {
				s.nextTok++
				e.tok = s.nextTok
				e.cid = s.cron.Schedule(e.sched, trigger{s: s, id: id, tok: e.tok})
			}
		}
		if s.hist[id] == nil {
			s.hist[id] = &history{}
		}
	}
	s.jobs = set
	s.order = s.order[:0]
	for _, j := range jobs {
		s.order = append(s.order, j.ID())
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}

func (s *Scheduler) countScheduledLocked() int {
	n := 0
	for _, e := range s.jobs {
		if e.sched != nil {
			n++
		}
	}
	return n
}

// trigger is what cron runs; it only hands over to fire.
type trigger struct {
	s   *Scheduler
	id  JobID
	tok uint64
}

func (t trigger) Run() { t.s.fire(t.id, t.tok) }

// RunNow starts a run of a job immediately, outside its schedule, with the
// same overlap, lock, panic and metrics rules. It returns false when the run
// was not started (unknown job, already running, locked, stopping).
func (s *Scheduler) RunNow(id JobID) bool {
	s.mu.Lock()
	e := s.jobs[id]
	var tok uint64
	if e != nil {
		tok = e.tok
	}
	s.mu.Unlock()
	if e == nil {
		return false
	}
	return s.start(id, tok, true)
}

func (s *Scheduler) fire(id JobID, tok uint64) { s.start(id, tok, false) }

// start runs one job synchronously when it may, and reports whether it ran.
// (cron calls each trigger in its own goroutine; RunNow spawns one.)
func (s *Scheduler) start(id JobID, tok uint64, async bool) bool {
	s.mu.Lock()
	e := s.jobs[id]
	if e == nil || e.tok != tok || s.stopping || !s.started {
		s.mu.Unlock()
		return false // unscheduled by a reload that raced with cron, or stopping
	}
	h := s.hist[id]
	if !h.runningSince.IsZero() {
		h.skipped++
		since := h.runningSince
		s.mu.Unlock()
		s.m.Skipped(id.Kind, id.Name, metrics.SkipOverlap)
		s.log.Warn("skipped: the previous run is still running", "kind", id.Kind, "job", id.Name,
			"running_since", since.Format(time.RFC3339))
		return false
	}
	start := time.Now()
	h.runningSince, h.runTimeout = start, e.job.Timeout
	s.runs.Add(1)
	job := e.job
	ctx := s.runCtx
	s.mu.Unlock()

	if async {
		go s.run(ctx, job, start)
	} else {
		s.run(ctx, job, start)
	}
	return true
}

// run executes one run of job; the caller has marked it running.
func (s *Scheduler) run(ctx context.Context, job Job, start time.Time) {
	id := job.ID()
	defer s.runs.Done()
	log := s.log.With("kind", id.Kind, "job", id.Name)

	var lock *Lock
	if s.o.Locker != nil {
		l, err := s.o.Locker.TryLock(id)
		if err != nil {
			if errors.Is(err, ErrLocked) {
				s.mu.Lock()
				if h := s.hist[id]; h != nil {
					h.runningSince, h.runTimeout = time.Time{}, 0
					h.skipped++
				}
				s.mu.Unlock()
				s.m.Skipped(id.Kind, id.Name, metrics.SkipLocked)
				log.Warn("skipped: the job is running in another process", "err", err)
				return
			}
			// Cannot tell whether it runs elsewhere: do not run it blind.
			code := s.o.Classify(err)
			s.m.Record(metrics.Run{Kind: id.Kind, Name: id.Name, Start: start, End: time.Now(), Err: err, Code: code})
			s.finish(id, start, time.Now(), err, code, false, metrics.Result{})
			log.Error("run failed", "err", err)
			return
		}
		lock = l
		defer func() {
			if err := lock.Unlock(); err != nil {
				log.Warn("releasing the job lock", "err", err)
			}
		}()
	}

	s.m.SetRunning(id.Kind, id.Name, true)
	log.Info("run started")
	var (
		res   metrics.Result
		stack []byte
	)
	onTimeout := func() {
		log.Error("run timed out: cancelling it", "timeout", job.Timeout,
			"running_since", start.Format(time.RFC3339))
	}
	err := WithTimeout(ctx, job.Timeout, onTimeout, func(ctx context.Context) error {
		var err error
		res, stack, err = call(ctx, job.Run)
		return err
	})
	end := time.Now()
	panicked := stack != nil
	if panicked {
		log.Error("run panicked", "err", err, "stack", string(stack))
	}
	s.m.SetRunning(id.Kind, id.Name, false)
	code := 0
	if err != nil {
		code = s.o.Classify(err)
	}
	s.m.Record(metrics.Run{Kind: id.Kind, Name: id.Name, Start: start, End: end, Err: err, Code: code, Panicked: panicked, Result: res})
	s.finish(id, start, end, err, code, panicked, res)
	result, code := metrics.Outcome(err, code, panicked)
	attrs := []any{"result", result, "exit_code", code, "duration", end.Sub(start).Round(time.Millisecond)}
	switch {
	case result == metrics.Success:
		log.Info("run finished", attrs...)
	case result == metrics.Problem:
		log.Warn("run finished", append(attrs, "err", err)...)
	default:
		log.Error("run failed", append(attrs, "err", err)...)
	}
}

// finish updates the history after a run and forgets a job that was
// removed while it ran.
func (s *Scheduler) finish(id JobID, start, end time.Time, err error, code int, panicked bool, res metrics.Result) {
	result, _ := metrics.Outcome(err, code, panicked)
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hist[id]
	if h == nil {
		return
	}
	h.runningSince, h.runTimeout = time.Time{}, 0
	h.lastStart, h.lastEnd, h.lastResult = start, end, result
	h.runs++
	h.lastErr = ""
	if err != nil {
		h.lastErr = err.Error()
	}
	if res.BackupID != "" { // the last stored backup stays shown after a failed run
		h.backupID, h.backupSize = res.BackupID, res.BackupBytes
	}
	if res.Inventory != nil { // a run that could not collect keeps the previous findings
		h.findings = maps.Clone(res.Inventory.Findings)
		if h.findings == nil {
			h.findings = map[string]int{}
		}
	}
	if result != metrics.Success {
		h.failures++
	}
	if s.jobs[id] == nil {
		delete(s.hist, id)
		s.m.Forget(id.Kind, id.Name)
	}
}

// call runs f and turns a panic into an error, returning the panic's stack
// (nil when it did not panic).
func call(ctx context.Context, f RunFunc) (res metrics.Result, stack []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			stack = debug.Stack()
			if stack == nil {
				stack = []byte{}
			}
		}
	}()
	res, err = f(ctx)
	return res, nil, err
}

// Stop stops scheduling new runs, waits up to Grace for running ones,
// then cancels their context and waits up to CancelWait more. It returns an
// error only when some run did not return at all. Later calls wait for the
// first one and return its result.
func (s *Scheduler) Stop() error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		<-s.stopped
		return s.stopErr
	}
	s.stopping = true
	started := s.started
	running := s.runningLocked()
	s.mu.Unlock()
	defer close(s.stopped)
	if !started {
		return nil
	}
	cronDone := s.cron.Stop()
	done := make(chan struct{})
	go func() {
		s.runs.Wait()
		<-cronDone.Done()
		close(done)
	}()
	if len(running) > 0 {
		s.log.Info("stopping: waiting for running jobs", "jobs", running, "grace", s.o.Grace)
	}
	grace := time.NewTimer(s.o.Grace)
	defer grace.Stop()
	select {
	case <-done:
		s.cancelRuns()
		s.log.Info("scheduler stopped")
		return nil
	case <-grace.C:
	}
	s.mu.Lock()
	running = s.runningLocked()
	s.mu.Unlock()
	s.log.Warn("grace period over: cancelling running jobs", "jobs", running, "grace", s.o.Grace)
	s.cancelRuns()
	wait := time.NewTimer(s.o.CancelWait)
	defer wait.Stop()
	select {
	case <-done:
		s.log.Info("scheduler stopped")
		return nil
	case <-wait.C:
	}
	s.mu.Lock()
	running = s.runningLocked()
	s.mu.Unlock()
	s.stopErr = fmt.Errorf("stop: %d job(s) still running after cancellation: %s", len(running), strings.Join(running, ", "))
	return s.stopErr
}

func (s *Scheduler) runningLocked() []string {
	var out []string
	for id, h := range s.hist {
		if !h.runningSince.IsZero() {
			out = append(out, id.String())
		}
	}
	slices.Sort(out)
	return out
}

// Healthy reports whether the scheduler runs (started and not stopping).
func (s *Scheduler) Healthy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started && !s.stopping
}

// state is what /healthz answers: "ok" while the scheduler runs and no run
// is past its job's timeout; otherwise why not.
func (s *Scheduler) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopping:
		return "stopping"
	case !s.started:
		return "not started"
	}
	if late := s.pastTimeoutLocked(time.Now()); len(late) > 0 {
		return "past timeout: " + strings.Join(late, ", ")
	}
	return "ok"
}

// PastTimeout lists the runs still going on after their job's Timeout (runs
// that do not return once cancelled), e.g. "backup/app (running for 6h0m4s,
// timeout 6h0m0s)". While it is not empty, /healthz answers 503.
func (s *Scheduler) PastTimeout() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pastTimeoutLocked(time.Now())
}

func (s *Scheduler) pastTimeoutLocked(now time.Time) []string {
	var out []string
	for id, h := range s.hist {
		if h.pastTimeout(now) {
			out = append(out, fmt.Sprintf("%s (running for %s, timeout %s)",
				id, now.Sub(h.runningSince).Round(time.Second), h.runTimeout))
		}
	}
	slices.Sort(out)
	return out
}

// pastTimeout reports whether a run is going on for longer than its timeout.
func (h *history) pastTimeout(now time.Time) bool {
	return !h.runningSince.IsZero() && h.runTimeout > 0 && now.Sub(h.runningSince) > h.runTimeout
}

// JobStatus is one row of the status page.
type JobStatus struct {
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	Schedule     string    `json:"schedule"`
	Running      bool      `json:"running"`
	RunningSince time.Time `json:"running_since,omitzero"`
	PastTimeout  bool      `json:"past_timeout,omitempty"` // running for longer than the job's timeout
	LastStart    time.Time `json:"last_start,omitzero"`
	LastEnd      time.Time `json:"last_end,omitzero"`
	LastResult   string    `json:"last_result"` // "" = never ran; success, problem, failure
	LastError    string    `json:"last_error,omitempty"`
	Next         time.Time `json:"next,omitzero"` // zero = not scheduled (or stopping)
	Runs         int       `json:"runs"`
	Failures     int       `json:"failures"` // problems and failures
	Skipped      int       `json:"skipped"`
	// LastBackupID and LastBackupSize describe the last backup a backup
	// job stored (since ops serve started).
	LastBackupID   string `json:"last_backup_id,omitempty"`
	LastBackupSize int64  `json:"last_backup_size,omitempty"`
	// Findings are the last inventory run's findings by severity, worst
	// first (inventory jobs).
	Findings []SeverityCount `json:"findings,omitempty"`
	// Stored is a backup job's last good backup in storage, whoever made
	// it (set by Page from Options.StatusSource).
	Stored *StoredBackup `json:"stored,omitempty"`
	// Level is the row's colour (set by Page): the worst of the last
	// run's result, the stored backup's age and the findings.
	Level string `json:"level,omitempty"`
}

// Status describes every job of the current set, in load order.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	now := time.Now()
	type row struct {
		st  JobStatus
		cid cron.EntryID
	}
	rows := make([]row, 0, len(s.order))
	for _, id := range s.order {
		e, h := s.jobs[id], s.hist[id]
		if e == nil || h == nil {
			continue
		}
		rows = append(rows, row{cid: e.cid, st: JobStatus{
			Kind: id.Kind, Name: id.Name, Schedule: e.job.Schedule,
			Running: !h.runningSince.IsZero(), RunningSince: h.runningSince, PastTimeout: h.pastTimeout(now),
			LastStart: h.lastStart, LastEnd: h.lastEnd, LastResult: h.lastResult, LastError: h.lastErr,
			Runs: h.runs, Failures: h.failures, Skipped: h.skipped,
			LastBackupID: h.backupID, LastBackupSize: h.backupSize, Findings: findingCounts(h.findings),
		}})
	}
	stopping := s.stopping
	s.mu.Unlock()
	out := make([]JobStatus, len(rows))
	for i, r := range rows {
		if r.cid != 0 && !stopping {
			r.st.Next = s.cron.Entry(r.cid).Next // outside s.mu: it talks to cron's goroutine
		}
		out[i] = r.st
	}
	return out
}

// cronLogger adapts slog to cron.Logger; cron's chatter goes to debug.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
