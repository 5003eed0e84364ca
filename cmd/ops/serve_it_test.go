package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/metrics"
)

// metricValue returns the value of the series written as
// name{label="value",…} in an exposition body, or -1 when it is absent.
func metricValue(body, series string) float64 {
	name, rest, _ := strings.Cut(series, "{")
	labels := map[string]string{}
	for _, kv := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllStringSubmatch(rest, -1) {
		labels[kv[1]] = kv[2]
	}
	fams, err := metrics.ParseText([]byte(body))
	if err != nil || fams[name] == nil {
		return -1
	}
	if v, ok := metrics.Sample(fams[name], labels); ok {
		return v
	}
	return -1
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// `ops serve` against the real MariaDB and a local target: scheduled
// backups appear and are reported in /metrics, a failing job does not stop
// the others, an overlapping slow run is skipped, and SIGTERM waits for the
// running backup to finish.
func TestServeSchedulesBackups(t *testing.T) {
	db, sock, name := itSource(t, "serve", "CREATE TABLE {db}.t (id INT PRIMARY KEY)", "INSERT INTO {db}.t VALUES (1),(2)")
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: good
      mysql: {socket: %s, user: root, lock_wait_timeout: 2m}
      databases: [%s]
      schedule: "@every 2s"
      retention: {keep_last: 100}
    - name: bad
      mysql: {socket: %s, user: root}
      databases: [%s_missing]
      schedule: "@every 2s"
serve:
  listen: %s
`, filepath.Join(dir, "locks"), filepath.Join(dir, "backups"), sock, name, sock, name, addr))

	cmd, logs, exited := startServe(t, cfg)
	scrape := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(what string, cond func(m string) bool) string {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			if m := scrape(); m != "" && cond(m) {
				return m
			}
			select {
			case err := <-exited:
				t.Fatalf("ops serve exited while waiting for %s: %v", what, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
		t.Fatalf("timed out waiting for %s; metrics:\n%s", what, scrape())
		return ""
	}

	m := waitFor("two good backups and two failed ones", func(m string) bool {
		return metricValue(m, `ops_job_runs_total{kind="backup",name="good",result="success"}`) >= 2 &&
			metricValue(m, `ops_job_runs_total{kind="backup",name="bad",result="failure"}`) >= 2
	})
	if ts := metricValue(m, `ops_backup_last_success_timestamp_seconds{job="good"}`); ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp = %v", ts)
	}
	if size := metricValue(m, `ops_backup_last_size_bytes{job="good"}`); size <= 0 {
		t.Errorf("last size = %v", size)
	}
	if v := metricValue(m, `ops_backup_last_success_timestamp_seconds{job="bad"}`); v > 0 {
		t.Errorf("the failing job has a success timestamp: %v", v)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// Make the next good backup slow: hold a table lock that its global
	// read lock must wait for.
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "LOCK TABLES "+name+".t WRITE"); err != nil {
		t.Fatal(err)
	}
	waitFor("an overlapping run to be skipped", func(m string) bool {
		return metricValue(m, `ops_job_running{kind="backup",name="good"}`) == 1 &&
			metricValue(m, `ops_job_skipped_total{kind="backup",name="good",reason="overlap"}`) >= 1
	})
	before := countManifests(filepath.Join(dir, "backups"))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Fatalf("ops serve exited at SIGTERM without waiting for the running backup: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if _, err := conn.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ops serve did not exit cleanly: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ops serve did not exit after the running backup finished")
	}
	if after := countManifests(filepath.Join(dir, "backups")); after != before+1 {
		t.Fatalf("the backup running at SIGTERM did not complete: %d manifests before, %d after", before, after)
	}
	if !regexp.MustCompile(`"msg":"[^"]*skip`).MatchString(logs.String()) {
		t.Errorf("the skipped run was not logged:\n%s", logs.String())
	}
}

func countManifests(dir string) int {
	n := 0
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "manifest.json" {
			n++
		}
		return nil
	})
	return n
}

// `ops serve` against the real MariaDB: a scheduled backup that waits for a
// table lock is reported by ops_job_running_seconds while it waits, and is
// cancelled at its timeout, logged as timed out and counted as a failure;
// a one-shot `ops backup run` of the same job exits 3 saying so. /healthz
// answers 200 once the cancelled run returned.
func TestServeBackupTimeout(t *testing.T) {
	db, sock, name := itSource(t, "timeout", "CREATE TABLE {db}.t (id INT PRIMARY KEY)", "INSERT INTO {db}.t VALUES (1)")
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "LOCK TABLES "+name+".t WRITE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(t.Context(), "UNLOCK TABLES")
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: stuck
      mysql: {socket: %s, user: root, lock_wait_timeout: 10m}
      databases: [%s]
      schedule: "@every 1s"
      timeout: 3s
serve:
  listen: %s
`, filepath.Join(dir, "locks"), filepath.Join(dir, "backups"), sock, name, addr))

	cmd, logs, exited := startServe(t, cfg)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				_, m := get("/metrics")
				t.Fatalf("timed out waiting for %s; metrics:\n%s", what, m)
			}
			select {
			case err := <-exited:
				t.Fatalf("ops serve exited while waiting for %s: %v", what, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	series := func(s string) float64 { _, m := get("/metrics"); return metricValue(m, s) }

	waitFor("ops_job_running_seconds > 0 while the backup waits for the lock", func() bool {
		return series(`ops_job_running_seconds{kind="backup",name="stuck"}`) > 0
	})
	waitFor("the timed-out run counted as a failure", func() bool {
		return series(`ops_job_runs_total{kind="backup",name="stuck",result="failure"}`) >= 1
	})
	if !regexp.MustCompile(`"msg":"run timed out: cancelling it"[^\n]*"job":"stuck"`).MatchString(logs.String()) {
		t.Errorf("no log line saying the run timed out:\n%s", logs.String())
	}
	if !regexp.MustCompile(`"msg":"run failed"[^\n]*"err":"timed out: still running after its timeout of 3s`).MatchString(logs.String()) {
		t.Errorf("the failed run does not say it timed out:\n%s", logs.String())
	}
	if v := series(`ops_job_last_exit_code{kind="backup",name="stuck"}`); v != 3 {
		t.Errorf("ops_job_last_exit_code = %v, want 3", v)
	}
	if v := series(`ops_job_runs_total{kind="backup",name="stuck",result="success"}`); v != 0 {
		t.Errorf("a backup succeeded through the table lock: %v", v)
	}
	waitFor("/healthz 200 (the cancelled run returned)", func() bool {
		code, _ := get("/healthz")
		return code == http.StatusOK
	})
	stopServe(t, cmd, exited)

	// The one-shot command honours the same timeout.
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runOps(t, "--config", cfg, "backup", "run")
		done <- result{code, stderr}
	}()
	select {
	case r := <-done:
		if r.code != 3 || !strings.Contains(r.stderr, "ops: backup stuck: timed out: still running after its timeout of 3s") {
			t.Errorf("ops backup run: exit %d, stderr:\n%s", r.code, r.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("ops backup run did not return within 60s of its 3s timeout")
		conn.ExecContext(t.Context(), "UNLOCK TABLES") // let it finish
		<-done
	}
}

// startServe runs `ops serve` with cfg as a process (JSON logs into logs),
// killed when the test ends, its log shown when the test failed; exited
// receives its end.
func startServe(t *testing.T, cfg string) (cmd *exec.Cmd, logs *syncBuffer, exited <-chan error) {
	t.Helper()
	cmd = opsProcess("--config", cfg, "--log-format", "json", "serve")
	logs = &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("serve log:\n%s", logs.String())
		}
	})
	return cmd, logs, done
}

// stopServe sends SIGTERM to the serve process of startServe and fails the
// test unless it exits cleanly (a hang guard of a minute, not a timing).
func stopServe(t *testing.T, cmd *exec.Cmd, exited <-chan error) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ops serve after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ops serve did not exit after SIGTERM")
	}
}
