package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
)

func TestWithTimeout(t *testing.T) {
	t.Parallel()
	var fired atomic.Int32
	onTimeout := func() { fired.Add(1) }

	// Returns in time: its error as is, no timeout.
	base := errors.New("boom")
	err := WithTimeout(t.Context(), time.Hour, onTimeout, func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the run's context has no deadline")
		}
		return base
	})
	if err != base || fired.Load() != 0 {
		t.Errorf("in time: err = %v, onTimeout called %d times; want boom, 0", err, fired.Load())
	}

	// Goes past it: cancelled, onTimeout called, the error is a TimeoutError
	// even when the run returns nil.
	for _, ret := range []error{nil, context.DeadlineExceeded, exitcode.Check(base)} {
		fired.Store(0)
		err = WithTimeout(t.Context(), time.Millisecond, onTimeout, func(ctx context.Context) error {
			<-ctx.Done()
			return ret
		})
		var te *TimeoutError
		if !errors.As(err, &te) || te.Timeout != time.Millisecond || te.Err != ret {
			t.Errorf("past the timeout, returning %v: err = %#v, want a TimeoutError wrapping it", ret, err)
		}
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v does not match ErrTimeout and context.DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "1ms") {
			t.Errorf("message %q does not say it timed out after 1ms", err)
		}
		if fired.Load() != 1 {
			t.Errorf("onTimeout called %d times, want 1", fired.Load())
		}
	}

	// A cancelled parent (shutdown) is not a timeout.
	fired.Store(0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = WithTimeout(ctx, time.Hour, onTimeout, func(ctx context.Context) error { return ctx.Err() })
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || fired.Load() != 0 {
		t.Errorf("cancelled parent: err = %v, onTimeout %d; want context.Canceled, no timeout", err, fired.Load())
	}

	// No timeout: no deadline.
	_ = WithTimeout(t.Context(), 0, onTimeout, func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); ok {
			t.Error("timeout 0 set a deadline")
		}
		return nil
	})
}

// A run past its timeout is cancelled, logged as timed out and counted as a
// failure (exit status 3), even when what it returns afterwards is a found
// problem.
func TestTimedOutRunIsAFailureAndLogged(t *testing.T) {
	t.Parallel()
	body := func(ctx context.Context) (metrics.Result, error) {
		<-ctx.Done()
		return metrics.Result{}, exitcode.Check(errors.New("policy failure: mx"))
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
	if v, _ := value(t, reg, "ops_job_runs_total", knr(kt, "slow", metrics.Problem)); v != 0 {
		t.Errorf("ops_job_runs_total{result=problem} = %v, want 0", v)
	}
	if v, _ := value(t, reg, "ops_job_last_exit_code", kn(kt, "slow")); v != exitcode.Runtime {
		t.Errorf("ops_job_last_exit_code = %v, want %d", v, exitcode.Runtime)
	}
	log := e.log.String()
	contains(t, log, "run timed out: cancelling it", "log")
	contains(t, log, "timeout=20ms", "log")
	if st := e.s.Status(); st[0].LastResult != metrics.Failure || !strings.Contains(st[0].LastError, "timed out") {
		t.Errorf("status = %+v, want a failure that says it timed out", st[0])
	}
}

func healthz(t *testing.T, base string) (int, string) {
	t.Helper()
	code, body := get(t, base+"/healthz")
	return code, strings.TrimSpace(body)
}

// /healthz answers 503 naming the job while a run goes on past its timeout
// (it ignores the cancellation), and 200 again once it returned; a run
// within its timeout does not count.
func TestHealthzWhileARunIsPastItsTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	var stuckStarted, slowStarted atomic.Bool
	stuck := func(context.Context) (metrics.Result, error) {
		stuckStarted.Store(true)
		<-release // ignores its context
		return metrics.Result{}, nil
	}
	slowDone := make(chan struct{})
	slow := func(ctx context.Context) (metrics.Result, error) {
		slowStarted.Store(true)
		select {
		case <-slowDone:
		case <-ctx.Done():
		}
		return metrics.Result{}, nil
	}
	defer close(slowDone)
	e := newEnv(t, Options{},
		Job{Kind: kb, Name: "stuck", Timeout: 20 * time.Millisecond, Run: stuck},
		Job{Kind: ki, Name: "inventory", Timeout: time.Hour, Run: slow})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.s.Handler())
	defer srv.Close()
	if code, body := healthz(t, srv.URL); code != http.StatusOK || body != "ok" {
		t.Fatalf("/healthz before any run = %d %q, want 200 ok", code, body)
	}
	e.s.RunNow(JobID{ki, "inventory"})
	e.s.RunNow(JobID{kb, "stuck"})
	eventually(t, "both runs to start", func() bool { return stuckStarted.Load() && slowStarted.Load() })

	var body string
	eventually(t, "/healthz 503 for the run past its timeout", func() bool {
		var code int
		code, body = healthz(t, srv.URL)
		return code == http.StatusServiceUnavailable
	})
	contains(t, body, "past timeout: backup/stuck (running for ", "/healthz")
	contains(t, body, "timeout 20ms)", "/healthz")
	if strings.Contains(body, "inventory") {
		t.Errorf("/healthz names the run within its timeout: %q", body)
	}
	if got := e.s.PastTimeout(); len(got) != 1 || !strings.HasPrefix(got[0], "backup/stuck ") {
		t.Errorf("PastTimeout() = %q, want backup/stuck only", got)
	}
	_, js := get(t, srv.URL+"/status.json")
	var status struct {
		Healthy bool        `json:"healthy"`
		State   string      `json:"state"`
		Jobs    []JobStatus `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(js), &status); err != nil {
		t.Fatal(err)
	}
	if status.Healthy || !strings.HasPrefix(status.State, "past timeout") || !status.Jobs[0].PastTimeout || status.Jobs[1].PastTimeout {
		t.Errorf("/status.json = %s, want unhealthy with backup/stuck past its timeout", js)
	}
	_, page := get(t, srv.URL+"/")
	contains(t, page, "past its timeout", "status page")
	eventually(t, "the timeout logged while the run is stuck", func() bool {
		return strings.Contains(e.log.String(), "run timed out: cancelling it")
	})

	close(release)
	eventually(t, "/healthz 200 once the stuck run returned", func() bool {
		code, body := healthz(t, srv.URL)
		return code == http.StatusOK && body == "ok"
	})
	if v, _ := value(t, e.s.Metrics().Registry(), "ops_job_runs_total", knr(kb, "stuck", metrics.Failure)); v != 1 {
		t.Errorf("the stuck run: ops_job_runs_total{result=failure} = %v, want 1", v)
	}
	if st := e.s.Status(); !st[1].Running {
		t.Error("the run within its timeout is not running any more")
	}
}

// ops_job_running_seconds grows while a run goes on and is 0 when the job
// is idle (the series stays).
func TestRunningSecondsWhileARunGoesOn(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	body := func(context.Context) (metrics.Result, error) {
		started <- struct{}{}
		<-release
		return metrics.Result{}, nil
	}
	e := newEnv(t, Options{}, Job{Kind: kb, Name: "app", Run: body}, Job{Kind: kt, Name: "idle", Run: body})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg := e.s.Metrics().Registry()
	if v, ok := value(t, reg, "ops_job_running_seconds", kn(kb, "app")); !ok || v != 0 {
		t.Errorf("before the run: ops_job_running_seconds = %v (present %v), want 0", v, ok)
	}
	e.s.RunNow(JobID{kb, "app"})
	<-started
	eventually(t, "ops_job_running_seconds > 0 while running", func() bool {
		v, _ := value(t, reg, "ops_job_running_seconds", kn(kb, "app"))
		return v > 0
	})
	if v, ok := value(t, reg, "ops_job_running_seconds", kn(kt, "idle")); !ok || v != 0 {
		t.Errorf("idle job: ops_job_running_seconds = %v (present %v), want 0", v, ok)
	}
	close(release)
	eventually(t, "ops_job_running_seconds 0 after the run", func() bool {
		v, ok := value(t, reg, "ops_job_running_seconds", kn(kb, "app"))
		return ok && v == 0
	})
}
