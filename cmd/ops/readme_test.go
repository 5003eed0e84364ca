package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's "Replace your cron script" configuration is the one a new
// user copies: it must pass `config check` as written, once the files it
// names exist.
func TestReadmeConfigChecks(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- readme:ops.yaml -->\n```yaml\n")
	if !ok {
		t.Fatal("README.md has no <!-- readme:ops.yaml --> block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the README's ops.yaml block is not closed")
	}
	dir := t.TempDir()
	for _, f := range []string{"swift.key", "mysql.pass", "restore.pass", "age.key"} {
		if !strings.Contains(block, "/etc/ops/"+f) {
			t.Fatalf("the README's ops.yaml no longer names /etc/ops/%s: update this test", f)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, strings.ReplaceAll(block, "/etc/ops/", dir+"/"))
	if code, out, stderr := runOps(t, "--config", cfg, "config", "check"); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("config check of the README's ops.yaml: exit %d\nstdout %q\nstderr:\n%s", code, out, stderr)
	}
}

// Every `ops …` command line in the README's shell blocks is a real
// invocation: the command exists and takes each flag given (what a user
// copies must run).
func TestReadmeCommandsExist(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := &cli{streams: newStreams(nil, nil)}
	root := newRootCmd(c)
	seen := 0
	for i, block := range strings.Split(string(readme), "```") {
		if i%2 == 0 || !(strings.HasPrefix(block, "sh\n") || strings.HasPrefix(block, "\n")) {
			continue
		}
		for _, line := range strings.Split(block, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "ops ") || strings.Contains(line, "…") || strings.Contains(line, "[") {
				continue // a synopsis line, not a command
			}
			line = strings.ReplaceAll(line, `"2026-12-04 15:01:00"`, "2026-12-04T15:01:00") // one argument in the shell
			line, _, _ = strings.Cut(line, " | ")                                           // what ops writes goes on to another command
			seen++
			checkExample(t, root, line)
		}
	}
	if seen < 15 {
		t.Errorf("only %d README command lines checked", seen)
	}
}
