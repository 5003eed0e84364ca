package dump

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/internal/testenv"
)

// throwawayMariaDB starts a private mariadbd (Unix socket only, root with
// an empty password) in a temporary directory; it is killed at the end of
// the test (continued first, should it be stopped).
func throwawayMariaDB(t *testing.T) (sock string, proc *os.Process) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test starts its own mariadbd and must run as root (like scripts/services.sh)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	sock = filepath.Join(dir, "mysqld.sock")
	out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-log-file-size=16M").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	cmd := exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--user=root", "--datadir="+data,
		"--socket="+sock, "--skip-networking", "--log-error="+filepath.Join(dir, "err.log"),
		"--pid-file="+filepath.Join(dir, "mysqld.pid"), "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		db, err := conn.Connect(ctx, conn.Config{Socket: sock, User: "root", Timeout: time.Second}, nil)
		cancel()
		if err == nil {
			db.Close()
			return sock, cmd.Process
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "err.log"))
			t.Fatalf("mariadbd did not come up: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopAfterWriter passes writes through and SIGSTOPs the server once more
// than n bytes went by.
type stopAfterWriter struct {
	n, seen int
	proc    *os.Process
	once    sync.Once
	at      time.Time
}

func (w *stopAfterWriter) Write(p []byte) (int, error) {
	w.seen += len(p)
	if w.seen > w.n {
		w.once.Do(func() {
			w.proc.Signal(syscall.SIGSTOP)
			w.at = time.Now()
		})
	}
	return len(p), nil
}

// TestDumpSIGSTOPServer: a mariadbd stopped by SIGSTOP mid-dump makes the
// dump fail (not hang), and Connect to it fail, after about the timeout.
func TestDumpSIGSTOPServer(t *testing.T) {
	testenv.RequireIT(t)
	sock, proc := throwawayMariaDB(t)
	m := conn.Config{Socket: sock, User: "root", Timeout: 2 * time.Second, LockWaitTimeout: 10 * time.Second}
	db := mysqltest.OpenDB(t, m)
	s := mysqltest.NewSession(t, db)
	s.Exec("CREATE DATABASE d", "USE d", "CREATE TABLE t (id INT PRIMARY KEY, c CHAR(200))",
		"INSERT INTO t SELECT seq, REPEAT('y', 200) FROM seq_1_to_40000")
	db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := &stopAfterWriter{n: 1 << 20, proc: proc}
	start := time.Now()
	_, err := Dump(ctx, DumpOptions{MySQL: m, Databases: []string{"d"}, Threads: 2, ChunkRows: 2000, Compression: "none"}, w)
	end := time.Now()
	if w.at.IsZero() {
		t.Fatalf("the dump ended before the server was stopped: %v", err)
	}
	if err == nil {
		t.Fatal("Dump succeeded although the server was stopped")
	}
	if ctx.Err() != nil {
		t.Fatalf("Dump hung until the test's deadline: %v", err)
	}
	t.Logf("timeout 2s: dump failed %s after SIGSTOP (%s in all): %v", end.Sub(w.at).Round(time.Millisecond), end.Sub(start).Round(time.Millisecond), err)

	start = time.Now()
	cdb, err := conn.Connect(ctx, m, nil)
	if err == nil {
		cdb.Close()
		t.Fatal("connected to a stopped server")
	}
	if ctx.Err() != nil {
		t.Fatalf("Connect hung until the test's deadline: %v", err)
	}
	t.Logf("timeout 2s: Connect to the stopped server failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}
