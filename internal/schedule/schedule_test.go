package schedule

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
)

const (
	kb = metrics.KindBackup
	kt = metrics.KindTLSCheck
	ki = metrics.KindInventory
)

func TestScheduledRunsHappen(t *testing.T) {
	t.Parallel()
	c := newCounter()
	e := newEnv(t, Options{}, Job{Kind: kb, Name: "app", Schedule: "@every 1s", Run: c.run(nil)})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, c, 2, "backup/app")
	reg := e.s.Metrics().Registry()
	eventually(t, "two successes counted", func() bool {
		v, _ := value(t, reg, "ops_job_runs_total", knr(kb, "app", metrics.Success))
		return v >= 2
	})
	if v, ok := value(t, reg, "ops_job_last_failed", kn(kb, "app")); !ok || v != 0 {
		t.Errorf("ops_job_last_failed = %v (present %v), want 0", v, ok)
	}
	if v, ok := value(t, reg, "ops_backup_last_success_timestamp_seconds", map[string]string{"job": "app"}); !ok || v <= 0 {
		t.Errorf("ops_backup_last_success_timestamp_seconds = %v (present %v), want a timestamp", v, ok)
	}
	st := e.s.Status()
	if len(st) != 1 || st[0].Next.IsZero() || st[0].LastResult != metrics.Success {
		t.Errorf("status = %+v, want one scheduled job with a success", st)
	}
}

func TestOverlappingRunIsSkippedLoggedAndCounted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var started atomic.Int32
	slow := func(ctx context.Context) (metrics.Result, error) {
		started.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return metrics.Result{}, nil
	}
	e := newEnv(t, Options{}, Job{Kind: kb, Name: "slow", Schedule: "@every 1s", Run: slow})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg := e.s.Metrics().Registry()
	skips := func() float64 {
		v, _ := value(t, reg, "ops_job_skipped_total", map[string]string{"kind": kb, "name": "slow", "reason": metrics.SkipOverlap})
		return v
	}
	eventually(t, "an overlapping run to be skipped", func() bool { return skips() >= 1 })
	if n := started.Load(); n != 1 {
		t.Fatalf("%d runs started while the first was still running, want 1", n)
	}
	if v, _ := value(t, reg, "ops_job_running", kn(kb, "slow")); v != 1 {
		t.Errorf("ops_job_running = %v while running, want 1", v)
	}
	contains(t, e.log.String(), "skipped: the previous run is still running", "log")
	contains(t, e.log.String(), "job=slow", "log")
	if st := e.s.Status(); !st[0].Running || st[0].Skipped < 1 {
		t.Errorf("status = %+v, want running with skips", st[0])
	}
	close(release)
	eventually(t, "a new run after the slow one ended", func() bool { return started.Load() >= 2 })
}

func TestPanicIsRecoveredCountedAndOthersKeepTheirSchedule(t *testing.T) {
	t.Parallel()
	var panics atomic.Int32
	boom := func(context.Context) (metrics.Result, error) {
		panics.Add(1)
		panic("boom")
	}
	good := newCounter()
	e := newEnv(t, Options{},
		Job{Kind: ki, Name: "inventory", Schedule: "@every 1s", Run: boom},
		Job{Kind: kb, Name: "app", Schedule: "@every 1s", Run: good.run(nil)},
	)
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two panics", func() bool { return panics.Load() >= 2 })
	after := good.count()
	waitRuns(t, good, after+2, "the healthy job after the panics")

	reg := e.s.Metrics().Registry()
	eventually(t, "the panics to be counted", func() bool {
		v, _ := value(t, reg, "ops_job_runs_total", knr(ki, "inventory", metrics.Failure))
		p, _ := value(t, reg, "ops_job_panics_total", kn(ki, "inventory"))
		return v >= 2 && p >= 2
	})
	if v, _ := value(t, reg, "ops_job_last_failed", kn(ki, "inventory")); v != 1 {
		t.Errorf("ops_job_last_failed = %v, want 1", v)
	}
	if v, _ := value(t, reg, "ops_job_runs_total", knr(ki, "inventory", metrics.Success)); v != 0 {
		t.Errorf("a panic was counted as a success (%v)", v)
	}
	if !e.s.Healthy() {
		t.Error("scheduler unhealthy after panics")
	}
	log := e.log.String()
	contains(t, log, "run panicked", "log")
	contains(t, log, "panic: boom", "log")
	contains(t, log, "schedule_test.go", "logged stack") // the stack names the panicking function's file
	for _, st := range e.s.Status() {
		if st.Name == "inventory" && (st.LastResult != metrics.Failure || st.LastError != "panic: boom") {
			t.Errorf("status of the panicking job = %+v", st)
		}
	}
}

func TestFailingJobDoesNotStopTheDaemon(t *testing.T) {
	t.Parallel()
	fail, problem := newCounter(), newCounter()
	e := newEnv(t, Options{},
		Job{Kind: kb, Name: "db-down", Schedule: "@every 1s", Run: fail.run(errors.New("dial tcp: connection refused"))},
		Job{Kind: kt, Name: "partners", Schedule: "@every 1s", Run: problem.run(exitcode.Check(errors.New("1 target failed")))},
	)
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, fail, 3, "failing job")
	waitRuns(t, problem, 3, "problem job")
	if !e.s.Healthy() {
		t.Fatal("scheduler unhealthy after failures")
	}
	reg := e.s.Metrics().Registry()
	eventually(t, "results counted", func() bool {
		f, _ := value(t, reg, "ops_job_runs_total", knr(kb, "db-down", metrics.Failure))
		p, _ := value(t, reg, "ops_job_runs_total", knr(kt, "partners", metrics.Problem))
		return f >= 3 && p >= 3
	})
	for _, tc := range []struct {
		kind, name string
		code       float64
	}{{kb, "db-down", exitcode.Runtime}, {kt, "partners", exitcode.CheckFailed}} {
		if v, _ := value(t, reg, "ops_job_last_exit_code", kn(tc.kind, tc.name)); v != tc.code {
			t.Errorf("%s/%s: ops_job_last_exit_code = %v, want %v", tc.kind, tc.name, v, tc.code)
		}
		if v, _ := value(t, reg, "ops_job_last_failed", kn(tc.kind, tc.name)); v != 1 {
			t.Errorf("%s/%s: ops_job_last_failed = %v, want 1", tc.kind, tc.name, v)
		}
	}
	if _, ok := value(t, reg, "ops_backup_last_success_timestamp_seconds", map[string]string{"job": "db-down"}); ok {
		t.Error("a failed backup set ops_backup_last_success_timestamp_seconds")
	}
	contains(t, e.log.String(), "connection refused", "log")
}

func TestReloadWithBrokenConfigKeepsTheOldJobSet(t *testing.T) {
	t.Parallel()
	c := newCounter()
	e := newEnv(t, Options{}, Job{Kind: kb, Name: "app", Schedule: "@every 1s", Run: c.run(nil)})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg := e.s.Metrics().Registry()
	if v, _ := value(t, reg, "ops_config_last_reload_successful", nil); v != 1 {
		t.Fatalf("ops_config_last_reload_successful = %v after start, want 1", v)
	}

	// The config file no longer loads.
	e.ld.fail(errors.New("ops.yaml:3: unknown key \"bakup\""))
	if err := e.s.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "bakup") {
		t.Fatalf("Reload = %v, want the load error", err)
	}
	// The config loads but a schedule is invalid: the whole set is refused.
	e.ld.set(
		Job{Kind: kb, Name: "other", Schedule: "@daily", Run: c.run(nil)},
		Job{Kind: kt, Name: "bad", Schedule: "61 * * * *", Run: c.run(nil)},
	)
	if err := e.s.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "tlscheck/bad") {
		t.Fatalf("Reload = %v, want an error naming tlscheck/bad", err)
	}
	// A duplicate job is refused too.
	e.ld.set(Job{Kind: kb, Name: "x", Run: c.run(nil)}, Job{Kind: kb, Name: "x", Run: c.run(nil)})
	if err := e.s.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("Reload = %v, want a duplicate error", err)
	}

	st := e.s.Status()
	if len(st) != 1 || st[0].Name != "app" || st[0].Next.IsZero() {
		t.Fatalf("status after broken reloads = %+v, want the old job set", st)
	}
	n := c.count()
	waitRuns(t, c, n+2, "the old job after broken reloads")
	if v, _ := value(t, reg, "ops_config_last_reload_successful", nil); v != 0 {
		t.Errorf("ops_config_last_reload_successful = %v, want 0", v)
	}
	if v, _ := value(t, reg, "ops_config_reloads_total", map[string]string{"result": "failure"}); v != 3 {
		t.Errorf("ops_config_reloads_total{result=failure} = %v, want 3", v)
	}
	contains(t, e.log.String(), "reload failed: keeping the running job set", "log")
	if !e.s.Healthy() {
		t.Error("unhealthy after a broken reload")
	}
}

func TestReloadAddsAndRemovesJobs(t *testing.T) {
	t.Parallel()
	a, c := newCounter(), newCounter()
	release := make(chan struct{})
	aRunning := make(chan struct{}, 1)
	aBody := func(ctx context.Context) (metrics.Result, error) {
		n := a.tick()
		if n == 1 { // the first run is still running when the job is removed
			aRunning <- struct{}{}
			<-release
		}
		return metrics.Result{BackupBytes: 1}, nil
	}
	yearly := Job{Kind: kt, Name: "kept", Schedule: "0 0 1 1 *", Run: newCounter().run(nil)}
	e := newEnv(t, Options{},
		Job{Kind: kb, Name: "a", Schedule: "@every 1s", Run: aBody},
		yearly,
	)
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-aRunning:
	case <-time.After(wait):
		t.Fatal("job a never started")
	}
	nextKept := e.s.Status()[1].Next

	e.ld.set(yearly, Job{Kind: ki, Name: "c", Schedule: "@every 1s", Run: c.run(nil)})
	if err := e.s.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := e.s.Status()
	if len(st) != 2 || st[0].Name != "kept" || st[1].Name != "c" {
		t.Fatalf("status after reload = %+v, want kept and c", st)
	}
	if !st[0].Next.Equal(nextKept) {
		t.Errorf("unchanged job's next run moved from %v to %v", nextKept, st[0].Next)
	}
	waitRuns(t, c, 2, "added job c")
	if n := a.count(); n != 1 {
		t.Errorf("removed job a ran %d times, want only its first run", n)
	}
	// The removed job's run was not interrupted; once it ends its series go.
	reg := e.s.Metrics().Registry()
	if v, _ := value(t, reg, "ops_job_running", kn(kb, "a")); v != 1 {
		t.Errorf("removed job's running run: ops_job_running = %v, want 1", v)
	}
	close(release)
	eventually(t, "the removed job's series to disappear", func() bool {
		_, ok := value(t, reg, "ops_job_running", kn(kb, "a"))
		_, ok2 := value(t, reg, "ops_backup_last_size_bytes", map[string]string{"job": "a"})
		return !ok && !ok2
	})
	if _, ok := value(t, reg, "ops_job_runs_total", knr(ki, "c", metrics.Success)); !ok {
		t.Error("no ops_job_runs_total series for the added job")
	}
	contains(t, e.log.String(), `removed=[backup/a]`, "reload log")
	contains(t, e.log.String(), `added=[inventory/c]`, "reload log")
}

func TestStopWaitsForRunningJobs(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	var cancelled atomic.Bool
	var runs atomic.Int32
	body := func(ctx context.Context) (metrics.Result, error) {
		runs.Add(1)
		started <- struct{}{}
		select {
		case <-release:
			return metrics.Result{}, nil
		case <-ctx.Done():
			cancelled.Store(true)
			return metrics.Result{}, ctx.Err()
		}
	}
	e := newEnv(t, Options{Grace: time.Hour}, Job{Kind: kb, Name: "app", Schedule: "@every 1s", Run: body})
	// A cancelled parent context (SIGTERM) must not cancel running jobs.
	ctx, cancel := context.WithCancel(t.Context())
	if err := e.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- e.s.Stop() }()
	eventually(t, "unhealthy while stopping", func() bool { return !e.s.Healthy() })
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a job was running", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Stop did not return after the job ended")
	}
	if cancelled.Load() {
		t.Error("the running job was cancelled within the grace period")
	}
	n := runs.Load()
	time.Sleep(1500 * time.Millisecond) // longer than the @every interval
	if runs.Load() != n {
		t.Error("a job ran after Stop")
	}
	if v, _ := value(t, e.s.Metrics().Registry(), "ops_job_runs_total", knr(kb, "app", metrics.Success)); v != 1 {
		t.Errorf("the waited-for run was not counted as a success: %v", v)
	}
}

func TestStopCancelsRunningJobsAfterGrace(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	body := func(ctx context.Context) (metrics.Result, error) {
		started <- struct{}{}
		<-ctx.Done() // ignores everything but cancellation
		return metrics.Result{}, ctx.Err()
	}
	e := newEnv(t, Options{Grace: 50 * time.Millisecond}, Job{Kind: kb, Name: "app", Schedule: "@every 1s", Run: body})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := e.s.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	reg := e.s.Metrics().Registry()
	if v, _ := value(t, reg, "ops_job_runs_total", knr(kb, "app", metrics.Failure)); v != 1 {
		t.Errorf("cancelled run: ops_job_runs_total{result=failure} = %v, want 1", v)
	}
	if v, _ := value(t, reg, "ops_job_last_exit_code", kn(kb, "app")); v != exitcode.Interrupted {
		t.Errorf("cancelled run: exit code %v, want %d", v, exitcode.Interrupted)
	}
	contains(t, e.log.String(), "grace period over: cancelling running jobs", "log")
}

func TestStopReportsJobsThatIgnoreCancellation(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	body := func(context.Context) (metrics.Result, error) {
		started <- struct{}{}
		<-release // ignores its context
		return metrics.Result{}, nil
	}
	e := newEnv(t, Options{Grace: 10 * time.Millisecond, CancelWait: 10 * time.Millisecond},
		Job{Kind: kb, Name: "stuck", Schedule: "@every 1s", Run: body})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-started
	err := e.s.Stop()
	if err == nil || !strings.Contains(err.Error(), "backup/stuck") {
		t.Fatalf("Stop = %v, want an error naming backup/stuck", err)
	}
}

func TestRunNowAndUnscheduledJobs(t *testing.T) {
	t.Parallel()
	c := newCounter()
	e := newEnv(t, Options{}, Job{Kind: kb, Name: "manual", Run: c.run(nil)})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := e.s.Status()
	if len(st) != 1 || !st[0].Next.IsZero() {
		t.Fatalf("unscheduled job status = %+v, want no next run", st)
	}
	if !e.s.RunNow(JobID{kb, "manual"}) {
		t.Fatal("RunNow refused")
	}
	waitRuns(t, c, 1, "RunNow")
	if e.s.RunNow(JobID{kb, "nope"}) {
		t.Error("RunNow accepted an unknown job")
	}
}

func TestStartFailsOnBrokenFirstLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, Job{Kind: kb, Name: "app", Schedule: "@every 0s", Run: newCounter().run(nil)})
	err := e.s.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "backup/app") {
		t.Fatalf("Start = %v, want an error naming backup/app", err)
	}
	if !errors.Is(err, ErrInvalidJobs) { // a config error: exit 2 (cmd/ops' TestExitTable)
		t.Errorf("a bad schedule: %v, want ErrInvalidJobs (config error)", err)
	}
	if e.s.Healthy() {
		t.Error("healthy after a failed start")
	}
}

func TestJobTimeoutCancelsTheRun(t *testing.T) {
	t.Parallel()
	var sawDeadline atomic.Bool
	body := func(ctx context.Context) (metrics.Result, error) {
		<-ctx.Done()
		sawDeadline.Store(errors.Is(ctx.Err(), context.DeadlineExceeded))
		return metrics.Result{}, ctx.Err()
	}
	e := newEnv(t, Options{}, Job{Kind: kt, Name: "slow", Timeout: 20 * time.Millisecond, Run: body})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.s.RunNow(JobID{kt, "slow"})
	reg := e.s.Metrics().Registry()
	eventually(t, "the timed-out run to be counted", func() bool {
		v, _ := value(t, reg, "ops_job_runs_total", knr(kt, "slow", metrics.Failure))
		return v == 1
	})
	if !sawDeadline.Load() {
		t.Error("the run's context did not carry the job's deadline")
	}
	if !e.s.Healthy() {
		t.Error("unhealthy after a timed-out run")
	}
}
