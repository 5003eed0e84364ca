package restore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/opsteam/ops/backup/mysql/conn"
)

// Every session of a restore sets lock_wait_timeout to the job's
// mysql.lock_wait_timeout (60 s by default, at least 1 s): the server's
// own default is a day, which a restore blocked by another session's FLUSH
// TABLES WITH READ LOCK would wait (TestRestoreLockWaitTimeout shows it on
// a server).
func TestRestoreSessionLockWait(t *testing.T) {
	for _, c := range []struct {
		set  time.Duration
		want string
	}{{0, "60"}, {time.Second, "1"}, {300 * time.Millisecond, "1"}, {90 * time.Second, "90"}, {time.Hour, "3600"}} {
		m := conn.Config{LockWaitTimeout: c.set}
		if got := restoreSessionVars(m.LockWaitSeconds())["lock_wait_timeout"]; got != c.want {
			t.Errorf("lock_wait_timeout %s: session lock_wait_timeout=%q, want %q", c.set, got, c.want)
		}
	}
}

// A statement that waited lock_wait_timeout (error 1205) fails the restore
// with ErrLockWaitTimeout and a message naming the wait and what to do;
// another error is left as it is.
func TestExplainLockWait(t *testing.T) {
	stmt := fmt.Errorf("restore: statement 3: %w", &gomysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"})
	err := explainLockWait(stmt, 60)
	if !errors.Is(err, conn.ErrLockWaitTimeout) || !errors.Is(err, stmt) {
		t.Errorf("not ErrLockWaitTimeout wrapping the statement's error: %v", err)
	}
	for _, s := range []string{"60s", "lock_wait_timeout", "FLUSH TABLES WITH READ LOCK", "once it is released", "statement 3"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the message lacks %q: %v", s, err)
		}
	}
	other := fmt.Errorf("x: %w", &gomysql.MySQLError{Number: 1064})
	if explainLockWait(other, 60) != other {
		t.Error("another error was changed")
	}
}
