package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/opsteam/ops/internal/exitcode"
)

// The statuses come from cmd/ops' exit table (its TestExitTable checks
// that these errors get these codes); Outcome only turns them into labels.
func TestOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err      error
		code     int
		panicked bool
		result   string
		want     int
	}{
		{nil, 0, false, Success, 0},
		{nil, 3, false, Success, 0}, // no error: the code is not looked at
		{errors.New("drift"), exitcode.CheckFailed, false, Problem, 1},
		{fmt.Errorf("job: %w", errors.New("verify mismatch")), exitcode.CheckFailed, false, Problem, 1},
		{errors.New("bad key"), exitcode.Usage, false, Failure, 2},
		{errors.New("connection refused"), exitcode.Runtime, false, Failure, 3},
		{errors.New("unclassified"), 0, false, Failure, 3}, // an error is never a success
		{context.Canceled, exitcode.Interrupted, false, Failure, 130},
		{errors.New("panic: boom"), 0, true, Failure, 3},
	} {
		r, c := Outcome(tc.err, tc.code, tc.panicked)
		if r != tc.result || c != tc.want {
			t.Errorf("Outcome(%v, %d, %v) = %s, %d; want %s, %d", tc.err, tc.code, tc.panicked, r, c, tc.result, tc.want)
		}
	}
}

// series reads one sample from parsed families.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	t.Helper()
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	return Sample(mf, want)
}

func readTextfile(t *testing.T, path string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := ParseText(b)
	if err != nil {
		t.Fatalf("textfile does not parse: %v\n%s", err, b)
	}
	return fams, string(b)
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	v, ok := series(t, fams, name, labels...)
	if !ok {
		t.Errorf("%s%v: absent", name, labels)
		return
	}
	if v != want {
		t.Errorf("%s%v = %v, want %v", name, labels, v, want)
	}
}

func absent(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) {
	t.Helper()
	if v, ok := series(t, fams, name, labels...); ok {
		t.Errorf("%s%v = %v, want absent", name, labels, v)
	}
}

// TestWriteTextfileRunByRun plays a sequence of one-shot commands writing
// to one textfile, as cron would, and reads the file back each time.
func TestWriteTextfileRunByRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ops.prom")
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	oneShot := func(r Run) {
		t.Helper()
		m := New() // a fresh process each time
		m.Record(r)
		if err := WriteTextfile(path, m.Registry()); err != nil {
			t.Fatal(err)
		}
	}

	// 1. backup app succeeds.
	oneShot(Run{Kind: KindBackup, Name: "app", Start: t0, End: t0.Add(90 * time.Second), Result: Result{BackupBytes: 5000}})
	fams, text := readTextfile(t, path)
	expect(t, fams, float64(t0.Add(90*time.Second).Unix()), "ops_backup_last_success_timestamp_seconds", "job", "app")
	expect(t, fams, 90, "ops_backup_last_duration_seconds", "job", "app")
	expect(t, fams, 5000, "ops_backup_last_size_bytes", "job", "app")
	expect(t, fams, 1, "ops_job_runs_total", "kind", "backup", "name", "app", "result", "success")
	expect(t, fams, 0, "ops_job_last_failed", "kind", "backup", "name", "app")
	expect(t, fams, 1, "ops_job_duration_seconds", "kind", "backup", "name", "app")
	if strings.Contains(text, "ops_config_") || strings.Contains(text, "ops_scheduler_") {
		t.Errorf("a one-shot textfile has daemon-only metrics:\n%s", text)
	}
	if !strings.Contains(text, "# TYPE ops_backup_last_size_bytes gauge") || !strings.HasSuffix(text, "\n") {
		t.Errorf("textfile is not the text exposition format:\n%s", text)
	}

	// 2. backup app fails the next day: the last success stays, counts add up.
	t1 := t0.Add(24 * time.Hour)
	oneShot(Run{Kind: KindBackup, Name: "app", Start: t1, End: t1.Add(time.Second), Err: errors.New("dial tcp: refused")})
	fams, _ = readTextfile(t, path)
	expect(t, fams, float64(t0.Add(90*time.Second).Unix()), "ops_backup_last_success_timestamp_seconds", "job", "app")
	expect(t, fams, 5000, "ops_backup_last_size_bytes", "job", "app")
	expect(t, fams, 1, "ops_job_runs_total", "kind", "backup", "name", "app", "result", "success")
	expect(t, fams, 1, "ops_job_runs_total", "kind", "backup", "name", "app", "result", "failure")
	expect(t, fams, 1, "ops_job_last_failed", "kind", "backup", "name", "app")
	expect(t, fams, 3, "ops_job_last_exit_code", "kind", "backup", "name", "app")
	expect(t, fams, float64(t1.Add(time.Second).Unix()), "ops_job_last_run_timestamp_seconds", "kind", "backup", "name", "app")
	expect(t, fams, 2, "ops_job_duration_seconds", "kind", "backup", "name", "app")
	if h := fams["ops_job_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleSum() != 91 {
		t.Errorf("merged histogram sum = %v, want 91", h.GetSampleSum())
	}

	// 3. another job and a tlscheck write to the same file: nothing is lost.
	oneShot(Run{Kind: KindBackup, Name: "crm", Start: t1, End: t1.Add(time.Minute), Result: Result{BackupBytes: 7}})
	oneShot(Run{Kind: KindTLSCheck, Name: "partners", Start: t1, End: t1, Err: errors.New("fail"), Code: exitcode.CheckFailed,
		Result: Result{Verdicts: []Verdict{{"mx1", true, time.Unix(1800000000, 0)}, {"mx2", false, time.Unix(1700000000, 0)}}}})
	oneShot(Run{Kind: KindTLSCheck, Name: "internal", Start: t1, End: t1, Result: Result{Verdicts: []Verdict{{"relay", true, time.Time{}}}}})
	fams, _ = readTextfile(t, path)
	expect(t, fams, 7, "ops_backup_last_size_bytes", "job", "crm")
	expect(t, fams, 5000, "ops_backup_last_size_bytes", "job", "app")
	expect(t, fams, 1, "ops_tlscheck_verdict", "check", "partners", "target", "mx1")
	expect(t, fams, 0, "ops_tlscheck_verdict", "check", "partners", "target", "mx2")
	expect(t, fams, 1, "ops_tlscheck_verdict", "check", "internal", "target", "relay")
	expect(t, fams, 1800000000, "ops_tlscheck_cert_expiry_timestamp_seconds", "check", "partners", "target", "mx1")
	expect(t, fams, 1700000000, "ops_tlscheck_cert_expiry_timestamp_seconds", "check", "partners", "target", "mx2")
	absent(t, fams, "ops_tlscheck_cert_expiry_timestamp_seconds", "check", "internal", "target", "relay") // no certificate seen
	expect(t, fams, 1, "ops_job_runs_total", "kind", "tlscheck", "name", "partners", "result", "problem")

	// 4. the check's target list changes: its old verdicts go, other checks stay.
	oneShot(Run{Kind: KindTLSCheck, Name: "partners", Start: t1, End: t1, Result: Result{Verdicts: []Verdict{{"mx3", true, time.Unix(1900000000, 0)}}}})
	fams, _ = readTextfile(t, path)
	absent(t, fams, "ops_tlscheck_verdict", "check", "partners", "target", "mx1")
	absent(t, fams, "ops_tlscheck_verdict", "check", "partners", "target", "mx2")
	expect(t, fams, 1, "ops_tlscheck_verdict", "check", "partners", "target", "mx3")
	expect(t, fams, 1, "ops_tlscheck_verdict", "check", "internal", "target", "relay")
	absent(t, fams, "ops_tlscheck_cert_expiry_timestamp_seconds", "check", "partners", "target", "mx1")
	expect(t, fams, 1900000000, "ops_tlscheck_cert_expiry_timestamp_seconds", "check", "partners", "target", "mx3")
	expect(t, fams, 1, "ops_job_runs_total", "kind", "tlscheck", "name", "partners", "result", "success")

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("textfile mode %v, want 0644 (node_exporter runs as another user)", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "ops.prom" && e.Name() != "ops.prom.lock" {
			t.Errorf("left behind in the textfile directory: %s", e.Name())
		}
	}
}

func TestWriteTextfileReplacesGarbage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "ops.prom")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("this is { not prometheus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := New()
	m.Record(Run{Kind: KindInventory, Name: "inventory", Result: Result{Inventory: &Inventory{
		Objects: map[string]int{"vm": 3}, Sources: map[string]bool{"vc": true, "kvm": false},
	}}})
	if err := WriteTextfile(path, m.Registry()); err != nil {
		t.Fatal(err)
	}
	fams, _ := readTextfile(t, path)
	expect(t, fams, 3, "ops_inventory_objects", "kind", "vm")
	expect(t, fams, 1, "ops_inventory_source_up", "source", "vc")
	expect(t, fams, 0, "ops_inventory_source_up", "source", "kvm")

	// The next inventory run describes the whole inventory again.
	m = New()
	m.Record(Run{Kind: KindInventory, Name: "inventory", Result: Result{Inventory: &Inventory{
		Objects: map[string]int{"host": 1}, Sources: map[string]bool{"vc": true},
	}}})
	if err := WriteTextfile(path, m.Registry()); err != nil {
		t.Fatal(err)
	}
	fams, _ = readTextfile(t, path)
	absent(t, fams, "ops_inventory_objects", "kind", "vm")
	absent(t, fams, "ops_inventory_source_up", "source", "kvm")
	expect(t, fams, 1, "ops_inventory_objects", "kind", "host")
}

// Hosts by connection, VMs by power, findings by severity, and the oldest
// snapshot's age computed when scraped.
func TestInventoryGauges(t *testing.T) {
	t.Parallel()
	m := New()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m.invSnapAge.now = func() time.Time { return now }
	fams := gather(t, m)
	if _, ok := fams["ops_inventory_snapshot_oldest_age_seconds"]; ok {
		t.Error("a snapshot age before any inventory run")
	}
	m.Record(Run{Kind: KindInventory, Name: "inventory", Result: Result{Inventory: &Inventory{
		Hosts:          map[string]int{"connected": 3, "disconnected": 1, "not_responding": 0},
		VMs:            map[string]int{"on": 5, "off": 2, "suspended": 0},
		Findings:       map[string]int{"error": 1, "warning": 2, "info": 0},
		SnapshotOldest: now.Add(-100 * time.Hour),
	}}})
	fams = gather(t, m)
	expect(t, fams, 3, "ops_inventory_hosts", "connection", "connected")
	expect(t, fams, 1, "ops_inventory_hosts", "connection", "disconnected")
	expect(t, fams, 0, "ops_inventory_hosts", "connection", "not_responding")
	expect(t, fams, 5, "ops_inventory_vms", "power", "on")
	expect(t, fams, 2, "ops_inventory_vms", "power", "off")
	expect(t, fams, 2, "ops_inventory_findings", "severity", "warning")
	expect(t, fams, 360000, "ops_inventory_snapshot_oldest_age_seconds")
	now = now.Add(time.Hour) // the age grows between runs
	fams = gather(t, m)
	expect(t, fams, 363600, "ops_inventory_snapshot_oldest_age_seconds")

	m.Record(Run{Kind: KindInventory, Name: "inventory", Result: Result{Inventory: &Inventory{VMs: map[string]int{"on": 1}}}})
	fams = gather(t, m)
	expect(t, fams, 0, "ops_inventory_snapshot_oldest_age_seconds")
	absent(t, fams, "ops_inventory_vms", "power", "off")
	m.Forget(KindInventory, "inventory")
	fams = gather(t, m)
	absent(t, fams, "ops_inventory_vms", "power", "on")
	if _, ok := fams["ops_inventory_snapshot_oldest_age_seconds"]; ok {
		t.Error("a forgotten inventory keeps its snapshot age")
	}
}

// TestWriteTextfileConcurrentWriters: writers serialised by the lock file
// never lose each other's counts.
func TestWriteTextfileConcurrentWriters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ops.prom")
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := New()
			m.Record(Run{Kind: KindBackup, Name: fmt.Sprintf("job%d", i%4)})
			if err := WriteTextfile(path, m.Registry()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	fams, _ := readTextfile(t, path)
	total := 0.0
	for i := range 4 {
		v, _ := series(t, fams, "ops_job_runs_total", "kind", "backup", "name", fmt.Sprintf("job%d", i), "result", "success")
		total += v
	}
	if total != n {
		t.Errorf("runs counted across concurrent writers = %v, want %d", total, n)
	}
}

func TestForgetAndSeed(t *testing.T) {
	t.Parallel()
	m := New()
	m.Declare(KindBackup, "app")
	now := time.Now()
	m.Record(Run{Kind: KindBackup, Name: "app", Start: now.Add(-time.Minute), End: now, Result: Result{BackupBytes: 10}})
	m.Record(Run{Kind: KindTLSCheck, Name: "partners", End: now, Result: Result{Verdicts: []Verdict{{"mx", true, time.Unix(1800000000, 0)}}}})
	gather := func() map[string]*dto.MetricFamily {
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*dto.MetricFamily{}
		for _, f := range mfs {
			out[f.GetName()] = f
		}
		return out
	}
	// Seeding from an older manifest must not move the timestamp back.
	m.SeedBackup("app", now.Add(-24*time.Hour), time.Hour, 99)
	fams := gather()
	expect(t, fams, 10, "ops_backup_last_size_bytes", "job", "app")
	// Seeding a job that has not run yet sets it.
	m.SeedBackup("crm", now.Add(-2*time.Hour), 30*time.Second, 42)
	fams = gather()
	expect(t, fams, 42, "ops_backup_last_size_bytes", "job", "crm")
	expect(t, fams, 30, "ops_backup_last_duration_seconds", "job", "crm")

	m.Forget(KindBackup, "app")
	m.Forget(KindTLSCheck, "partners")
	fams = gather()
	absent(t, fams, "ops_backup_last_size_bytes", "job", "app")
	absent(t, fams, "ops_job_runs_total", "kind", "backup", "name", "app", "result", "success")
	absent(t, fams, "ops_tlscheck_verdict", "check", "partners", "target", "mx")
	absent(t, fams, "ops_tlscheck_cert_expiry_timestamp_seconds", "check", "partners", "target", "mx")
	expect(t, fams, 42, "ops_backup_last_size_bytes", "job", "crm")
}

// ops_job_running_seconds is 0 for an idle declared job, the time since
// SetRunning(true) while it runs (read from the Set's clock at scrape
// time), 0 again once it finished, and gone with Forget. A one-shot Set
// that only records runs has no series.
func TestRunningSeconds(t *testing.T) {
	t.Parallel()
	m := New()
	var mu sync.Mutex
	clock := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	m.runningFor.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	gather := func() map[string]*dto.MetricFamily {
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*dto.MetricFamily{}
		for _, f := range mfs {
			out[f.GetName()] = f
		}
		return out
	}
	m.Record(Run{Kind: KindBackup, Name: "oneshot", End: clock})
	absent(t, gather(), "ops_job_running_seconds", "kind", "backup", "name", "oneshot")

	m.Declare(KindBackup, "app")
	m.Declare(KindInventory, "inventory")
	expect(t, gather(), 0, "ops_job_running_seconds", "kind", "backup", "name", "app")

	m.SetRunning(KindBackup, "app", true)
	advance(90 * time.Second)
	fams := gather()
	expect(t, fams, 90, "ops_job_running_seconds", "kind", "backup", "name", "app")
	expect(t, fams, 0, "ops_job_running_seconds", "kind", "inventory", "name", "inventory")
	m.Declare(KindBackup, "app") // a reload re-declares a running job: its start stays
	advance(30 * time.Second)
	expect(t, gather(), 120, "ops_job_running_seconds", "kind", "backup", "name", "app")

	m.SetRunning(KindBackup, "app", false)
	expect(t, gather(), 0, "ops_job_running_seconds", "kind", "backup", "name", "app")
	if mf := gather()["ops_job_running_seconds"]; mf.GetType() != dto.MetricType_GAUGE {
		t.Errorf("ops_job_running_seconds is a %v, want a gauge", mf.GetType())
	}

	m.Forget(KindBackup, "app")
	absent(t, gather(), "ops_job_running_seconds", "kind", "backup", "name", "app")
}

// gather reads the Set's registry as a scrape would.
func gather(t *testing.T, m *Set) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}
