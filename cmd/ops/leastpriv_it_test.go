package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

// The grants of README "Least privilege", each held by an account that
// has exactly them, on the MariaDB with binary logging (mariadb3): a
// backup in lock mode (RELOAD) and one lock-free (no RELOAD), binlog
// archiving from the backup's position, a restore under another name and
// verify --restore-test through restore_mysql, and config check --connect
// finding nothing missing. The backup account alone cannot run the restore
// test (the control that shows restore_mysql is needed).
func TestLeastPrivilegeGrants(t *testing.T) {
	testenv.RequireIT(t)
	root := itOpen(t, testenv.Getenv("OPS_IT_MYSQL3_DSN", "root:@tcp(127.0.0.1:3308)/"), "scripts/services.sh start mariadb3")
	host, port, _ := net.SplitHostPort(testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308"))
	db := fmt.Sprintf("ops_it_lp_%d", rand.Uint32())
	cp := db + "_copy"
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db); root.Exec("DROP DATABASE IF EXISTS " + cp) })
	for _, q := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20), KEY v (v)) ENGINE=InnoDB", // the key is added after the data (ALTER)
		"INSERT INTO " + db + ".t (v) VALUES ('a'), ('b'), ('c')",
		"CREATE VIEW " + db + ".v AS SELECT id FROM " + db + ".t",
		"CREATE PROCEDURE " + db + ".p() SELECT 1",
		"CREATE FUNCTION " + db + ".f() RETURNS INT DETERMINISTIC RETURN 1",
		"CREATE EVENT " + db + ".e ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := root.Exec("USE " + db); err == nil { // a trigger must be created in its own database
		conn, _ := root.Conn(t.Context())
		defer conn.Close()
		for _, q := range []string{"USE " + db, "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = UPPER(NEW.v)"} {
			if _, err := conn.ExecContext(t.Context(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	on := "`" + db + "`.*"
	backupGrants := []string{"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON " + on + " TO {user}", "GRANT SELECT ON mysql.proc TO {user}"}
	lockUser, lockPass := itAccount(t, root, "ops_lp_lock", append(backupGrants,
		"GRANT RELOAD, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO {user}")...)
	freeUser, freePass := itAccount(t, root, "ops_lp_free", backupGrants...)
	restoreOn := func(pattern string) string {
		return "GRANT CREATE, DROP, INSERT, ALTER, CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, EVENT ON " + pattern + " TO {user}"
	}
	// Restores go to the server without binary logging (mariadb, 3306): on
	// one with binary logging, MariaDB also wants SUPER to create stored
	// functions, unless log_bin_trust_function_creators=1 (README).
	root1 := itOpen(t, "root@unix("+testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock")+")/", "scripts/services.sh start mariadb")
	t.Cleanup(func() { root1.Exec("DROP DATABASE IF EXISTS " + db); root1.Exec("DROP DATABASE IF EXISTS " + cp) })
	rhost, rport, _ := net.SplitHostPort(testenv.Getenv("OPS_IT_MYSQL_ADDR", "127.0.0.1:3306"))
	rsUser, rsPass := itAccount(t, root1, "ops_lp_restore", restoreOn("`"+db+"`.*"), restoreOn("`"+cp+"`.*"),
		restoreOn("`ops\\_verify\\_%`.*"), "GRANT SELECT ON `ops\\_verify\\_%`.* TO {user}", "GRANT SET USER ON *.* TO {user}",
		// the lock job archives its binary log: restore --until replays row changes with BINLOG statements
		"GRANT SELECT, UPDATE, DELETE, INDEX ON `"+db+"`.* TO {user}", "GRANT BINLOG REPLAY ON *.* TO {user}")

	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %[1]s}
backup:
  jobs:
    - name: lock
      mysql: {host: %[2]s, port: %[3]s, user: %[4]s, password_file: %[5]s}
      databases: [%[6]s]
      binlog: {enabled: true}
      restore_mysql: {host: %[11]s, port: %[12]s, user: %[7]s, password_file: %[8]s}
    - name: free
      mysql: {host: %[2]s, port: %[3]s, user: %[9]s, password_file: %[10]s}
      databases: [%[6]s]
      threads: 2
`, filepath.Join(dir, "b"), host, port, lockUser, lockPass, db, rsUser, rsPass, freeUser, freePass, rhost, rport))

	// Only the free job's restores lack grants: it has no restore_mysql, so
	// they would run as its backup account.
	code, out, stderr := runOps(t, "--config", cfg, "config", "check", "--connect")
	if code != 1 || !strings.Contains(out, "ok: job lock: mysql "+lockUser+"@127.0.0.1, backups use a lock (FLUSH TABLES WITH READ LOCK)") ||
		!strings.Contains(out, "ok: job free: mysql "+freeUser+"@127.0.0.1, backups use a lock-free snapshot") ||
		!strings.Contains(out, "ok: job lock: restore_mysql "+rsUser+"@127.0.0.1") ||
		strings.Count(stderr, "backup.jobs[1].mysql: ") != 3 || strings.Count(stderr, noRestoreAccountHint) != 3 ||
		strings.Count(stderr, "\n") != 3 {
		t.Fatalf("config check --connect: %d\n%s\n%s", code, out, stderr)
	}
	t.Logf("config check --connect (exit 1, the free job's restore grants):\n%s\n%s", out, stderr)
	for job, mode := range map[string]string{"lock": `"consistency":"ftwrl"`, "free": `"consistency":"`} {
		code, out, stderr = runOps(t, "--config", cfg, "--log-format", "json", "backup", "run", "--job", job)
		if code != 0 || !strings.Contains(stderr, mode) || strings.Contains(stderr, `"level":"ERROR"`) {
			t.Fatalf("backup run --job %s: %d\n%s\n%s", job, code, out, stderr)
		}
		t.Logf("backup run --job %s (exit 0): %s", job, out)
		if job == "free" && strings.Contains(stderr, `"consistency":"ftwrl"`) {
			t.Errorf("the account without RELOAD took the global lock:\n%s", stderr)
		}
	}
	// Binlog archiving with the lock job's account, from its backup's position.
	if _, err := root.Exec("INSERT INTO " + db + ".t (v) VALUES ('d'), ('e')"); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runOps(t, "--config", cfg, "backup", "binlog", "--job", "lock", "--once")
	if code != 0 || strings.HasPrefix(out, "lock binlog: 0 chunks") {
		t.Fatalf("binlog --once: %d\n%s\n%s", code, out, stderr)
	}
	t.Logf("backup binlog --job lock --once (exit 0): %s", out)
	code, out, _ = runOps(t, "--config", cfg, "backup", "list", "--binlog", "--job", "lock", "--output", "json")
	var bl struct{ Chunks []json.RawMessage }
	if code != 0 || json.Unmarshal([]byte(out), &bl) != nil || len(bl.Chunks) == 0 {
		t.Fatalf("list --binlog: %d %s", code, out)
	}
	// Restore under another name and the restore test, as restore_mysql.
	code, out, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "lock", "--database", db+"="+cp)
	if code != 0 {
		t.Fatalf("restore: %d\n%s\n%s", code, out, stderr)
	}
	var n int
	if err := root1.QueryRow("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", cp).Scan(&n); err != nil || n != 2 {
		t.Errorf("restored routines: %d %v", n, err)
	}
	t.Logf("restore --database %s=%s as %s (exit 0): %s", db, cp, rsUser, out)
	code, out, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "lock", "--restore-test")
	if code != 0 || !strings.Contains(out, "OK       "+db+".t rows 3 restored 3") {
		t.Fatalf("verify --restore-test: %d\n%s\n%s", code, out, stderr)
	}
	t.Logf("verify --restore-test as %s (exit 0):\n%s", rsUser, out)
	// Control: the backup account alone cannot run the restore test.
	code, _, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "free", "--restore-test")
	if code != 3 || !strings.Contains(stderr, "denied") {
		t.Fatalf("restore test as the backup account: %d\n%s", code, stderr)
	}
	t.Logf("restore test as the backup account (expected to fail): %s", stderr)
}
