package schedule

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
)

// wait is how long a test waits for an event that should come within a
// second or two; it is a hang guard, never a performance assertion.
const wait = 20 * time.Second

// logBuf collects log output safely across goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fixed is a LoadFunc returning the jobs of the current generation; tests
// change the generation with set / fail.
type loader struct {
	mu   sync.Mutex
	jobs []Job
	err  error
}

func (l *loader) load(context.Context) ([]Job, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	return append([]Job(nil), l.jobs...), nil
}

func (l *loader) set(jobs ...Job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs, l.err = jobs, nil
}

func (l *loader) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

type env struct {
	s   *Scheduler
	ld  *loader
	log *logBuf
}

func newEnv(t *testing.T, o Options, jobs ...Job) *env {
	t.Helper()
	e := &env{ld: &loader{}, log: &logBuf{}}
	e.ld.set(jobs...)
	o.Load = e.ld.load
	if o.Classify == nil {
		o.Classify = classify
	}
	o.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Location == nil {
		o.Location = time.UTC
	}
	e.s = New(o)
	t.Cleanup(func() {
		_ = e.s.Stop()
		if t.Failed() {
			t.Logf("scheduler log:\n%s", e.log.String())
		}
	})
	return e
}

// classify stands in for cmd/ops' exit table: a timeout is 3, a mark
// (exitcode.Check, …) gives the status, cancellation 130, anything else 3.
func classify(err error) int {
	if errors.Is(err, ErrTimeout) {
		return exitcode.Runtime
	}
	if code, ok := exitcode.Marked(err); ok {
		return code
	}
	if errors.Is(err, context.Canceled) {
		return exitcode.Interrupted
	}
	return exitcode.Runtime
}

// counter is a fake job body that counts its runs and reports each on a
// channel.
type counter struct {
	mu   sync.Mutex
	n    int
	runs chan int
}

func newCounter() *counter { return &counter{runs: make(chan int, 100)} }

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counter) tick() int {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	select {
	case c.runs <- n:
	default:
	}
	return n
}

func (c *counter) run(err error) RunFunc {
	return func(context.Context) (metrics.Result, error) {
		c.tick()
		return metrics.Result{}, err
	}
}

// waitRuns waits until c has counted at least n runs.
func waitRuns(t *testing.T, c *counter, n int, what string) {
	t.Helper()
	deadline := time.After(wait)
	for c.count() < n {
		select {
		case <-c.runs:
		case <-deadline:
			t.Fatalf("%s: %d runs after %s, want %d", what, c.count(), wait, n)
		}
	}
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// value reads one series from a gatherer; ok is false when it is absent.
func value(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return metrics.Sample(mf, labels)
		}
	}
	return 0, false
}

func kn(kind, name string) map[string]string { return map[string]string{"kind": kind, "name": name} }

func knr(kind, name, result string) map[string]string {
	return map[string]string{"kind": kind, "name": name, "result": result}
}

func contains(t *testing.T, s, sub, what string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s: %q not found in:\n%s", what, sub, s)
	}
}
