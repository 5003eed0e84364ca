package metrics

import (
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/opsteam/ops/internal/exitcode"
)

// Job kinds, the "kind" label.
const (
	KindBackup    = "backup"
	KindTLSCheck  = "tlscheck"
	KindInventory = "inventory"
)

// Values of the "result" label of ops_job_runs_total.
const (
	Success = "success" // exit status 0
	Problem = "problem" // a check found a problem (exit status 1: policy failure, drift, verify mismatch)
	Failure = "failure" // could not complete, panicked, or was interrupted (exit status 2, 3, 130)
)

// Reasons of ops_job_skipped_total.
const (
	SkipOverlap = "overlap" // the previous run of the job in this process is still running
	SkipLocked  = "locked"  // another process (a one-shot command) holds the job's lock
)

// Verdict is the outcome of one tlscheck target (ops_tlscheck_verdict) and
// when its certificate expires (ops_tlscheck_cert_expiry_timestamp_seconds;
// zero: no certificate seen, no series).
type Verdict struct {
	Target     string
	Pass       bool
	CertExpiry time.Time
}

// Inventory is what an inventory run reports beyond its error.
type Inventory struct {
	Objects  map[string]int  // by kind (host, vm, firewall) → ops_inventory_objects{kind}
	Findings map[string]int  // by severity → ops_inventory_findings{severity}
	Sources  map[string]bool // source name → reachable → ops_inventory_source_up{source}
	Hosts    map[string]int  // by connection state → ops_inventory_hosts{connection}
	VMs      map[string]int  // by power state → ops_inventory_vms{power}
	// SnapshotOldest is when the oldest VM snapshot was taken (zero: no
	// VM has one) → ops_inventory_snapshot_oldest_age_seconds, its age at
	// scrape time (0 without snapshots).
	SnapshotOldest time.Time
}

// Result is what a job reports about one run besides its error. Only the
// fields of the job's kind are read; the zero value is valid for every kind.
type Result struct {
	// BackupBytes is the size of the stored backup (backup jobs; set on success).
	BackupBytes int64
	// BackupID is the ID of the stored backup (backup jobs; set on success);
	// shown on the status page, not a metric label.
	BackupID string
	// Verdicts are the per-target verdicts of a tlscheck run. They are
	// recorded even when the run returns an error (a failed verdict makes the
	// run a Problem), and replace every verdict of the previous run.
	Verdicts []Verdict
	// Inventory is the summary of an inventory run; nil when not reported.
	Inventory *Inventory
}

// Run is one finished run of a job, as the scheduler or a one-shot command
// saw it.
type Run struct {
	Kind, Name string
	Start, End time.Time
	Err        error // nil = success
	// Code is the exit status a one-shot command would have had: the
	// caller classifies Err with cmd/ops' exit table (0 success, 1 a
	// problem, anything else a failure). It is ignored when Err is nil; an
	// Err with Code 0 counts as a runtime failure (3).
	Code     int
	Panicked bool // the job panicked (Err describes the panic)
	Result   Result
}

// Outcome is the "result" label of a run with this error and exit status
// (see Run.Code), and the exit status it is recorded with.
func Outcome(err error, code int, panicked bool) (result string, exit int) {
	switch {
	case panicked:
		return Failure, exitcode.Runtime
	case err == nil:
		return Success, exitcode.OK
	case code == exitcode.OK:
		return Failure, exitcode.Runtime // an error is never a success
	case code == exitcode.CheckFailed:
		return Problem, code
	}
	return Failure, code
}

var durationBuckets = []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800}

// Set is one process's metrics on a dedicated registry. It is safe for
// concurrent use.
type Set struct {
	reg *prometheus.Registry

	runs          *prometheus.CounterVec
	skipped       *prometheus.CounterVec
	panics        *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	lastRun       *prometheus.GaugeVec
	lastSuccess   *prometheus.GaugeVec
	lastDuration  *prometheus.GaugeVec
	lastFailed    *prometheus.GaugeVec
	lastExitCode  *prometheus.GaugeVec
	running       *prometheus.GaugeVec
	backupSuccess *prometheus.GaugeVec
	backupDur     *prometheus.GaugeVec
	backupSize    *prometheus.GaugeVec
	backupBytes   *prometheus.CounterVec
	tlsVerdict    *prometheus.GaugeVec
	tlsCertExpiry *prometheus.GaugeVec
	invObjects    *prometheus.GaugeVec
	invFindings   *prometheus.GaugeVec
	invSourceUp   *prometheus.GaugeVec
	invHosts      *prometheus.GaugeVec
	invVMs        *prometheus.GaugeVec
	invSnapAge    *snapshotAge
	reloads       *prometheus.CounterVec
	reloadOK      *prometheus.GaugeVec // no labels: absent until the first load (one-shot textfiles never show it)
	reloadTime    *prometheus.GaugeVec
	runningFor    *runningSeconds
}

// jobKey is a job's kind and name.
type jobKey struct{ kind, name string }

// runningSeconds is ops_job_running_seconds{kind,name}, computed at scrape
// time: how long the current run of the job has been going on, 0 while the
// job is idle. Only jobs declared (by the scheduler) or running have a
// series, so a one-shot command's textfile has none.
type runningSeconds struct {
	desc  *prometheus.Desc
	now   func() time.Time
	mu    sync.Mutex
	since map[jobKey]time.Time // zero = idle
}

func (r *runningSeconds) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *runningSeconds) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for k, since := range r.since {
		v := 0.0
		if !since.IsZero() {
			v = max(now.Sub(since).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, v, k.kind, k.name)
	}
}

// declare gives an idle job its series (0); a running one keeps its start.
func (r *runningSeconds) declare(k jobKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.since[k]; !ok {
		r.since[k] = time.Time{}
	}
}

// set records the start of a run (a non-zero since), the job being idle
// (zero), or forgets the job (forget).
func (r *runningSeconds) set(k jobKey, since time.Time, forget bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if forget {
		delete(r.since, k)
		return
	}
	r.since[k] = since
}

// snapshotAge is ops_inventory_snapshot_oldest_age_seconds, computed at
// scrape time from the oldest snapshot the last inventory run saw: the
// age keeps growing between runs, as the snapshot does. No series before
// the first run; 0 when the run saw no snapshot.
type snapshotAge struct {
	desc   *prometheus.Desc
	now    func() time.Time
	mu     sync.Mutex
	known  bool
	oldest time.Time
}

func (a *snapshotAge) Describe(ch chan<- *prometheus.Desc) { ch <- a.desc }

func (a *snapshotAge) Collect(ch chan<- prometheus.Metric) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.known {
		return
	}
	v := 0.0
	if !a.oldest.IsZero() {
		v = max(a.now().Sub(a.oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(a.desc, prometheus.GaugeValue, v)
}

func (a *snapshotAge) set(known bool, oldest time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.known, a.oldest = known, oldest
}

// New returns a Set with every ops metric registered on a fresh registry.
func New() *Set {
	kn := []string{"kind", "name"}
	s := &Set{reg: prometheus.NewRegistry()}
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		s.reg.MustRegister(v)
		return v
	}
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		s.reg.MustRegister(v)
		return v
	}
	s.runs = c("ops_job_runs_total", "Finished job runs by result: success, problem (a check found a problem, exit 1) or failure (could not complete, panicked, interrupted).", "kind", "name", "result")
	s.skipped = c("ops_job_skipped_total", "Scheduled runs not started: reason overlap (previous run still running) or locked (another process holds the job lock).", "kind", "name", "reason")
	s.panics = c("ops_job_panics_total", "Job runs that panicked (recovered and counted as failures).", kn...)
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ops_job_duration_seconds", Help: "Duration of finished job runs.", Buckets: durationBuckets,
	}, kn)
	s.reg.MustRegister(s.duration)
	s.lastRun = g("ops_job_last_run_timestamp_seconds", "When the last run of the job finished (Unix time).", kn...)
	s.lastSuccess = g("ops_job_last_success_timestamp_seconds", "When the last successful run of the job finished (Unix time).", kn...)
	s.lastDuration = g("ops_job_last_duration_seconds", "Duration of the last run of the job, whatever its result.", kn...)
	s.lastFailed = g("ops_job_last_failed", "1 when the last run of the job did not succeed (its exit status was not 0), else 0.", kn...)
	s.lastExitCode = g("ops_job_last_exit_code", "Exit status the last run would have had as a one-shot command (0, 1, 2, 3, 130).", kn...)
	s.running = g("ops_job_running", "1 while a run of the job is in progress.", kn...)
	s.backupSuccess = g("ops_backup_last_success_timestamp_seconds", "When the last successful backup of the job finished (Unix time).", "job")
	s.backupDur = g("ops_backup_last_duration_seconds", "Duration of the last successful backup of the job.", "job")
	s.backupSize = g("ops_backup_last_size_bytes", "Bytes stored by the last successful backup of the job.", "job")
	s.backupBytes = c("ops_backup_stored_bytes_total", "Bytes stored by successful backups of the job.", "job")
	s.tlsVerdict = g("ops_tlscheck_verdict", "Verdict of the last run of the check for the target: 1 pass, 0 fail.", "check", "target")
	s.tlsCertExpiry = g("ops_tlscheck_cert_expiry_timestamp_seconds", "When the certificate the target presented in the last run of the check expires (Unix time).", "check", "target")
	s.invObjects = g("ops_inventory_objects", "Objects found by the last inventory run, by kind.", "kind")
	s.invFindings = g("ops_inventory_findings", "Findings of the last inventory run, by severity.", "severity")
	s.invSourceUp = g("ops_inventory_source_up", "1 when the source answered during the last inventory run, else 0.", "source")
	s.invHosts = g("ops_inventory_hosts", "Hypervisor hosts found by the last inventory run, by connection state (connected, disconnected, not_responding).", "connection")
	s.invVMs = g("ops_inventory_vms", "VMs found by the last inventory run, by power state (on, off, suspended).", "power")
	s.invSnapAge = &snapshotAge{
		desc: prometheus.NewDesc("ops_inventory_snapshot_oldest_age_seconds",
			"Age of the oldest VM snapshot the last inventory run saw (0 when no VM has a snapshot).", nil, nil),
		now: time.Now,
	}
	s.reg.MustRegister(s.invSnapAge)
	s.reloads = c("ops_config_reloads_total", "Configuration reloads (SIGHUP) by result: success or failure.", "result")
	s.reloadOK = g("ops_config_last_reload_successful", "1 when the last configuration load succeeded, 0 when the running job set is an older one.")
	s.reloadTime = g("ops_config_last_reload_success_timestamp_seconds", "When the running job set was loaded (Unix time).")
	s.runningFor = &runningSeconds{
		desc: prometheus.NewDesc("ops_job_running_seconds",
			"How long the current run of the job has been going on; 0 while the job is idle.", kn, nil),
		now:   time.Now,
		since: map[jobKey]time.Time{},
	}
	s.reg.MustRegister(s.runningFor)
	return s
}

// Registry is the Set's registry: a prometheus.Gatherer for WriteTextfile,
// and a prometheus.Registerer for extra collectors.
func (s *Set) Registry() *prometheus.Registry { return s.reg }

// RegisterProcessMetrics adds the Go runtime (go_*) and process
// (process_*) collectors, as any long-running exporter has. `ops serve`
// wants them; a one-shot textfile does not. Calling it twice is harmless.
func (s *Set) RegisterProcessMetrics() {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := s.reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // a programming error: a clashing collector
			}
		}
	}
}

// Handler serves the Set in the Prometheus exposition formats.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Declare creates a job's series with zero counts, so rate() and increase()
// work from its first run and the job is visible before it ever ran.
func (s *Set) Declare(kind, name string) {
	for _, r := range []string{Success, Problem, Failure} {
		s.runs.WithLabelValues(kind, name, r)
	}
	for _, r := range []string{SkipOverlap, SkipLocked} {
		s.skipped.WithLabelValues(kind, name, r)
	}
	s.panics.WithLabelValues(kind, name)
	s.running.WithLabelValues(kind, name)
	s.runningFor.declare(jobKey{kind, name})
}

// Forget deletes every series of a job that is no longer configured.
func (s *Set) Forget(kind, name string) {
	kn := prometheus.Labels{"kind": kind, "name": name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		s.runs, s.skipped, s.panics, s.duration, s.lastRun, s.lastSuccess, s.lastDuration,
		s.lastFailed, s.lastExitCode, s.running,
	} {
		v.DeletePartialMatch(kn)
	}
	s.runningFor.set(jobKey{kind, name}, time.Time{}, true)
	switch kind {
	case KindBackup:
		job := prometheus.Labels{"job": name}
		for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{s.backupSuccess, s.backupDur, s.backupSize, s.backupBytes} {
			v.DeletePartialMatch(job)
		}
	case KindTLSCheck:
		s.tlsVerdict.DeletePartialMatch(prometheus.Labels{"check": name})
		s.tlsCertExpiry.DeletePartialMatch(prometheus.Labels{"check": name})
	case KindInventory:
		s.invObjects.Reset()
		s.invFindings.Reset()
		s.invSourceUp.Reset()
		s.invHosts.Reset()
		s.invVMs.Reset()
		s.invSnapAge.set(false, time.Time{})
	}
}

// SetRunning marks a run of the job as started (true) or finished (false):
// ops_job_running is 1 and ops_job_running_seconds counts from now while it
// runs; both are 0 once it finished.
func (s *Set) SetRunning(kind, name string, running bool) {
	v := 0.0
	var since time.Time
	if running {
		v = 1
		since = s.runningFor.now()
	}
	s.running.WithLabelValues(kind, name).Set(v)
	s.runningFor.set(jobKey{kind, name}, since, false)
}

// Skipped counts a scheduled run that was not started (SkipOverlap, SkipLocked).
func (s *Set) Skipped(kind, name, reason string) {
	s.skipped.WithLabelValues(kind, name, reason).Inc()
}

// ConfigLoaded records a configuration (re)load.
func (s *Set) ConfigLoaded(ok bool, at time.Time) {
	for _, r := range []string{Success, Failure} {
		s.reloads.WithLabelValues(r)
	}
	if ok {
		s.reloads.WithLabelValues(Success).Inc()
		s.reloadOK.WithLabelValues().Set(1)
		s.reloadTime.WithLabelValues().Set(unix(at))
		return
	}
	s.reloads.WithLabelValues(Failure).Inc()
	s.reloadOK.WithLabelValues().Set(0)
}

// SeedBackup sets the ops_backup_last_* gauges from a backup that finished
// before this process started (e.g. the newest complete manifest), so that
// "time since the last backup" alerts work right after a restart. It never
// moves the timestamp backwards.
func (s *Set) SeedBackup(job string, finished time.Time, d time.Duration, size int64) {
	g := s.backupSuccess.WithLabelValues(job)
	if cur := gaugeValue(g); cur >= unix(finished) {
		return
	}
	g.Set(unix(finished))
	s.backupDur.WithLabelValues(job).Set(d.Seconds())
	s.backupSize.WithLabelValues(job).Set(float64(size))
}

// Record accounts one finished run.
func (s *Set) Record(r Run) {
	if r.End.IsZero() {
		r.End = time.Now()
	}
	if r.Start.IsZero() {
		r.Start = r.End
	}
	d := r.End.Sub(r.Start)
	if d < 0 {
		d = 0
	}
	result, code := Outcome(r.Err, r.Code, r.Panicked)
	s.runs.WithLabelValues(r.Kind, r.Name, result).Inc()
	if r.Panicked {
		s.panics.WithLabelValues(r.Kind, r.Name).Inc()
	}
	s.duration.WithLabelValues(r.Kind, r.Name).Observe(d.Seconds())
	s.lastRun.WithLabelValues(r.Kind, r.Name).Set(unix(r.End))
	s.lastDuration.WithLabelValues(r.Kind, r.Name).Set(d.Seconds())
	s.lastExitCode.WithLabelValues(r.Kind, r.Name).Set(float64(code))
	if result == Success {
		s.lastFailed.WithLabelValues(r.Kind, r.Name).Set(0)
		s.lastSuccess.WithLabelValues(r.Kind, r.Name).Set(unix(r.End))
	} else {
		s.lastFailed.WithLabelValues(r.Kind, r.Name).Set(1)
	}

	switch r.Kind {
	case KindBackup:
		if result == Success {
			s.backupSuccess.WithLabelValues(r.Name).Set(unix(r.End))
			s.backupDur.WithLabelValues(r.Name).Set(d.Seconds())
			s.backupSize.WithLabelValues(r.Name).Set(float64(r.Result.BackupBytes))
			s.backupBytes.WithLabelValues(r.Name).Add(float64(max(r.Result.BackupBytes, 0)))
		}
	case KindTLSCheck:
		if len(r.Result.Verdicts) > 0 {
			s.tlsVerdict.DeletePartialMatch(prometheus.Labels{"check": r.Name})
			s.tlsCertExpiry.DeletePartialMatch(prometheus.Labels{"check": r.Name})
			for _, v := range r.Result.Verdicts {
				pass := 0.0
				if v.Pass {
					pass = 1
				}
				s.tlsVerdict.WithLabelValues(r.Name, v.Target).Set(pass)
				if !v.CertExpiry.IsZero() {
					s.tlsCertExpiry.WithLabelValues(r.Name, v.Target).Set(unix(v.CertExpiry))
				}
			}
		}
	case KindInventory:
		if inv := r.Result.Inventory; inv != nil {
			setAll(s.invObjects, inv.Objects)
			setAll(s.invFindings, inv.Findings)
			setAll(s.invHosts, inv.Hosts)
			setAll(s.invVMs, inv.VMs)
			s.invSnapAge.set(true, inv.SnapshotOldest)
			s.invSourceUp.Reset()
			for _, k := range sortedKeys(inv.Sources) {
				up := 0.0
				if inv.Sources[k] {
					up = 1
				}
				s.invSourceUp.WithLabelValues(k).Set(up)
			}
		}
	}
}

func setAll(v *prometheus.GaugeVec, m map[string]int) {
	v.Reset()
	for _, k := range sortedKeys(m) {
		v.WithLabelValues(k).Set(float64(m[k]))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// gaugeValue reads a gauge back (for SeedBackup's monotonic rule).
func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil || m.Gauge == nil {
		return 0
	}
	return m.Gauge.GetValue()
}
