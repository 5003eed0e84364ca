package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Under cron: -q prints nothing at all when the backup succeeds, exactly one
// line when it fails; --log-level warn drops the success line too.
func TestQuietCronRun(t *testing.T) {
	_, sock, name := itSource(t, "quiet", "CREATE TABLE {db}.t (id INT PRIMARY KEY)", "INSERT INTO {db}.t VALUES (1)")
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: good
      mysql: {socket: %s, user: root}
      databases: [%s]
    - name: bad
      mysql: {host: 127.0.0.1, port: 1, user: root, timeout: 5s}
`, filepath.Join(dir, "backups"), sock, name))

	code, out, stderr := runOps(t, "--config", cfg, "-q", "backup", "run", "--job", "good")
	if code != 0 || out != "" || stderr != "" {
		t.Fatalf("-q success: code %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = runOps(t, "--config", cfg, "--log-level", "warn", "backup", "run", "--job", "good")
	if code != 0 || out != "" || stderr != "" {
		t.Fatalf("--log-level warn success: code %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, _ = runOps(t, "--config", cfg, "backup", "run", "--job", "good")
	if code != 0 || !strings.HasPrefix(out, "good ") {
		t.Fatalf("plain success prints its line: code %d, stdout %q", code, out)
	}
	for _, args := range [][]string{{"--job", "bad"}, {}} {
		code, out, stderr = runOps(t, append([]string{"--config", cfg, "-q", "backup", "run"}, args...)...)
		if code != 3 || out != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "ops: ") ||
			strings.Count(stderr, "connect to mysql") != 1 {
			t.Fatalf("-q failure %v: code %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
	// Without -q the failure is still printed once (no log line repeating it).
	code, _, stderr = runOps(t, "--config", cfg, "backup", "run", "--job", "bad")
	if code != 3 || strings.Count(stderr, "connect to mysql") != 1 {
		t.Fatalf("failure printed %d times: %s", strings.Count(stderr, "connect to mysql"), stderr)
	}
}
