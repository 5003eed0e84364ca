package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
	"github.com/opsteam/ops/internal/testenv/faults"
)

// The fault × operation table of docs/faults.md, MySQL rows: toxiproxy
// between ops and the source (3306) or the restore target (3307).

func faultLocal(t *testing.T) string {
	return "      type: local\n      path: " + filepath.Join(t.TempDir(), "b") + "\n"
}

// faultMySQL is a proxy in front of the source server (TCP).
func faultMySQL(t *testing.T, env, def string) (*faults.Proxy, string) {
	t.Helper()
	p := faults.New(t, testenv.Getenv(env, def))
	return p, "{host: 127.0.0.1, port: " + p.Port() + ", user: root, timeout: 3s}"
}

// The dump's connections are reset once 2 MiB of rows came: exit 3 naming
// the table, nothing listed; the next run (no fault) succeeds.
func TestFaultDumpResetIT(t *testing.T) {
	_, _, name := faultSource(t, "dump", faultRows)
	p, mysql := faultMySQL(t, "OPS_IT_MYSQL_ADDR", "127.0.0.1:3306")
	cfg := faultConfig(t, faultLocal(t), mysql, "{}", name, "")
	var restore func()
	fired := p.After(faults.Down, 2<<20, func() { restore = p.Cut() })
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	if !fired() {
		t.Fatal("the cut never came")
	}
	restore()
	if code != 3 || !strings.Contains(stderr, name+"`.`t`") && !strings.Contains(stderr, name+".t") {
		t.Fatalf("backup run, connection reset mid-table: exit %d (want 3 naming %s.t)\n%s\n%s", code, name, out, stderr)
	}
	t.Logf("the error: %s", strings.TrimSpace(stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:]))
	if l := faultList(t, cfg); len(l) != 0 {
		t.Fatalf("listed after a failed dump: %+v", l)
	}
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("the next run: exit %d\n%s\n%s", code, out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 1 || !l[0].Complete {
		t.Fatalf("listed after the next run: %+v", l)
	}
}

// The dump's link becomes a black hole (the timeout toxic, never closed)
// mid-table: the driver's read timeout (mysql.timeout: 3s) ends the run,
// exit 3 naming the table, nothing listed.
func TestFaultDumpBlackholeIT(t *testing.T) {
	_, _, name := faultSource(t, "dumphole", faultRows)
	p, mysql := faultMySQL(t, "OPS_IT_MYSQL_ADDR", "127.0.0.1:3306")
	cfg := faultConfig(t, faultLocal(t), mysql, "{}", name, "")
	fired := p.After(faults.Down, 2<<20, func() { p.Timeout(faults.Down, 0) })
	start := time.Now()
	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	t.Logf("failed after %s", time.Since(start).Round(time.Millisecond))
	if !fired() {
		t.Fatal("the black hole never came")
	}
	if code != 3 || !strings.Contains(stderr, name+"`.`t`") && !strings.Contains(stderr, name+".t") {
		t.Fatalf("backup run into a black hole: exit %d (want 3 naming %s.t)\n%s\n%s", code, name, out, stderr)
	}
	if l := faultList(t, cfg); len(l) != 0 {
		t.Fatalf("listed after a failed dump: %+v", l)
	}
}

// The restore's connections to the target are reset (for 0.5 s) once 2 MiB
// of rows went: exit 3 naming the statement and its table, the database it
// created dropped (on a fresh connection: the pooled ones are broken);
// with --keep-partial it stays.
func TestFaultRestoreResetIT(t *testing.T) {
	_, sock, name := faultSource(t, "restore", faultRows)
	db2, _, _ := faultRestoreServer(t)
	p, mysql2 := faultMySQL(t, "OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	dst := name + "_restored"
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + dst) })
	cfg := faultConfig(t, faultLocal(t), faultJobYAML(sock), mysql2, name, "")
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	exists := func() bool {
		var n int
		if err := db2.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", dst).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, keep := range []bool{false, true} {
		args := []string{"--config", cfg, "backup", "restore", "--job", "app", "--database", name + "=" + dst}
		if keep {
			args = append(args, "--keep-partial")
		}
		var done <-chan struct{}
		fired := p.After(faults.Up, 2<<20, func() { done = p.Outage(500 * time.Millisecond) })
		code, out, stderr := runOps(t, args...)
		if !fired() {
			t.Fatal("the reset never came")
		}
		<-done
		// the error names the statement, its database in the stream and its table
		if code != 3 || !strings.Contains(stderr, "(database `"+name+"`): invalid connection; statement: INSERT INTO `t`") {
			t.Fatalf("restore (keep-partial %v), connection reset: exit %d (want 3 naming the table)\n%s\n%s", keep, code, out, stderr)
		}
		if exists() != keep {
			t.Fatalf("restore (keep-partial %v) failed: database %s exists: %v", keep, dst, !keep)
		}
	}
}

// A slow link to both servers (5 ms ± 2 ms latency each way, 4 MB/s):
// the backup and the restore complete; identical table.
func TestFaultMySQLSlowLinkIT(t *testing.T) {
	db, _, name := faultSource(t, "mysqlslow", 1000)
	db2, _, _ := faultRestoreServer(t)
	p1, mysql := faultMySQL(t, "OPS_IT_MYSQL_ADDR", "127.0.0.1:3306")
	p2, mysql2 := faultMySQL(t, "OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	dst := name + "_restored"
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + dst) })
	for _, p := range []*faults.Proxy{p1, p2} {
		p.Latency(faults.Up, 5, 2)
		p.Latency(faults.Down, 5, 2)
		p.Bandwidth(faults.Up, 4096)
		p.Bandwidth(faults.Down, 4096)
	}
	cfg := faultConfig(t, faultLocal(t), mysql, mysql2, name, "")
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run over a slow link: %d\n%s\n%s", code, out, stderr)
	}
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "app", "--database", name+"="+dst); code != 0 {
		t.Fatalf("restore over a slow link: %d\n%s\n%s", code, out, stderr)
	}
	sameTable(t, db, name, db2, dst)
}
