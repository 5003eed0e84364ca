package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Under -q every line printed on a failure starts with "ops: ": the lines
// of several joined errors (two failed jobs), the lines of a config
// error, and error log lines; cron mails and greps see no stray line.
func TestQuietEveryFailureLineStartsWithOps(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: a
      mysql: {host: 127.0.0.1, port: 1, user: root, timeout: 5s}
    - name: b
      mysql: {host: 127.0.0.1, port: 1, user: root, timeout: 5s}
`, filepath.Join(dir, "backups")))
	bad := writeConfig(t, "log: {levle: info, formt: text}\n")
	for _, args := range [][]string{
		{"--config", cfg, "-q", "backup", "run"},
		{"--config", bad, "-q", "config", "check"},
	} {
		code, out, stderr := runOps(t, args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code == 0 || out != "" || len(lines) < 2 {
			t.Fatalf("%v: code %d stdout %q stderr %q", args, code, out, stderr)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "ops: ") {
				t.Errorf("%v: line %q does not start with \"ops: \" in\n%s", args, l, stderr)
			}
		}
	}
	// Without -q a config error keeps its FILE:LINE: lines (an editor jumps to them).
	if _, _, stderr := runOps(t, "--config", bad, "config", "check"); strings.HasPrefix(stderr, "ops: ") || !strings.HasPrefix(stderr, bad+":") {
		t.Errorf("config check without -q: %q", stderr)
	}
}

// The -q logger's writer starts every line, wherever the writes split it.
func TestLinePrefixer(t *testing.T) {
	var b bytes.Buffer
	w := &linePrefixer{w: &b, prefix: "ops: ", start: true}
	for _, s := range []string{"level=ERROR msg=a\n", "level=ERROR ", "msg=b\nlevel=ERROR msg=c\n"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatal(n, err)
		}
	}
	if want := "ops: level=ERROR msg=a\nops: level=ERROR msg=b\nops: level=ERROR msg=c\n"; b.String() != want {
		t.Fatalf("%q, want %q", b.String(), want)
	}
}
