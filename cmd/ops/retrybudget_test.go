package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storage.retry_budget: 5m by default (config show marks it), a negative
// value is a config error naming the key, and the value reaches the Swift
// store: against a port where nothing listens, 0 tries once and a budget
// retries until it is spent, then names it.
func TestStorageRetryBudget(t *testing.T) {
	code, out, stderr := runOps(t, "--config", writeConfig(t, "log: {level: info}\n"), "config", "show")
	if code != 0 || !strings.Contains(out, "  retry_budget: 5m0s # default\n") {
		t.Fatalf("config show: %d\n%s\n%s", code, out, stderr)
	}
	code, _, stderr = runOps(t, "--config", writeConfig(t, "storage: {retry_budget: -1s}\n"), "config", "check")
	if code != 2 || !strings.Contains(stderr, ":1: storage.retry_budget: -1s: expected 0 (no retry) or a positive duration such as 5m") {
		t.Fatalf("negative budget: %d\n%s", code, stderr)
	}
	key := filepath.Join(t.TempDir(), "swift.key")
	if err := os.WriteFile(key, []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(budget string) string {
		return writeConfig(t, `storage:
  retry_budget: `+budget+`
  targets:
    offsite: {type: swift, auth_url: http://127.0.0.1:1/auth/v1.0, user: u, key_file: `+key+`, container: c}
backup:
  jobs:
    - name: app
      target: offsite
`)
	}
	code, _, stderr = runOps(t, "--config", cfg("0"), "backup", "list")
	if code != 3 || strings.Contains(stderr, "retrying") || !strings.HasSuffix(stderr, "connect: connection refused\n") {
		t.Fatalf("budget 0: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runOps(t, "--config", cfg("200ms"), "backup", "list")
	if code != 3 || !strings.Contains(stderr, `msg="retrying store operation" target=offsite op=authenticate attempt=1`) ||
		!strings.Contains(stderr, "(authenticate: still failing after ") || !strings.Contains(stderr, "; the retry budget is 200ms)") {
		t.Fatalf("budget 200ms: exit %d\n%s", code, stderr)
	}
}
