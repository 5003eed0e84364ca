package binlog

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/internal/testenv"
)

// startPrivateMariaDB starts a throw-away mariadbd with binary logging on
// (socket only, own datadir) for the binlog-dependent consistency modes,
// which the shared server (log_bin=OFF) cannot exercise.
func startPrivateMariaDB(t *testing.T) conn.Config {
	t.Helper()
	for _, b := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := exec.LookPath(b); err != nil {
			if _, err := os.Stat("/usr/sbin/" + b); err != nil {
				t.Fatalf("%s not found: install mariadb-server", b)
			}
		}
	}
	dir, err := os.MkdirTemp("", "ops-binlog-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	install := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "mysqld.sock")
	mariadbd := "mariadbd"
	if _, err := exec.LookPath(mariadbd); err != nil {
		mariadbd = "/usr/sbin/mariadbd"
	}
	cmd := exec.Command(mariadbd, "--no-defaults", "--user=root", "--datadir="+data, "--socket="+sock,
		"--skip-networking", "--log-bin=binlog", "--server-id=7", "--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=16M", "--log-error="+filepath.Join(dir, "err.log"), "--pid-file="+filepath.Join(dir, "pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	m := conn.Config{Socket: sock, User: "root", LockWaitTimeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		db, err := conn.Connect(ctx, m, nil)
		cancel()
		if err == nil {
			db.Close()
			return m
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "err.log"))
			t.Fatalf("private mariadbd did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBinlogConsistencyModes(t *testing.T) {
	testenv.RequireIT(t)
	m := startPrivateMariaDB(t)
	db := mysqltest.OpenDB(t, m)
	s := mysqltest.NewSession(t, db)
	const rows, initial = 5000, 100
	s.Exec("CREATE DATABASE bank", "USE bank",
		"CREATE TABLE a (id INT PRIMARY KEY, amt BIGINT NOT NULL)", "CREATE TABLE b (id INT PRIMARY KEY, amt BIGINT NOT NULL)",
		fmt.Sprintf("INSERT INTO a SELECT seq, %d FROM seq_1_to_%d", initial, rows),
		fmt.Sprintf("INSERT INTO b SELECT seq, %d FROM seq_1_to_%d", initial, rows))
	masterFile := s.Rows("SHOW MASTER STATUS")[0]

	// Quiet server: the lock-free mode proves identical snapshots.
	res, err := dump.Dump(context.Background(), dump.DumpOptions{MySQL: m, Databases: []string{"bank"}, Threads: 2, ChunkRows: 500, Consistency: dump.ConsistencyNoLock}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("nolock dump: %v", err)
	}
	if res.ConsistencyMode != dump.ModeSafeNoLock || res.BinlogFile != conn.Col(masterFile, "File") || strconv.FormatUint(res.BinlogPos, 10) != conn.Col(masterFile, "Position") || res.GTID == "" {
		t.Errorf("nolock on a quiet server: mode=%s file=%s pos=%d gtid=%q; want %s at %s:%s with a GTID",
			res.ConsistencyMode, res.BinlogFile, res.BinlogPos, res.GTID, dump.ModeSafeNoLock, conn.Col(masterFile, "File"), conn.Col(masterFile, "Position"))
	}

	// Busy server: every mode must restore to a consistent state, and the
	// recorded binlog position must be the one of the snapshot.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var commits atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for ctx.Err() == nil {
				amt := 1 + r.IntN(9)
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return
				}
				_, e1 := tx.ExecContext(ctx, fmt.Sprintf("UPDATE bank.a SET amt = amt - %d WHERE id = %d", amt, 1+r.IntN(rows)))
				_, e2 := tx.ExecContext(ctx, fmt.Sprintf("UPDATE bank.b SET amt = amt + %d WHERE id = %d", amt, 1+r.IntN(rows)))
				if e1 != nil || e2 != nil || tx.Commit() != nil {
					tx.Rollback()
					continue
				}
				commits.Add(1)
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	time.Sleep(100 * time.Millisecond)
	for _, mode := range []string{dump.ConsistencyLock, dump.ConsistencyNoLock} {
		before := commits.Load()
		var dumpOut bytes.Buffer
		res, err := dump.Dump(context.Background(), dump.DumpOptions{MySQL: m, Databases: []string{"bank"}, Threads: 2, ChunkRows: 300, Consistency: mode}, &dumpOut)
		if err != nil {
			t.Fatalf("%s dump: %v", mode, err)
		}
		t.Logf("%s: mode %s at %s:%d gtid %s, %d commits during the dump", mode, res.ConsistencyMode, res.BinlogFile, res.BinlogPos, res.GTID, commits.Load()-before)
		if res.BinlogFile == "" || res.BinlogPos == 0 {
			t.Errorf("%s: no binlog position recorded", mode)
		}
		if mode == dump.ConsistencyLock && res.ConsistencyMode != dump.ModeLock {
			t.Errorf("lock mode reported %s", res.ConsistencyMode)
		}
		dst := "bank_" + mode
		if _, err := restore.Restore(context.Background(), restore.RestoreOptions{Threads: 2, MySQL: m, Databases: map[string]string{"bank": dst}}, &dumpOut); err != nil {
			t.Fatalf("restore: %v", err)
		}
		sum := s.One(fmt.Sprintf("SELECT (SELECT SUM(amt) FROM %s.a) + (SELECT SUM(amt) FROM %s.b)", dst, dst))
		if sum != strconv.Itoa(2*rows*initial) {
			t.Errorf("%s (%s): restored total %s, want %d", mode, res.ConsistencyMode, sum, 2*rows*initial)
		}
	}
}
