package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func physicalConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: phys
      method: physical
      mysql: {socket: /nonexistent/mysqld.sock, user: root}
      target: local
%s    - name: logical
      mysql: {socket: /nonexistent/mysqld.sock, user: root}
      target: local
`, filepath.Join(dir, "locks"), filepath.Join(dir, "store"), extra))
}

// The usage errors of physical jobs are exit 2, before any server or store
// is touched: a non-empty --datadir, --datadir on a logical job, no
// --datadir on a physical one, cat and verify --restore-test of physical
// jobs, and databases in a physical job's config.
func TestPhysicalUsageErrorsExit2(t *testing.T) {
	cfg := physicalConfig(t, "")
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "ibdata1"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "restore", "--job", "phys", "--datadir", full}, "absent or empty"},
		{[]string{"backup", "restore", "--job", "phys"}, "--datadir DIR"},
		{[]string{"backup", "restore", "--job", "logical", "--datadir", t.TempDir()}, "logical job"},
		{[]string{"backup", "restore", "--job", "phys", "--datadir", full, "--until", "2026-01-01 00:00:00"}, "absent or empty"},
		{[]string{"backup", "cat", "--job", "phys"}, "not SQL"},
	} {
		code, _, stderr := runOps(t, append([]string{"--config", cfg}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// --until on a physical job goes to the point-in-time restore on a
	// physical base: with no backup, nothing is recoverable (exit 2).
	code, _, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "phys", "--datadir", filepath.Join(t.TempDir(), "d"), "--until", "2026-01-01 00:00:00")
	if code != 2 || !strings.Contains(stderr, "not recoverable") {
		t.Errorf("--until without backups: exit %d, %q", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(full, "ibdata1")); string(b) != "x" {
		t.Fatal("a refused restore touched the data directory")
	}
	bad := physicalConfig(t, "      databases: [app]\n")
	code, _, stderr = runOps(t, "--config", bad, "config", "check")
	if code != 2 || !strings.Contains(stderr, "backup.jobs[0].databases") {
		t.Fatalf("physical with databases: exit %d, %q", code, stderr)
	}
}
