package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const reportData = "../../tlscheck/tlsrpt/testdata/"

// `ops tlscheck report` over a Google gzip report, a Microsoft JSON and a
// Microsoft e-mail: the sums of cli.md's JSON shape; a directory reads its
// files; a file that is not a report is exit 2 naming it.
func TestTLSReport(t *testing.T) {
	files := []string{
		reportData + "google.com!example.org!1796083200!1796169599!001.json.gz",
		reportData + "microsoft.com!example.org!1796083200!1796169599!134090592000000000.json",
		reportData + "microsoft-mail.eml",
	}
	code, out, stderr := runOps(t, append([]string{"tlscheck", "report", "--output", "json"}, files...)...)
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var s struct {
		Reports  int `json:"reports"`
		Policies []struct {
			PolicyDomain string `json:"policy_domain"`
			PolicyType   string `json:"policy_type"`
			Successful   int64  `json:"successful"`
			Failed       int64  `json:"failed"`
			Failures     []struct {
				ResultType string `json:"result_type"`
				MX         string `json:"receiving_mx_hostname"`
				IP         string `json:"sending_mta_ip"`
				Count      int64  `json:"count"`
			} `json:"failures"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s.Reports != 3 || len(s.Policies) != 2 || s.Policies[0].PolicyDomain != "example.org" || s.Policies[0].Successful != 1840 ||
		s.Policies[0].Failed != 17 || len(s.Policies[0].Failures) != 4 || s.Policies[1].PolicyType != "tlsa" || s.Policies[1].Successful != 114 {
		t.Fatalf("sums:\n%s", out)
	}
	code, out, _ = runOps(t, append([]string{"tlscheck", "report"}, files...)...)
	if code != 0 || !strings.Contains(out, "example.org     sts   1840        17") || !strings.Contains(out, "3 report(s)") {
		t.Errorf("table (code %d):\n%s", code, out)
	}
	if code, out, _ = runOps(t, "tlscheck", "report", "--output", "json", reportData); code != 0 || !strings.Contains(out, `"reports": 5`) {
		t.Errorf("directory (code %d):\n%s", code, out)
	}

	// A directory: its files and links to files, not hidden files nor subdirectories.
	dir := t.TempDir()
	os.Symlink(mustAbs(t, files[0]), filepath.Join(dir, "google.json.gz"))
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("not a report"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	if code, out, stderr := runOps(t, "tlscheck", "report", "--output", "json", dir); code != 0 || !strings.Contains(out, `"reports": 1`) {
		t.Errorf("directory with a link: code %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := runOps(t, "tlscheck", "report", t.TempDir()); code != 2 || !strings.Contains(stderr, "directory without report files") {
		t.Errorf("empty directory: code %d %s", code, stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.json.gz")
	os.WriteFile(bad, []byte("\x1f\x8b\x08\x00 not really gzip"), 0o600)
	code, out, stderr = runOps(t, "tlscheck", "report", files[0], bad)
	if code != 2 || out != "" || !strings.Contains(stderr, bad+": not a readable TLSRPT report: gzip:") {
		t.Errorf("corrupt file: code %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
