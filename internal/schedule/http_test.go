package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestServeHTTP runs the whole daemon on a loopback port: /healthz,
// /metrics (parsed back, contract names and labels), the status page, a
// SIGHUP-style reload through the channel, and a graceful stop during which
// /healthz answers 503.
func TestServeHTTP(t *testing.T) {
	t.Parallel()
	backupDone := make(chan struct{}, 1)
	backup := func(context.Context) (metrics.Result, error) {
		defer func() { backupDone <- struct{}{} }()
		return metrics.Result{BackupBytes: 123456, BackupID: "20261204T020000Z"}, nil
	}
	tlsDone := make(chan struct{}, 1)
	tls := func(context.Context) (metrics.Result, error) {
		defer func() { tlsDone <- struct{}{} }()
		return metrics.Result{Verdicts: []metrics.Verdict{
			{Target: "mx1.example.net", Pass: true},
			{Target: "mx2.example.net:2525", Pass: false},
		}}, exitcode.Check(errors.New(`mx2.example.net:2525: verify FAIL <script>alert(1)</script>`))
	}
	blockStarted := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := func(ctx context.Context) (metrics.Result, error) {
		blockStarted <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return metrics.Result{Inventory: &metrics.Inventory{
			Objects: map[string]int{"vm": 12, "host": 3}, Findings: map[string]int{"warning": 2},
			Sources: map[string]bool{"vc": true, "kvm": false},
		}}, nil
	}
	jobs := []Job{
		{Kind: kb, Name: "app", Schedule: "0 2 * * *", Run: backup},
		{Kind: kt, Name: "partners", Schedule: "CRON_TZ=Europe/Berlin @hourly", Run: tls},
		{Kind: ki, Name: "inventory", Schedule: "@daily", Run: slow},
	}
	e := newEnv(t, Options{Grace: time.Hour}, jobs...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	reload := make(chan os.Signal, 1)
	served := make(chan error, 1)
	go func() { served <- e.s.Serve(ctx, ln, reload) }()

	eventually(t, "/healthz 200", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	e.s.RunNow(JobID{kb, "app"})
	e.s.RunNow(JobID{kt, "partners"})
	<-backupDone
	<-tlsDone
	e.s.RunNow(JobID{ki, "inventory"})
	<-blockStarted

	var fams map[string]*dto.MetricFamily
	// A run's metrics are set one after another after its function returned:
	// wait for the last one each run sets (a scrape may fall in between).
	eventually(t, "the runs in /metrics", func() bool {
		code, body := get(t, base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		fams, err = metrics.ParseText([]byte(body))
		if err != nil {
			t.Fatalf("/metrics does not parse: %v\n%s", err, body)
		}
		_, verdict := findIn(fams, "ops_tlscheck_verdict", map[string]string{"check": "partners", "target": "mx2.example.net:2525"})
		stored, _ := findIn(fams, "ops_backup_stored_bytes_total", map[string]string{"job": "app"})
		return verdict && stored == 123456
	})

	type want struct {
		name   string
		labels map[string]string
		typ    dto.MetricType
		check  func(float64) bool
		about  string
	}
	recent := func(v float64) bool { return time.Since(time.Unix(int64(v), 0)) < time.Hour }
	eq := func(x float64) func(float64) bool { return func(v float64) bool { return v == x } }
	nonneg := func(v float64) bool { return v >= 0 }
	job := func(n string) map[string]string { return map[string]string{"job": n} }
	for _, w := range []want{
		{"ops_backup_last_success_timestamp_seconds", job("app"), dto.MetricType_GAUGE, recent, "recent"},
		{"ops_backup_last_duration_seconds", job("app"), dto.MetricType_GAUGE, nonneg, ">= 0"},
		{"ops_backup_last_size_bytes", job("app"), dto.MetricType_GAUGE, eq(123456), "123456"},
		{"ops_backup_stored_bytes_total", job("app"), dto.MetricType_COUNTER, eq(123456), "123456"},
		{"ops_job_runs_total", knr(kb, "app", "success"), dto.MetricType_COUNTER, eq(1), "1"},
		{"ops_job_runs_total", knr(kb, "app", "failure"), dto.MetricType_COUNTER, eq(0), "0"},
		{"ops_job_runs_total", knr(kt, "partners", "problem"), dto.MetricType_COUNTER, eq(1), "1"},
		{"ops_tlscheck_verdict", map[string]string{"check": "partners", "target": "mx1.example.net"}, dto.MetricType_GAUGE, eq(1), "1 (pass)"},
		{"ops_tlscheck_verdict", map[string]string{"check": "partners", "target": "mx2.example.net:2525"}, dto.MetricType_GAUGE, eq(0), "0 (fail)"},
		{"ops_job_last_failed", kn(kb, "app"), dto.MetricType_GAUGE, eq(0), "0"},
		{"ops_job_last_failed", kn(kt, "partners"), dto.MetricType_GAUGE, eq(1), "1"},
		{"ops_job_last_exit_code", kn(kt, "partners"), dto.MetricType_GAUGE, eq(1), "1"},
		{"ops_job_last_run_timestamp_seconds", kn(kt, "partners"), dto.MetricType_GAUGE, recent, "recent"},
		{"ops_job_last_success_timestamp_seconds", kn(kb, "app"), dto.MetricType_GAUGE, recent, "recent"},
		{"ops_job_last_duration_seconds", kn(kb, "app"), dto.MetricType_GAUGE, nonneg, ">= 0"},
		{"ops_job_duration_seconds", kn(kb, "app"), dto.MetricType_HISTOGRAM, eq(1), "1 observation"},
		{"ops_job_running", kn(ki, "inventory"), dto.MetricType_GAUGE, eq(1), "1 (running)"},
		{"ops_job_running", kn(kb, "app"), dto.MetricType_GAUGE, eq(0), "0"},
		{"ops_job_skipped_total", map[string]string{"kind": kb, "name": "app", "reason": "overlap"}, dto.MetricType_COUNTER, eq(0), "0"},
		{"ops_job_next_run_timestamp_seconds", kn(kb, "app"), dto.MetricType_GAUGE, func(v float64) bool {
			next := time.Unix(int64(v), 0).UTC()
			return next.After(time.Now()) && next.Hour() == 2 && next.Minute() == 0
		}, "the next 02:00 UTC"},
		{"ops_scheduler_up", map[string]string{}, dto.MetricType_GAUGE, eq(1), "1"},
		{"ops_config_last_reload_successful", map[string]string{}, dto.MetricType_GAUGE, eq(1), "1"},
	} {
		mf := fams[w.name]
		if mf == nil {
			t.Errorf("/metrics has no %s", w.name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s is a %v, want %v", w.name, mf.GetType(), w.typ)
		}
		v, ok := findIn(fams, w.name, w.labels)
		if !ok {
			t.Errorf("/metrics has no %s%v", w.name, w.labels)
			continue
		}
		if !w.check(v) {
			t.Errorf("%s%v = %v, want %s", w.name, w.labels, v, w.about)
		}
	}
	// No label beyond the contract on the contract metrics.
	for name, labels := range map[string][]string{
		"ops_backup_last_success_timestamp_seconds": {"job"},
		"ops_backup_last_duration_seconds":          {"job"},
		"ops_backup_last_size_bytes":                {"job"},
		"ops_job_runs_total":                        {"kind", "name", "result"},
		"ops_tlscheck_verdict":                      {"check", "target"},
	} {
		for _, m := range fams[name].GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
			}
			if strings.Join(got, ",") != strings.Join(labels, ",") {
				t.Errorf("%s has labels %v, want %v", name, got, labels)
			}
		}
	}

	// Status page and JSON.
	code, page := get(t, base+"/")
	if code != http.StatusOK {
		t.Fatalf("/: %d", code)
	}
	for _, s := range []string{"<!doctype html>", "partners", "CRON_TZ=Europe/Berlin @hourly", "problem",
		"running since", "mx2.example.net:2525: verify FAIL &lt;script&gt;",
		"last backup <code>20261204T020000Z</code>, " + bytesize.Human(123456)} {
		contains(t, page, s, "status page")
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("status page does not escape job errors")
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "src=") {
		t.Error("status page is not self-contained")
	}
	code, js := get(t, base+"/status.json")
	var status struct {
		Healthy bool        `json:"healthy"`
		Jobs    []JobStatus `json:"jobs"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(js), &status) != nil || !status.Healthy || len(status.Jobs) != 3 {
		t.Fatalf("/status.json = %d %s", code, js)
	}
	if b := status.Jobs[0]; b.LastBackupID != "20261204T020000Z" || b.LastBackupSize != 123456 {
		t.Errorf("/status.json lacks the last backup: %s", js)
	}
	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}

	// SIGHUP: the reload channel swaps the job set.
	e.ld.set(jobs[0], jobs[2])
	reload <- syscall.SIGHUP
	eventually(t, "the reload", func() bool { return len(e.s.Status()) == 2 })
	_, body := get(t, base+"/metrics")
	if strings.Contains(body, `check="partners"`) || strings.Contains(body, `name="partners"`) {
		t.Error("series of the removed check are still exposed")
	}

	// SIGTERM: the context ends; /healthz turns 503 while the run finishes.
	cancel()
	eventually(t, "/healthz 503 while stopping", func() bool {
		code, body := get(t, base+"/healthz")
		return code == http.StatusServiceUnavailable && strings.TrimSpace(body) == "stopping"
	})
	_, body = get(t, base+"/metrics")
	contains(t, body, "ops_scheduler_up 0", "/metrics while stopping")
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a job was running", err)
	default:
	}
	close(release)
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the HTTP server still answers after Serve returned")
	}
}

func findIn(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
	return metrics.Sample(mf, labels)
}

func TestListenAndServeFailsFastOnBusyPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	loaded := false
	s := New(Options{Load: func(context.Context) ([]Job, error) { loaded = true; return nil, nil }})
	err = s.ListenAndServe(t.Context(), ln.Addr().String(), nil)
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("ListenAndServe = %v, want a listen error", err)
	}
	if loaded {
		t.Error("jobs were loaded before the port was bound")
	}
}

func TestStatusPageWithoutJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{}, Job{Kind: kb, Name: "manual", Run: newCounter().run(nil)})
	var b strings.Builder
	if err := e.s.WriteStatusPage(&b); err != nil {
		t.Fatal(err)
	}
	contains(t, b.String(), "not started", "status before start")
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := e.s.WriteStatusPage(&b); err != nil {
		t.Fatal(err)
	}
	contains(t, b.String(), "not scheduled", "status page")
	contains(t, b.String(), "never", "status page")
}
