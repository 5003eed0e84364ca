package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/exitcode"
)

// backup.jobs[].timeout defaults to 6h, must be positive, and bounds every
// scheduled run; tlscheck checks and the inventory have a fixed bound.
func TestJobTimeoutConfig(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{"0s", ":5: backup.jobs[0].timeout: 0s: expected a positive duration"},
		{"-1h", ":5: backup.jobs[0].timeout: -1h0m0s: expected a positive duration"},
		{"soon", ":5: backup.jobs[0].timeout: expected a duration"},
	} {
		p := writeConfig(t, "backup:\n  jobs:\n    - name: app\n      schedule: \"@daily\"\n      timeout: "+c.value+"\n")
		if code, _, stderr := runOps(t, "--config", p, "config", "check"); code != 2 || !strings.Contains(stderr, p+c.want) {
			t.Errorf("timeout %s: exit %d %q, want 2 and %q", c.value, code, stderr, c.want)
		}
	}
	p := writeConfig(t, `backup:
  jobs:
    - {name: app, schedule: "@daily", timeout: 90m}
    - {name: crm, schedule: "@daily"}
tlscheck:
  checks:
    - {name: partners, targets: [mx.example.net], schedule: "@hourly"}
inventory:
  sources: [{name: declared, type: file, path: /nonexistent}]
  schedule: "@daily"
`)
	rt, err := loadRuntime(newStreams(io.Discard, io.Discard), loadOptions{file: p})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"backup/app": 90 * time.Minute, "backup/crm": 6 * time.Hour,
		"tlscheck/partners": time.Hour, "inventory/inventory": time.Hour}
	jobs := rt.scheduledJobs(nil)
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs, want %d", len(jobs), len(want))
	}
	for _, j := range jobs {
		if id := j.ID().String(); j.Timeout != want[id] {
			t.Errorf("%s: timeout %s, want %s", id, j.Timeout, want[id])
		}
	}
}

// `ops backup run` honours the job's timeout: a server that accepts the
// connection and never answers makes it cancel, say so and exit 3.
func TestBackupRunTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never a greeting
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	metricsFile := filepath.Join(dir, "ops.prom")
	p := writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: app
      mysql: {host: %s, port: %s, user: backup}
      timeout: 300ms
`, filepath.Join(dir, "locks"), filepath.Join(dir, "backups"), host, port))
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := runOps(t, "--config", p, "backup", "run", "--metrics-file", metricsFile)
		done <- result{code, out, errs}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(reloadWait):
		t.Fatalf("ops backup run did not return within %s of a 300ms timeout", reloadWait)
	}
	if r.code != exitcode.Runtime {
		t.Errorf("exit %d, want 3; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"backup timed out: cancelling it", "ops: backup app: timed out", "timeout of 300ms"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	b, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	if v := metricValue(string(b), `ops_job_runs_total{kind="backup",name="app",result="failure"}`); v != 1 {
		t.Errorf("metrics file: failure count %v, want 1:\n%s", v, b)
	}
	if v := metricValue(string(b), `ops_job_last_exit_code{kind="backup",name="app"}`); v != exitcode.Runtime {
		t.Errorf("metrics file: exit code %v, want 3", v)
	}
}
