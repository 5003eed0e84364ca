package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// itAccount creates the account NAME@127.0.0.1 with a random password and
// the given GRANT statements ({user} stands for the account), writes its
// password to a 0600 file and drops it when the test ends.
func itAccount(t *testing.T, db *sql.DB, name string, grants ...string) (user, passFile string) {
	t.Helper()
	pw := fmt.Sprintf("pw%d", rand.Uint64())
	acct := "'" + name + "'@'127.0.0.1'"
	t.Cleanup(func() { db.Exec("DROP USER IF EXISTS " + acct) })
	for _, q := range append([]string{"DROP USER IF EXISTS " + acct, "CREATE USER " + acct + " IDENTIFIED BY '" + pw + "'"}, grants...) {
		if _, err := db.Exec(strings.ReplaceAll(q, "{user}", acct)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	passFile = filepath.Join(t.TempDir(), name+".pass")
	if err := os.WriteFile(passFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name, passFile
}

// config check --connect with a wrong Swift key and a backup account that
// lacks EVENT: one line each, naming the key's line and the GRANT to run;
// exit 1. With the key and the grant fixed: exit 0.
func TestConfigCheckConnect(t *testing.T) {
	sw := newSwiftIT(t)
	db, _, name := itSource(t, "cc", "CREATE TABLE {db}.t (id INT PRIMARY KEY)")
	user, pass := itAccount(t, db, "ops_it_cc", "GRANT SELECT, SHOW VIEW, TRIGGER ON `"+name+"`.* TO {user}",
		"GRANT SELECT ON mysql.proc TO {user}")
	badKey := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(badKey, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := `storage:
  targets:
    offsite: {type: swift, auth_url: %s, user: "%s", key_file: %s, container: %s}
backup:
  jobs:
    - name: app
      target: offsite
      mysql: {host: 127.0.0.1, port: 3306, user: %s, password_file: %s}
      databases: [%s]
      restore_mysql: {host: 127.0.0.1, port: 3306, user: root}
`
	cfg := writeConfig(t, fmt.Sprintf(body, sw.auth, sw.user, badKey, sw.container, user, pass, name))
	code, out, stderr := runOps(t, "--config", cfg, "config", "check", "--connect")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	wantGrant := fmt.Sprintf(":8: backup.jobs[0].mysql: backup needs GRANT EVENT ON `%s`.* TO '%s'@'127.0.0.1'", name, user)
	if code != 1 || len(lines) != 2 || !strings.HasSuffix(lines[0], wantGrant) ||
		!strings.Contains(lines[1], ":3: storage.targets.offsite: swift: authentication failed for user "+sw.user) ||
		strings.Contains(stderr, "wrong") {
		t.Fatalf("code %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	t.Logf("config check --connect:\n%s", stderr)

	if _, err := db.Exec("GRANT EVENT ON `" + name + "`.* TO '" + user + "'@'127.0.0.1'"); err != nil {
		t.Fatal(err)
	}
	cfg = writeConfig(t, fmt.Sprintf(body, sw.auth, sw.user, sw.keyFile, sw.container, user, pass, name))
	code, out, stderr = runOps(t, "--config", cfg, "config", "check", "--connect")
	if code != 0 || !strings.Contains(out, "ok: job app: mysql "+user+"@127.0.0.1, backups use a lock-free snapshot") ||
		!strings.Contains(out, "does not exist yet") {
		t.Fatalf("fixed: code %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if sw.exists(t, sw.container) {
		t.Errorf("config check --connect created container %s", sw.container)
	}
}
