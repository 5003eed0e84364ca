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
// retries until it is spent, then names it. A target's own retry_budget
// replaces it.
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
	cfg := func(budget string, target ...string) string {
		own := ""
		if len(target) > 0 {
			own = ", retry_budget: " + target[0]
		}
		return writeConfig(t, `storage:
  retry_budget: `+budget+`
  targets:
    offsite: {type: swift, auth_url: http://127.0.0.1:1/auth/v1.0, user: u, key_file: `+key+`, container: c`+own+`}
backup:
  jobs:
    - name: app
      target: offsite
`)
	}
	// config show: the effective budget of each Swift target, inherited
	// ones marked, none for a local target.
	code, out, stderr = runOps(t, "--config", writeConfig(t, `storage:
  targets:
    a: {type: swift, auth_url: http://127.0.0.1:1/auth/v1.0, user: u, key_file: `+key+`, container: c}
    b: {type: swift, auth_url: http://127.0.0.1:1/auth/v1.0, user: u, key_file: `+key+`, container: c, retry_budget: 0}
`), "config", "show")
	if code != 0 || strings.Count(out, "retry_budget:") != 3 || !strings.Contains(out, "      retry_budget: 5m0s # storage.retry_budget\n") ||
		!strings.Contains(out, "      retry_budget: 0s\n    local:\n") {
		t.Fatalf("config show with target budgets: %d\n%s\n%s", code, out, stderr)
	}

	// The target's own retry_budget, when set, wins (0 included).
	for _, c := range []struct {
		name, file string
		retried    bool
	}{
		{"budget 0", cfg("0"), false},
		{"budget 200ms", cfg("200ms"), true},
		{"target's 200ms over 0", cfg("0", "200ms"), true},
		{"target's 0 over 200ms", cfg("200ms", "0"), false},
	} {
		code, _, stderr = runOps(t, "--config", c.file, "backup", "list")
		switch {
		case code != 3:
		case !c.retried && !strings.Contains(stderr, "retrying") && strings.HasSuffix(stderr, "connect: connection refused\n"):
			continue
		case c.retried && strings.Contains(stderr, `msg="retrying store operation" target=offsite op=authenticate attempt=1`) &&
			strings.Contains(stderr, "(authenticate: still failing after ") && strings.Contains(stderr, "; the retry budget is 200ms)"):
			continue
		}
		t.Errorf("%s: exit %d\n%s", c.name, code, stderr)
	}
	code, _, stderr = runOps(t, "--config", cfg("0", "-2s"), "config", "check")
	if code != 2 || !strings.Contains(stderr, "storage.targets.offsite.retry_budget: -2s: expected 0 (no retry)") {
		t.Errorf("negative target budget: %d\n%s", code, stderr)
	}
}
