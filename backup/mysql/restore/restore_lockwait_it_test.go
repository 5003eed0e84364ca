package restore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// ftwrlHold is a FLUSH TABLES WITH READ LOCK held on the target by a
// session of the test, as a backup running there holds it.
type ftwrlHold struct {
	release chan struct{} // closed by the test once the restore returned
	done    chan struct{} // closed once the lock is released
	// valve is set when the lock was released by the safety valve: the
	// restore was still waiting then (a failure: without the valve a
	// restore that ignores its bounds would block the shared server).
	valve atomic.Bool
}

// holdFTWRL takes the lock on its own connection of db and keeps it until
// h.release is closed, or (the safety valve) 2 minutes.
func holdFTWRL(t *testing.T, db *sql.DB) *ftwrlHold {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(context.Background(), "FLUSH TABLES WITH READ LOCK"); err != nil {
		c.Close()
		t.Fatal(err)
	}
	h := &ftwrlHold{release: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		select {
		case <-h.release:
		case <-time.After(2 * time.Minute):
			h.valve.Store(true)
		}
		c.ExecContext(context.Background(), "UNLOCK TABLES") //nolint:errcheck
		c.Close()
	}()
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		<-h.done
	})
	return h
}

// unlock releases the lock, and fails the test when the safety valve had
// released it first (the restore returned only once the lock was gone).
func (h *ftwrlHold) unlock(t *testing.T) {
	t.Helper()
	close(h.release)
	<-h.done
	if h.valve.Load() {
		t.Fatal("the restore returned only after the lock was released: it waited for the lock unbounded")
	}
}

// waiters lists the sessions of the server waiting for a lock in a
// statement that names db.
func waiters(t *testing.T, db *sql.DB, name string) []string {
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

func databaseExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// lockTestDump is a small ops dump of a database named like the test.
func lockTestDump(t *testing.T, src *sql.DB, name string) []byte {
	t.Helper()
	s := mysqltest.NewSession(t, src)
	q := sqltext.QuoteIdent(name)
	s.Exec("CREATE DATABASE "+q, "CREATE TABLE "+q+".t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO "+q+".t VALUES (1, 'a'), (2, 'b')")
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(context.Background(), dump.DumpOptions{MySQL: mysqltest.SrcMySQL(), Databases: []string{name}, Threads: 1}, &dumpOut); err != nil {
		t.Fatal(err)
	}
	return dumpOut.Bytes()
}

// A restore blocked by another session's FLUSH TABLES WITH READ LOCK on
// the target fails after mysql.lock_wait_timeout with ErrLockWaitTimeout
// and a message that says what to do, while the lock is still held, and
// leaves nothing behind. Without the session lock_wait_timeout it waits as
// long as the lock is held (the server's default bound is a day).
func TestRestoreLockWaitTimeout(t *testing.T) {
	testenv.RequireIT(t)
	name := mysqltest.UniqueName("bounds_lockwait_")
	src, tgtM, tgt := mysqltest.Servers(t, name)
	dumpOut := lockTestDump(t, src, name)

	tgtM.LockWaitTimeout = time.Second
	h := holdFTWRL(t, tgt)
	_, err := Restore(context.Background(), RestoreOptions{Threads: 2, MySQL: tgtM, Logger: mysqltest.TestLogger(t)}, bytes.NewReader(dumpOut))
	h.unlock(t)
	if err == nil {
		t.Fatal("the restore succeeded under another session's FLUSH TABLES WITH READ LOCK")
	}
	if !errors.Is(err, conn.ErrLockWaitTimeout) || !strings.Contains(err.Error(), "lock_wait_timeout") || !strings.Contains(err.Error(), "FLUSH TABLES WITH READ LOCK") {
		t.Errorf("the error does not name the lock wait and what to do: %v", err)
	}
	t.Logf("error: %v", err)
	if databaseExists(t, tgt, name) {
		t.Errorf("the failed restore left database %s", name)
	}
}

// A restore blocked by another session's FLUSH TABLES WITH READ LOCK
// returns as soon as its context is cancelled (SIGTERM), while the lock is
// still held, and its statement no longer waits on the server: once the
// lock goes, nothing of it runs. Cancelling the context alone makes the
// driver close its socket, but the server's thread goes on waiting and
// then creates the database.
func TestRestoreCancelledWhileBlocked(t *testing.T) {
	testenv.RequireIT(t)
	name := mysqltest.UniqueName("bounds_cancel_")
	src, tgtM, tgt := mysqltest.Servers(t, name)
	dumpOut := lockTestDump(t, src, name)

	tgtM.LockWaitTimeout = time.Hour
	h := holdFTWRL(t, tgt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM, Logger: mysqltest.TestLogger(t)}, bytes.NewReader(dumpOut))
		errc <- err
	}()
	var err error
	blocked := false
wait:
	for {
		select {
		case err = <-errc:
			break wait
		case <-time.After(20 * time.Millisecond):
			if !blocked && len(waiters(t, tgt, name)) > 0 {
				blocked = true
				cancel()
			}
		}
	}
	left := waiters(t, tgt, name) // the lock is still held
	h.unlock(t)
	if !blocked {
		t.Fatalf("the restore never waited for the lock: %v", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled restore returned %v", err)
	}
	if len(left) > 0 {
		t.Errorf("the cancelled restore's statement still waits on the server: %q", left)
	}
	if databaseExists(t, tgt, name) {
		t.Errorf("database %s exists after the cancelled restore", name)
	}
}
