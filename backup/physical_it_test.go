package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
)

// physicalITDB is the database the physical integration tests own on the
// source server (mariadb3: the binary log is on, so the manifest records a
// position).
const physicalITDB = "physical_it"

func physicalITSource(t *testing.T) (*sql.DB, string) {
	t.Helper()
	testenv.RequireIT(t)
	sock := testenv.Getenv("OPS_IT_MYSQL3_SOCKET", "/var/lib/ops-test/mariadb3/mysqld.sock")
	db, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("MariaDB at %s is not reachable (run scripts/services.sh start mariadb3): %v", sock, err)
	}
	if _, err := exec.LookPath("mariadb-backup"); err != nil {
		t.Fatalf("mariadb-backup is not installed (run scripts/services.sh install mariadb): %v", err)
	}
	execAll(t, db,
		"DROP DATABASE IF EXISTS "+physicalITDB,
		"CREATE DATABASE "+physicalITDB,
		"CREATE TABLE "+physicalITDB+".t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64), n INT, KEY (v), KEY (n)) ENGINE=InnoDB",
		"INSERT INTO "+physicalITDB+".t (v, n) SELECT CONCAT('row', seq), seq % 97 FROM "+physicalITDB+".seq_1_to_20000",
		"CREATE TABLE "+physicalITDB+".a (id INT PRIMARY KEY, v TEXT) ENGINE=Aria",
		"INSERT INTO "+physicalITDB+".a SELECT seq, REPEAT('x', seq % 50) FROM "+physicalITDB+".seq_1_to_500",
	)
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS " + physicalITDB)
		db.Close()
	})
	waitNextSecond()
	return db, sock
}

// waitNextSecond lets the clock pass into the next second: a backup
// records no table whose definition (CREATE_TIME, 1 s resolution) was
// written in the second of its point or later, so tables created just
// before a test's backup must be a second older.
func waitNextSecond() { time.Sleep(time.Second + 50*time.Millisecond) }

func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// checksums is CHECKSUM TABLE and COUNT(*) of the test database's tables.
func checksums(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tbl := range []string{"t", "a"} {
		q := physicalITDB + "." + tbl
		var name string
		var sum sql.NullString
		if err := db.QueryRow("CHECKSUM TABLE "+q).Scan(&name, &sum); err != nil {
			t.Fatalf("CHECKSUM TABLE %s: %v", q, err)
		}
		var n int64
		if err := db.QueryRow("SELECT COUNT(*) FROM " + q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if !sum.Valid {
			t.Fatalf("CHECKSUM TABLE %s gave NULL", q)
		}
		out[tbl] = fmt.Sprintf("checksum %s, %d rows", sum.String, n)
	}
	return out
}

// physicalITDir is a directory a mariadbd run as mysql can reach.
func physicalITDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ops-physical-it-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startMariadbd starts a throw-away stock mariadbd on datadir (loopback,
// port 3399, its own socket) as the mysql user and returns a connection;
// stop shuts it down cleanly.
func startMariadbd(t *testing.T, datadir string) (db *sql.DB, stop func()) {
	t.Helper()
	run := filepath.Join(physicalITDir(t), "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup("mysql")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(run, uid, gid); err != nil {
		t.Fatal(err)
	}
	sock, logFile := filepath.Join(run, "s.sock"), filepath.Join(run, "err.log")
	cmd := exec.Command("mariadbd", "--no-defaults", "--user=mysql", "--datadir="+datadir, "--socket="+sock,
		"--port=3399", "--bind-address=127.0.0.1", "--pid-file="+filepath.Join(run, "pid"), "--log-error="+logFile,
		"--innodb-buffer-pool-size=32M")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	db, err = sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("mariadbd --datadir=%s exited (%v):\n%s", datadir, err, log)
		default:
		}
		if db.Ping() == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop = func() {
		if _, err := db.Exec("SHUTDOWN"); err != nil {
			t.Errorf("SHUTDOWN: %v", err)
		}
		db.Close()
		if err := <-exited; err != nil {
			t.Errorf("mariadbd after SHUTDOWN: %v", err)
		}
	}
	return db, stop
}

// restoreAndCompare restores the chain ending at id into a fresh data
// directory, starts a stock mariadbd on it and compares the test
// database's CHECKSUM TABLE with want.
func restoreAndCompare(t *testing.T, s *local.Store, job Job, id string, want map[string]string, chainLen int) {
	t.Helper()
	ctx := context.Background()
	list, err := ListBackups(ctx, s, job, false)
	if err != nil {
		t.Fatal(err)
	}
	dd := filepath.Join(physicalITDir(t), "data")
	chain, err := RestorePhysical(ctx, PhysicalRestoreOptions{Store: s, List: list, ID: id, Datadir: dd, Binary: job.Physical.Binary, Logger: mysqltest.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != chainLen {
		t.Fatalf("restored a chain of %d backups, want %d", len(chain), chainLen)
	}
	st, err := os.Stat(filepath.Join(dd, "ibdata1"))
	if err != nil {
		t.Fatal(err)
	}
	if u, err := user.Lookup("mysql"); os.Geteuid() == 0 && (err != nil || strconv.Itoa(int(st.Sys().(*syscall.Stat_t).Uid)) != u.Uid) {
		t.Fatalf("restored as root, ibdata1 is owned by uid %d, not mysql (%v)", st.Sys().(*syscall.Stat_t).Uid, err)
	}
	db, stop := startMariadbd(t, dd)
	got := checksums(t, db)
	stop()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("restored %s.%s: %s, the source had %s", physicalITDB, k, got[k], v)
		}
	}
}

// A full backup and two incrementals of a live server, each restored into
// a data directory a stock mariadbd starts on, with CHECKSUM TABLE equal to
// the source at the backup.
func TestPhysicalITFullAndIncrementals(t *testing.T) {
	src, sock := physicalITSource(t)
	ctx := context.Background()
	job := DefaultJob()
	job.Name, job.Method = "physical-it", MethodPhysical
	job.MySQL.Socket, job.MySQL.User = sock, "root"
	job.Physical.Incremental = true
	job.ManifestKeyFile = backuptest.WriteKey(t, "physical-it-key-0123456789")
	s := local.New(t.TempDir())
	full, err := RunBackup(ctx, RunOptions{Job: job, Store: s, Logger: mysqltest.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	wantFull := checksums(t, src)
	if full.Kind != catalog.KindFull || full.Physical.ToLSN == 0 || full.Consistency.BinlogFile == "" || full.Consistency.GTID == "" || full.Server.Version == "" ||
		full.Consistency.SnapshotAt.Before(full.StartedAt.Add(-time.Minute)) || !slices.Contains(full.Databases, physicalITDB) {
		t.Fatalf("full: %+v %+v", full, full.Physical)
	}
	restoreAndCompare(t, s, job, full.ID, wantFull, 1)

	execAll(t, src, "UPDATE "+physicalITDB+".t SET v = CONCAT(v, '-1') WHERE id % 100 = 0",
		"INSERT INTO "+physicalITDB+".a VALUES (1001, 'one')")
	inc1, err := RunBackup(ctx, RunOptions{Job: job, Store: s, Now: func() time.Time { return time.Now().Add(time.Second) }, Logger: mysqltest.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	execAll(t, src, "DELETE FROM "+physicalITDB+".t WHERE id % 100 = 1",
		"INSERT INTO "+physicalITDB+".t (v, n) SELECT CONCAT('new', seq), seq FROM "+physicalITDB+".seq_1_to_300",
		"UPDATE "+physicalITDB+".a SET v = 'changed' WHERE id < 10")
	inc2, err := RunBackup(ctx, RunOptions{Job: job, Store: s, Now: func() time.Time { return time.Now().Add(2 * time.Second) }, Logger: mysqltest.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := checksums(t, src)
	if inc1.Kind != catalog.KindIncremental || inc1.Base != full.ID || inc2.Kind != catalog.KindIncremental || inc2.Base != inc1.ID ||
		inc1.Physical.FromLSN != full.Physical.ToLSN || inc2.Physical.FromLSN != inc1.Physical.ToLSN {
		t.Fatalf("chain: inc1 %s on %s from %d, inc2 %s on %s from %d (full to %d)", inc1.Kind, inc1.Base, inc1.Physical.FromLSN,
			inc2.Kind, inc2.Base, inc2.Physical.FromLSN, full.Physical.ToLSN)
	}
	if inc2.Object.Size >= full.Object.Size {
		t.Errorf("the incremental stored %d bytes, the full %d", inc2.Object.Size, full.Object.Size)
	}
	if want["t"] == wantFull["t"] {
		t.Fatal("the changes did not change the checksum: the test could not tell the incrementals apart")
	}
	// Each backup records its tables as they were at its point (read in
	// the snapshots opened while mariadb-backup held commits).
	var rows int64
	if err := src.QueryRow("SELECT COUNT(*) FROM " + physicalITDB + ".t").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(inc2.Tables, func(x catalog.TableInfo) bool { return x.Database == physicalITDB && x.Name == "t" })
	if i < 0 || inc2.Tables[i].Rows != rows || inc2.Tables[i].Digest == "" || len(full.Tables) != len(inc2.Tables) {
		t.Fatalf("the last incremental records %+v (want %s.t with %d rows and a digest)", inc2.Tables, physicalITDB, rows)
	}
	restoreAndCompare(t, s, job, inc2.ID, want, 3)
}

// physical.slave_info on a real replica: a throw-away mariadbd replicating
// from mariadb3 is backed up with --slave-info, and the restored data
// directory holds the primary's position the replica had executed, which
// restore prints (ReplicaInfo).
func TestPhysicalITSlaveInfo(t *testing.T) {
	src, _ := physicalITSource(t)
	ctx := context.Background()
	port := testenv.Getenv("OPS_IT_MYSQL3_PORT", "3308")
	dir := physicalITDir(t)
	datadir := filepath.Join(dir, "data")
	install := []string{"--no-defaults", "--datadir=" + datadir, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		install = append(install, "--user=mysql")
	}
	if out, err := exec.Command("mariadb-install-db", install...).CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	replica, stop := startMariadbd(t, datadir)
	defer stop()
	var replicaSocket string
	if err := replica.QueryRow("SELECT @@socket").Scan(&replicaSocket); err != nil {
		t.Fatal(err)
	}
	execAll(t, src, "DROP USER IF EXISTS 'ops_repl'@'127.0.0.1'",
		"CREATE USER 'ops_repl'@'127.0.0.1' IDENTIFIED BY 'repl-pw-1'",
		"GRANT REPLICATION SLAVE ON *.* TO 'ops_repl'@'127.0.0.1'")
	t.Cleanup(func() { src.Exec("DROP USER IF EXISTS 'ops_repl'@'127.0.0.1'") })
	var file string
	var pos uint64
	var ignore sql.NullString
	if err := src.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &ignore, &ignore); err != nil {
		t.Fatal(err)
	}
	execAll(t, replica, "SET GLOBAL server_id = 3399", "CREATE DATABASE "+physicalITDB,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='ops_repl', MASTER_PASSWORD='repl-pw-1', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d, MASTER_USE_GTID=no", port, file, pos),
		"START SLAVE")
	defer replica.Exec("STOP SLAVE")
	execAll(t, src, "CREATE TABLE "+physicalITDB+".replicated (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
		"INSERT INTO "+physicalITDB+".replicated SELECT seq, seq FROM "+physicalITDB+".seq_1_to_1000")
	if err := src.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &ignore, &ignore); err != nil {
		t.Fatal(err)
	}
	var n int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if replica.QueryRow("SELECT COUNT(*) FROM " + physicalITDB + ".replicated").Scan(&n); n == 1000 {
			break
		}
		if time.Now().After(deadline) {
			status := mysqltest.NewSession(t, replica).Rows("SHOW SLAVE STATUS")
			t.Fatalf("the replica did not catch up in 30 s (%d rows): %v", n, status)
		}
	}
	job := DefaultJob()
	job.Name, job.Method = "physical-replica", MethodPhysical
	job.MySQL.Socket, job.MySQL.User = replicaSocket, "root"
	job.Physical.SlaveInfo = true
	job.ManifestKeyFile = backuptest.WriteKey(t, "physical-replica-key-0123456789")
	s := local.New(t.TempDir())
	m, err := RunBackup(ctx, RunOptions{Job: job, Store: s, Logger: mysqltest.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	list, err := ListBackups(ctx, s, job, false)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(dir, "restored")
	if _, err := RestorePhysical(ctx, PhysicalRestoreOptions{Store: s, List: list, ID: m.ID, Datadir: restored, Logger: mysqltest.TestLogger(t)}); err != nil {
		t.Fatal(err)
	}
	got, err := physical.ReplicaInfo(restored)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the restored directory says: %s", got)
	want := fmt.Sprintf("MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d", file, pos)
	if !strings.Contains(got, want) {
		t.Fatalf("the restored replica position: %q, want it to contain %q (the primary's position after the last replicated write)", got, want)
	}
}

// config check --connect for a physical job: the real mariadb-backup
// matches the server; one of another release is refused.
func TestPhysicalITToolCheck(t *testing.T) {
	_, sock := physicalITSource(t)
	job := DefaultJob()
	job.Method, job.MySQL.Socket, job.MySQL.User = MethodPhysical, sock, "root"
	if ok, problems := PhysicalToolProblems(context.Background(), &job); len(problems) != 0 || !strings.Contains(ok, "matches") {
		t.Fatalf("the installed mariadb-backup: %q %q", ok, problems)
	}
	fake := filepath.Join(t.TempDir(), "mariadb-backup")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'mariadb-backup based on MariaDB server 10.6.1-MariaDB Linux (x86_64)'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	job.Physical.Binary = fake
	if _, problems := PhysicalToolProblems(context.Background(), &job); len(problems) != 1 || !strings.Contains(problems[0], "10.6.1") {
		t.Fatalf("a mismatched mariadb-backup: %q", problems)
	}
	if _, err := RunBackup(context.Background(), RunOptions{Job: job, Store: local.New(t.TempDir())}); !errors.Is(err, physical.ErrVersionMismatch) {
		t.Fatalf("a backup with a mismatched mariadb-backup = %v", err)
	}
}

// An account holding exactly the documented grants (RELOAD, PROCESS, LOCK
// TABLES, BINLOG MONITOR, SELECT) takes a physical backup that records its
// tables, and config check's grant check finds nothing missing; without
// BINLOG MONITOR it names the GRANT, and with physical.slave_info SLAVE
// MONITOR.
func TestPhysicalITLeastPrivilege(t *testing.T) {
	src, sock := physicalITSource(t)
	execAll(t, src, "DROP USER IF EXISTS 'ops_physical'@'localhost'",
		"CREATE USER 'ops_physical'@'localhost' IDENTIFIED BY 'phys-pw-1'",
		"GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SELECT ON *.* TO 'ops_physical'@'localhost'")
	t.Cleanup(func() { src.Exec("DROP USER IF EXISTS 'ops_physical'@'localhost'") })
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("phys-pw-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	job := DefaultJob()
	job.Name, job.Method = "physical-lp", MethodPhysical
	job.MySQL.Socket, job.MySQL.User, job.MySQL.PasswordFile = sock, "ops_physical", pw
	ctx := context.Background()
	g, err := CheckAccount(ctx, job.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	if problems, _ := BackupGrantProblems(&job, g); len(problems) != 0 {
		t.Fatalf("the documented grants: %q", problems)
	}
	m, err := RunBackup(ctx, RunOptions{Job: job, Store: local.New(t.TempDir()), Logger: mysqltest.TestLogger(t)})
	if err != nil {
		t.Fatalf("a physical backup with exactly the documented grants: %v", err)
	}
	if m.Consistency.BinlogFile == "" {
		t.Fatalf("no binlog position with BINLOG MONITOR: %+v", m.Consistency)
	}
	if !slices.ContainsFunc(m.Tables, func(x catalog.TableInfo) bool { return x.Database == physicalITDB && x.Name == "t" && x.Rows == 20000 }) {
		t.Fatalf("the tables recorded with SELECT: %+v", m.Tables)
	}
	slaveInfo := job
	slaveInfo.Physical.SlaveInfo = true
	if problems, _ := BackupGrantProblems(&slaveInfo, g); len(problems) != 1 || !strings.Contains(problems[0], "GRANT SLAVE MONITOR ON *.* TO 'ops_physical'@'localhost'") {
		t.Fatalf("physical.slave_info without SLAVE MONITOR: %q", problems)
	}
	execAll(t, src, "REVOKE BINLOG MONITOR ON *.* FROM 'ops_physical'@'localhost'")
	g, err = CheckAccount(ctx, job.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	if problems, _ := BackupGrantProblems(&job, g); len(problems) != 1 || !strings.Contains(problems[0], "BINLOG MONITOR") {
		t.Fatalf("without BINLOG MONITOR: %q", problems)
	}
}

// What the snapshots at the backup's point cannot hold is left out of the
// record, never recorded wrong: changes made after the point (run here
// between mariadb-backup's end and the reading: rows inserted, a table
// created, one given a column, one renamed, one losing a column) and
// tables of engines without snapshots (Aria). Rows inserted after the
// point are not counted.
func TestPhysicalITTablesAfterThePoint(t *testing.T) {
	src, sock := physicalITSource(t)
	ctx := context.Background()
	for _, name := range []string{"altered", "renamed", "dropped_col"} {
		execAll(t, src, "CREATE TABLE "+physicalITDB+"."+name+" (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
			"INSERT INTO "+physicalITDB+"."+name+" SELECT seq, seq FROM "+physicalITDB+".seq_1_to_50")
	}
	waitNextSecond()
	job := DefaultJob()
	job.Name, job.Method = "physical-after", MethodPhysical
	job.MySQL.Socket, job.MySQL.User = sock, "root"
	job.ManifestKeyFile = backuptest.WriteKey(t, "physical-after-key-0123456789")
	after := func(ctx context.Context, o physical.Options, w io.Writer) (*physical.Result, error) {
		res, err := physical.Backup(ctx, o, w)
		if err == nil {
			execAll(t, src, "INSERT INTO "+physicalITDB+".t (v, n) SELECT CONCAT('late', seq), seq FROM "+physicalITDB+".seq_1_to_123",
				"CREATE TABLE "+physicalITDB+".late (id INT PRIMARY KEY) ENGINE=InnoDB", "INSERT INTO "+physicalITDB+".late VALUES (1)",
				"ALTER TABLE "+physicalITDB+".altered ADD COLUMN extra INT", "INSERT INTO "+physicalITDB+".a VALUES (9999, 'late')",
				"RENAME TABLE "+physicalITDB+".renamed TO "+physicalITDB+".renamed2", "ALTER TABLE "+physicalITDB+".dropped_col DROP COLUMN v")
		}
		return res, err
	}
	m, err := RunBackup(ctx, RunOptions{Job: job, Store: local.New(t.TempDir()), Physical: after, Logger: mysqltest.TestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]catalog.TableInfo{}
	for _, x := range m.Tables {
		if x.Database == physicalITDB {
			got[x.Name] = x
		}
	}
	if len(got) != 1 || got["t"].Rows != 20000 || got["t"].Digest == "" {
		t.Fatalf("recorded %+v: want only t, with its 20000 rows at the point (not the 123 inserted after)", got)
	}
}
