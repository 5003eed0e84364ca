package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A least-privilege backup account and no restore_mysql: config check
// --connect fails (exit 1) naming each GRANT that restore and verify
// --restore-test would miss as that account, and how to fix it; the
// restore and the restore test indeed fail (saying nothing about dropping
// what they did not create). Running exactly the GRANTs it printed makes
// --connect pass and the restore test succeed as that account.
func TestConnectChecksRestoreGrantsWithoutRestoreAccount(t *testing.T) {
	root, _, name := itSource(t, "ux_grants", "CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO {db}.t VALUES (1, 'a'), (2, 'b')", "CREATE VIEW {db}.v AS SELECT id FROM {db}.t")
	user, pass := itAccount(t, root, "ux_backup", "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `"+name+"`.* TO {user}",
		"GRANT SELECT ON mysql.proc TO {user}")
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: app
      mysql: {host: 127.0.0.1, port: 3306, user: %s, password_file: %s}
      databases: [%s]
`, filepath.Join(t.TempDir(), "b"), user, pass, name))

	code, out, stderr := runOps(t, "--config", cfg, "config", "check", "--connect")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	acct := "'" + user + "'@'127.0.0.1'"
	want := []string{
		":7: backup.jobs[0].mysql: restore needs GRANT CREATE, DROP, INSERT, ALTER, CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE ON `" + name + "`.* TO " + acct + noRestoreAccountHint,
		":7: backup.jobs[0].mysql: verify --restore-test needs GRANT CREATE, DROP, INSERT, ALTER, CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, EVENT, SELECT ON `ops\\_verify\\_%`.* TO " + acct + noRestoreAccountHint,
		":7: backup.jobs[0].mysql: restore needs GRANT SET USER ON *.* TO " + acct + " (MySQL: SET_USER_ID or SET_ANY_DEFINER) to recreate views, routines, triggers and events with their DEFINER" + noRestoreAccountHint,
	}
	if code != 1 || len(lines) != len(want) || !strings.Contains(out, "ok: job app: mysql "+user+"@127.0.0.1, backups use a lock-free snapshot") {
		t.Fatalf("config check --connect: code %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d:\n%s\nwant suffix\n%s", i+1, lines[i], w)
		}
	}
	t.Logf("config check --connect without restore_mysql (exit %d):\nstdout:\n%s\nstderr:\n%s", code, out, stderr)

	if code, out, stderr = runOps(t, "--config", cfg, "backup", "run", "--job", "app"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	// It created nothing: nothing is said about dropping what it created.
	if code, _, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "app", "--restore-test"); code != 3 || !strings.Contains(stderr, "denied") ||
		strings.Contains(stderr, "dropp") {
		t.Fatalf("restore test before the grants: %d\n%s", code, stderr)
	}
	if code, _, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "app", "--database", name+"="+name+"_copy"); code != 3 ||
		!strings.Contains(stderr, "denied") || strings.Contains(stderr, "dropp") {
		t.Fatalf("restore before the grants: %d\n%s", code, stderr)
	}
	for _, g := range regexp.MustCompile(`GRANT [^']*TO '[^']*'@'[^']*'`).FindAllString(strings.Join(lines, "\n"), -1) {
		if _, err := root.Exec(g); err != nil {
			t.Fatalf("the printed %s: %v", g, err)
		}
	}
	code, out, stderr = runOps(t, "--config", cfg, "config", "check", "--connect")
	if code != 0 || !strings.Contains(out, "ok: job app: restores run as mysql "+user+"@127.0.0.1 too (no restore_mysql)") {
		t.Fatalf("after the printed GRANTs: code %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	code, out, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "app", "--restore-test")
	if code != 0 || !strings.Contains(out, "OK       "+name+".t rows 2 restored 2") {
		t.Fatalf("restore test after the GRANTs: %d\n%s\n%s", code, out, stderr)
	}
}
