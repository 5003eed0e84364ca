package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test re-execute this binary as `ops` (OPS_TEST_MAIN=1),
// so that a real process can be killed with SIGKILL mid-backup.
func TestMain(m *testing.M) {
	if os.Getenv("OPS_TEST_MAIN") == "1" {
		os.Exit(mainWithSignals(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func opsProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "OPS_TEST_MAIN=1")
	return cmd
}

func countFiles(t *testing.T, dir string) (files []string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	return files
}

// Kill -9 at several points of a backup to the local target: no partial
// backup is ever listed or restored, the next run succeeds, and prune leaves
// no leftover file.
func TestKillDuringBackupLocal(t *testing.T) {
	_, sock, name := itSource(t, "kill",
		"CREATE TABLE {db}.big (id INT PRIMARY KEY, pad VARCHAR(255))",
		"INSERT INTO {db}.big SELECT seq, CONCAT(seq, REPEAT(MD5(seq), 7)) FROM {db}.seq_1_to_100000")
	dir := filepath.Join(t.TempDir(), "backups")
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: it
      mysql: {socket: %s, user: root}
      databases: [%s]
      threads: 1
      compression: none
`, dir, sock, name))

	// 1. Killed while the stream is being written: only a hidden temporary
	// file remains, which nothing lists.
	for _, after := range []int64{1, 8 << 20} {
		cmd := opsProcess("--config", cfg, "backup", "run", "--no-prune")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		killed := false
		for time.Now().Before(deadline) && !killed {
			for _, f := range countFiles(t, dir) {
				if st, err := os.Stat(filepath.Join(dir, f)); err == nil && strings.Contains(f, ".partial-") && st.Size() >= after {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed = true
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("the backup finished before it could be killed at %d bytes; files: %v", after, countFiles(t, dir))
		}
		code, out, _ := runOps(t, "--config", cfg, "backup", "list", "--all", "--output", "json")
		if code != 0 || strings.TrimSpace(out) != "[]" {
			t.Fatalf("after kill at %d bytes, list --all = %d %s", after, code, out)
		}
		if code, _, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "it"); code != 3 || !strings.Contains(stderr, "no complete backup") {
			t.Fatalf("restore after kill: %d %s", code, stderr)
		}
	}
	// 2. Killed after the stream was stored but before the manifest: the
	// state is a data object without manifest (made here by removing the
	// manifest of a finished run): partial, hidden, refused.
	if code, _, stderr := runOps(t, "--config", cfg, "backup", "run", "--no-prune"); code != 0 {
		t.Fatalf("run: %s", stderr)
	}
	var manifest string
	for _, f := range countFiles(t, dir) {
		if strings.HasSuffix(f, "manifest.json") {
			manifest = f
		}
	}
	if err := os.Remove(filepath.Join(dir, manifest)); err != nil {
		t.Fatal(err)
	}
	partialID := strings.Split(manifest, "/")[1]
	if code, out, _ := runOps(t, "--config", cfg, "backup", "list", "--output", "json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("partial backup listed: %s", out)
	}
	if _, out, _ := runOps(t, "--config", cfg, "backup", "list", "--all"); !strings.Contains(out, partialID) || !strings.Contains(out, "PARTIAL") {
		t.Fatalf("list --all does not show the partial backup: %s", out)
	}
	if code, _, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "it", "--backup", partialID); code != 3 || !strings.Contains(stderr, "partial") {
		t.Fatalf("restore of a partial backup: %d %s", code, stderr)
	}
	time.Sleep(1100 * time.Millisecond) // a new ID
	// 3. The next run succeeds and is the only complete backup.
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run", "--no-prune"); code != 0 {
		t.Fatalf("run after kills: %d %s %s", code, out, stderr)
	}
	_, out, _ := runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var list []struct{ ID string }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("list = %s (%v)", out, err)
	}
	// 4. Prune removes the partial backup and both temporary files once
	// they are older than its grace period (6h), and keeps the complete
	// backup. Age the leftovers instead of waiting.
	old := time.Now().Add(-7 * time.Hour)
	for _, f := range countFiles(t, dir) {
		if !strings.Contains(f, list[0].ID) {
			_ = os.Chtimes(filepath.Join(dir, f), old, old)
		}
	}
	// The partial backup's age comes from its ID, so rename it into the past.
	oldID := old.UTC().Format("20060102T150405Z")
	if err := os.Rename(filepath.Join(dir, "it", partialID), filepath.Join(dir, "it", oldID)); err != nil {
		t.Fatal(err)
	}
	code, pout, stderr := runOps(t, "--config", cfg, "backup", "prune")
	if code != 0 {
		t.Fatalf("prune: %d %s", code, stderr)
	}
	left := countFiles(t, dir)
	if len(left) != 2 {
		t.Fatalf("after prune: %v\n%s", left, pout)
	}
	for _, f := range left {
		if strings.Contains(f, ".partial-") || strings.Contains(f, oldID) {
			t.Fatalf("leftover after prune: %v", left)
		}
	}
}
