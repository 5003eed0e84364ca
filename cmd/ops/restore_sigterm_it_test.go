package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/testenv"
)

// lockWaiters lists the sessions waiting for a lock in a statement that
// names name.
func lockWaiters(t *testing.T, db *sql.DB, name string) []string {
	t.Helper()
	rows, err := db.Query("SELECT CONCAT(ID, ' ', STATE, ': ', LEFT(INFO, 200)) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for %lock%' AND INSTR(INFO, ?) > 0", name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// SIGTERM to `ops backup restore` while its CREATE DATABASE waits for
// another session's FLUSH TABLES WITH READ LOCK on the target: ops exits
// 130 (interrupted) while the lock is still held, its statement no longer
// waits on the server, and once the lock goes nothing of the restore runs.
// The lock is released only after ops exited (a safety valve releases it
// after 2 minutes, and then the test fails).
func TestRestoreSIGTERMWhileBlockedIT(t *testing.T) {
	testenv.RequireIT(t)
	addr2 := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	db2 := itOpen(t, "root@tcp("+addr2+")/", "scripts/services.sh start mariadb2")
	name := fmt.Sprintf("bounds_sigterm_%d", rand.Uint32())
	copyName := name + "_copy"
	t.Cleanup(func() {
		db2.Exec("DROP DATABASE IF EXISTS " + name)
		db2.Exec("DROP DATABASE IF EXISTS " + copyName)
	})
	for _, q := range []string{"CREATE DATABASE " + name, "CREATE TABLE " + name + ".t (id INT PRIMARY KEY)", "INSERT INTO " + name + ".t VALUES (1), (2)"} {
		if _, err := db2.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := strings.Cut(addr2, ":")
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: it
      mysql: {host: %s, port: %s, user: root, lock_wait_timeout: 1h}
      databases: [%s]
`, filepath.Join(t.TempDir(), "backups"), host, port, name))
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run", "--no-prune"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}

	lock, err := db2.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(context.Background(), "FLUSH TABLES WITH READ LOCK"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	valve := make(chan bool, 1)
	go func() {
		select {
		case <-released:
			valve <- false
		case <-time.After(2 * time.Minute):
			valve <- true
		}
		lock.ExecContext(context.Background(), "UNLOCK TABLES") //nolint:errcheck
	}()
	release := func() bool { close(released); return <-valve }
	defer func() {
		select {
		case <-released:
		default:
			release()
		}
	}()

	cmd := opsProcess("--config", cfg, "backup", "restore", "--job", "it", "--database", name+"="+copyName)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	signalled := false
wait:
	for {
		select {
		case waitErr = <-exited:
			break wait
		case <-time.After(20 * time.Millisecond):
			if !signalled && len(lockWaiters(t, db2, copyName)) > 0 {
				signalled = true
				cmd.Process.Signal(syscall.SIGTERM)
			}
		}
	}
	left := lockWaiters(t, db2, copyName) // the lock is still held
	if release() {
		t.Fatalf("ops exited only after the lock was released\n%s", stderr.String())
	}
	if !signalled {
		t.Fatalf("the restore never waited for the lock: %v\n%s", waitErr, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitcode.Interrupted {
		t.Errorf("exit %d after SIGTERM, want %d\n%s", code, exitcode.Interrupted, stderr.String())
	}
	if len(left) > 0 {
		t.Errorf("the interrupted restore's statement still waits on the server: %q", left)
	}
	var n int
	if err := db2.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", copyName).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s after the interrupted restore: %d (%v)", copyName, n, err)
	}
	t.Logf("stderr:\n%s", stderr.String())
}
