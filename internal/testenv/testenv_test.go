package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Fatal and Skip end the goroutine the way
// the real ones do, and record what was said.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

// run calls f with a recorder on its own goroutine (Fatal/Skip Goexit) and
// reports whether f returned normally.
func run(t *testing.T, f func(testing.TB)) (r *recorder, returned bool) {
	r = &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
		returned = true
	}()
	<-done
	return r, returned
}

func TestRequireIT(t *testing.T) {
	t.Setenv("OPS_IT", "1")
	if r, ok := run(t, RequireIT); !ok || r.failed != "" || r.skipped != "" {
		t.Errorf("OPS_IT=1: returned=%v failed=%q skipped=%q, want it to return", ok, r.failed, r.skipped)
	}

	t.Setenv("OPS_IT", "")
	if r, ok := run(t, RequireIT); ok || r.failed != "" || !strings.Contains(r.skipped, "OPS_IT=1") {
		t.Errorf("OPS_IT empty: returned=%v failed=%q skipped=%q, want a skip", ok, r.failed, r.skipped)
	}

	for _, v := range []string{"true", "yes", "0", "2", " 1"} {
		t.Setenv("OPS_IT", v)
		r, ok := run(t, RequireIT)
		want := fmt.Sprintf("OPS_IT=%q: expected 1 (run the integration tests) or unset/empty (skip them)", v)
		if ok || r.skipped != "" || r.failed != want {
			t.Errorf("OPS_IT=%q: returned=%v skipped=%q failed=%q, want failure %q", v, ok, r.skipped, r.failed, want)
		}
	}
}

func TestIT(t *testing.T) {
	for v, want := range map[string]bool{"": false, "1": true} {
		t.Setenv("OPS_IT", v)
		var got bool
		if r, ok := run(t, func(tb testing.TB) { got = IT(tb) }); !ok || r.failed != "" || got != want {
			t.Errorf("OPS_IT=%q: IT=%v returned=%v failed=%q, want %v", v, got, ok, r.failed, want)
		}
	}
	t.Setenv("OPS_IT", "true")
	if r, ok := run(t, func(tb testing.TB) { IT(tb) }); ok || !strings.Contains(r.failed, `OPS_IT="true"`) {
		t.Errorf("OPS_IT=true: returned=%v failed=%q, want a failure naming the value", ok, r.failed)
	}
}
