package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// config check reads every *_file: a missing or unreadable one is one line
// naming the file's key and line, exit 1.
func TestConfigCheckFiles(t *testing.T) {
	dir := t.TempDir()
	ok, sub := filepath.Join(dir, "ok.pass"), filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ok, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    offsite: {type: swift, auth_url: http://127.0.0.1:1/auth/v1.0, user: u, key_file: %s/missing.key, container: c}
backup:
  jobs:
    - name: app
      target: offsite
      mysql: {user: bk, password_file: %s}
      identity_file: %s
`, dir, ok, sub))
	code, out, stderr := runOps(t, "--config", cfg, "config", "check")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || out != "" || len(lines) != 2 ||
		!strings.HasSuffix(lines[1], ":9: backup.jobs[0].identity_file: cannot read "+sub+": "+sub+" is a directory") ||
		!strings.HasSuffix(lines[0], ":3: storage.targets.offsite.key_file: cannot read "+dir+"/missing.key: no such file or directory") {
		t.Fatalf("code %d\nstdout %q\nstderr:\n%s", code, out, stderr)
	}
	cfg = writeConfig(t, fmt.Sprintf("backup:\n  jobs:\n    - name: app\n      mysql: {password_file: %s}\n", ok))
	if code, out, stderr := runOps(t, "--config", cfg, "config", "check"); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("readable files: %d %q %q", code, out, stderr)
	}
}

// config check lists tlscheck.report_dir: a missing directory, or a file,
// is a problem naming the key and its line (serve would only log it).
func TestConfigCheckReportDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "report.json")
	if err := os.WriteFile(file, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(dir, "missing"), "no such file or directory"},
		{file, "not a directory"},
	} {
		cfg := writeConfig(t, "log: {level: info}\ntlscheck:\n  report_dir: "+tc.dir+"\n")
		code, out, stderr := runOps(t, "--config", cfg, "config", "check")
		if code != 1 || out != "" || !strings.Contains(stderr, ":3: tlscheck.report_dir: cannot read "+tc.dir+": ") || !strings.Contains(stderr, tc.want) {
			t.Errorf("report_dir %s: code %d stdout %q stderr %q", tc.dir, code, out, stderr)
		}
	}
	cfg := writeConfig(t, "tlscheck: {report_dir: "+dir+"}\n")
	if code, out, stderr := runOps(t, "--config", cfg, "config", "check"); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("a readable report_dir: %d %q %q", code, out, stderr)
	}
}
