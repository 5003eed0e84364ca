package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/tlscheck/tlsrpt"
)

const tlsrptTestdata = "../../tlscheck/tlsrpt/testdata/"

// copyReports copies the tlsrpt package's test reports into dir under the
// given names (source, name, source, name...).
func copyReports(t *testing.T, dir string, pairs ...string) {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		b, err := os.ReadFile(tlsrptTestdata + pairs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pairs[i+1]), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// scrapeUntil scrapes /metrics until it contains want.
func scrapeUntil(t *testing.T, h *serveHarness, c *http.Client, want string) string {
	t.Helper()
	deadline := time.Now().Add(reloadWait)
	for {
		code, body, err := h.get(c, "http", "/metrics", "")
		if err == nil && code == http.StatusOK && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics has no %q within %s (%d %v):\n%s", want, reloadWait, code, err, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// `ops serve` with tlscheck.report_dir exports the sums of the reports in
// it, as `ops tlscheck report DIR` sums them: the Google gzip report, the
// Microsoft JSON and the e-mail (a second copy of the Google report counts
// once), a bad file counted and logged once, hidden files and
// subdirectories ignored. A reload without report_dir removes the series.
func TestServeTLSRPTMetrics(t *testing.T) {
	dir := t.TempDir()
	reports := filepath.Join(dir, "tlsrpt")
	if err := os.MkdirAll(filepath.Join(reports, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	copyReports(t, reports,
		"google.com!example.org!1796083200!1796169599!001.json.gz", "google.json.gz",
		"google.com!example.org!1796083200!1796169599!001.json.gz", "google-again.json.gz",
		"microsoft.com!example.org!1796083200!1796169599!134090592000000000.json", "microsoft.json",
		"microsoft-mail.eml", "microsoft.eml",
		"rfc8460-example.json", ".incoming.json", // hidden: not yet complete, not read
		"rfc8460-example.json", "sub/rfc.json") // not read: subdirectories are not
	bad := filepath.Join(reports, "junk.json")
	if err := os.WriteFile(bad, []byte(`{"organization-name": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("lock_dir: %s\nserve: {listen: \"127.0.0.1:0\"}\n", filepath.Join(dir, "locks"))
	h := newServeHarness(t, base+"tlscheck: {report_dir: "+reports+"}\n")
	if err := h.start(false, ""); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: reloadWait}
	defer c.CloseIdleConnections()
	h.waitServing(c, "http", "")

	body := scrapeUntil(t, h, c, "ops_tlsrpt_reports ")
	for _, want := range []string{
		"ops_tlsrpt_reports 3\n",
		"ops_tlsrpt_bad_files 1\n",
		`ops_tlsrpt_sessions{policy_domain="example.org",policy_type="sts",result="successful"} 1840` + "\n",
		`ops_tlsrpt_sessions{policy_domain="example.org",policy_type="sts",result="failed"} 17` + "\n",
		`ops_tlsrpt_failures{policy_domain="example.org",policy_type="sts",result_type="certificate-expired"} 7` + "\n",
		`ops_tlsrpt_failures{policy_domain="example.org",policy_type="sts",result_type="sts-policy-fetch-error"} 7` + "\n",
		`ops_tlsrpt_failures{policy_domain="example.org",policy_type="sts",result_type="validation-failure"} 2` + "\n",
		`ops_tlsrpt_failures{policy_domain="example.org",policy_type="sts",result_type="starttls-not-supported"} 1` + "\n",
		`ops_tlsrpt_sessions{policy_domain="mx.example.net",policy_type="tlsa",result="successful"} 114` + "\n",
		`ops_tlsrpt_sessions{policy_domain="mx.example.net",policy_type="tlsa",result="failed"} 0` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if n := strings.Count(body, "ops_tlsrpt_failures{"); n != 4 {
		t.Errorf("%d ops_tlsrpt_failures series, want 4 (per result type, over MX and IP)", n)
	}
	if strings.Contains(body, "company-y.example") {
		t.Error("a hidden file or a subdirectory's report was summed")
	}
	// A later scrape: the same sums, and the bad file is not logged again.
	if body := scrapeUntil(t, h, c, "ops_tlsrpt_bad_files 1\n"); !strings.Contains(body, "ops_tlsrpt_reports 3\n") {
		t.Errorf("second scrape:\n%s", body)
	}
	log := h.stderr.String()
	if n := strings.Count(log, "file="+bad); n != 1 || !strings.Contains(log, `"policies\" is missing`) {
		t.Errorf("the bad file logged %d times (want once, with its name %s and why):\n%s", n, bad, log)
	}

	// Reloaded without report_dir: no series.
	if err := os.WriteFile(h.cfg, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	h.reload <- os.Interrupt
	deadline := time.Now().Add(reloadWait)
	for {
		_, body, err := h.get(c, "http", "/metrics", "")
		if err == nil && strings.Contains(body, "ops_scheduler_up") && !strings.Contains(body, "ops_tlsrpt_") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ops_tlsrpt_* series after a reload without report_dir:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A scrape never waits for a slow scan longer than the source's wait: it
// exports what the last finished scan found (nothing before the first),
// and the scan's result once it ends.
func TestTLSRPTSourceSlowScan(t *testing.T) {
	dir := t.TempDir()
	copyReports(t, dir, "rfc8460-example.json", "r.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newTLSRPTSource(ctx)
	s.wait, s.minAge = time.Millisecond, 0
	release := make(chan struct{})
	s.read = func(d *tlsrpt.Dir, ctx context.Context) (tlsrpt.DirSum, []tlsrpt.BadFile, error) {
		<-release // a slow disk
		return d.Scan(ctx)
	}
	rt := statusRuntime()
	rt.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	rt.cfg.TLSCheck.ReportDir = dir
	s.setRuntime(rt)
	if _, ok := s.get(); ok {
		t.Fatal("sums before the first scan ended")
	}
	close(release)
	s.wait = time.Hour // the scan is released: the next get waits for it
	deadline := time.Now().Add(reloadWait)
	for {
		m, ok := s.get()
		if ok {
			if m.Reports != 1 || len(m.Policies) != 1 || m.Policies[0].Successful != 5326 || m.Policies[0].Failures["certificate-expired"] != 100 {
				t.Fatalf("sums = %+v", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no sums after the scan was released")
		}
	}
}

// Anyone can mail a report: the series are bounded, the policies with the
// most sessions and the result types with the most failures kept.
func TestTLSRPTMetricsBounded(t *testing.T) {
	var d tlsrpt.DirSum
	for i := range tlsrptMaxPolicies + 5 {
		d.Summary.Policies = append(d.Summary.Policies, tlsrpt.PolicySum{PolicyDomain: fmt.Sprintf("d%04d.example", i), PolicyType: "sts", Successful: int64(i)})
	}
	big := &d.Summary.Policies[len(d.Summary.Policies)-1]
	big.Failed = 1 << 62
	for i := range tlsrptMaxResultTypes + 3 {
		big.Failures = append(big.Failures, tlsrpt.FailureSum{ResultType: fmt.Sprintf("rt%02d", i), Count: int64(i + 1)})
	}
	big.Failures = append(big.Failures, tlsrpt.FailureSum{ResultType: "rt34", ReceivingMX: "mx2", Count: 1<<63 - 1}) // summed over MX: saturates
	m, dropped := tlsrptMetrics(d)
	if len(m.Policies) != tlsrptMaxPolicies || dropped != 5+3 {
		t.Fatalf("%d policies, %d dropped: want %d and 8", len(m.Policies), dropped, tlsrptMaxPolicies)
	}
	kept := map[string]bool{}
	for _, p := range m.Policies {
		kept[p.Domain] = true
	}
	for i := range 5 {
		if kept[fmt.Sprintf("d%04d.example", i)] {
			t.Errorf("d%04d.example (fewest sessions) kept", i)
		}
	}
	var bp metrics.TLSRPTPolicy
	for _, p := range m.Policies {
		if p.Domain == big.PolicyDomain {
			bp = p
		}
	}
	if len(bp.Failures) != tlsrptMaxResultTypes || bp.Failures["rt34"] != 1<<63-1 || bp.Failures["rt03"] != 4 {
		t.Errorf("the largest policy's failures = %v", bp.Failures)
	}
	for _, rt := range []string{"rt00", "rt01", "rt02"} {
		if _, ok := bp.Failures[rt]; ok {
			t.Errorf("%s (fewest failures) kept: %v", rt, bp.Failures)
		}
	}
}

// A reload that changes report_dir while a scan of the old directory runs:
// the old sums are never exported, the new directory is read as soon as
// the old scan ends.
func TestTLSRPTSourceReloadDuringScan(t *testing.T) {
	oldDir, newDir := t.TempDir(), t.TempDir()
	copyReports(t, oldDir, "rfc8460-example.json", "r.json")
	copyReports(t, newDir, "tlsrpt-reporter-no-policy.json", "pf.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newTLSRPTSource(ctx)
	s.wait, s.minAge = time.Millisecond, time.Hour
	release := make(chan struct{})
	s.read = func(d *tlsrpt.Dir, ctx context.Context) (tlsrpt.DirSum, []tlsrpt.BadFile, error) {
		if d.Path() == oldDir {
			<-release
		}
		return d.Scan(ctx)
	}
	rt := statusRuntime()
	rt.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	rt.cfg.TLSCheck.ReportDir = oldDir
	s.setRuntime(rt)
	next := statusRuntime()
	next.log = rt.log
	next.cfg.TLSCheck.ReportDir = newDir
	s.setRuntime(next)
	close(release)
	s.wait = time.Hour
	deadline := time.Now().Add(reloadWait)
	for {
		m, ok := s.get()
		if ok {
			if m.Reports != 1 || len(m.Policies) != 1 || m.Policies[0].Type != tlsrpt.PolicyNoPolicyFound {
				t.Fatalf("sums = %+v: want the new directory's", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new directory was not read")
		}
	}
}
