package pitr

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/binlogtest"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
)

// The archiver against real servers: mariadb3 (services.sh, binary log
// on, 127.0.0.1:3308) and, for server restarts, a private mariadbd.

func itConfig(t *testing.T, addr, user string) conn.Config {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	port, _ := strconv.Atoi(p)
	return conn.Config{Host: h, Port: port, User: user, Timeout: 10 * time.Second, LockWaitTimeout: 30 * time.Second}
}

func mariadb3(t *testing.T) (root *sql.DB, m conn.Config, datadir string) {
	t.Helper()
	testenv.RequireIT(t)
	addr := testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308")
	return itOpen(t, itConfig(t, addr, "root"), "scripts/services.sh start mariadb3"),
		itConfig(t, addr, "ops_binlog"), testenv.Getenv("OPS_IT_MYSQL3_DATADIR", "/var/lib/ops-test/mariadb3/data")
}

func itOpen(t *testing.T, m conn.Config, hint string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	db, err := conn.Connect(ctx, m, nil)
	if err != nil {
		t.Fatalf("MariaDB %s%s is not reachable (%s): %v", m.Host, m.Socket, hint, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func itExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func itOne(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var v sql.NullString
	if err := db.QueryRow(q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

func itChecksum(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var name, sum sql.NullString
	if err := db.QueryRow("CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
		t.Fatalf("CHECKSUM TABLE %s: %v", table, err)
	}
	return sum.String
}

func itMasterStatus(t *testing.T, db *sql.DB) binlog.BinlogPos {
	t.Helper()
	var f string
	var p uint64
	var x, y sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&f, &p, &x, &y); err != nil {
		t.Fatal(err)
	}
	return binlog.BinlogPos{File: f, Pos: p}
}

// archivedEvents decodes every complete chunk (each written to a file and
// read by the stock mariadb-binlog too) and returns their events in chain
// order.
func archivedEvents(t *testing.T, s storage.Store, job backup.Job, ids []age.Identity) []binlogtest.Event {
	t.Helper()
	dir := t.TempDir()
	var out []binlogtest.Event
	for i, c := range chunksOf(t, s, job) {
		if !c.Complete() {
			continue
		}
		rc, err := OpenChunk(context.Background(), s, c, ids)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		if err == nil {
			err = rc.Close()
		}
		if err != nil {
			t.Fatalf("chunk %s: %v", c.Start, err)
		}
		evs, err := binlogtest.ChunkEvents(bytes.NewReader(data), c.Start)
		if err != nil {
			t.Fatalf("chunk %s: %v", c.Start, err)
		}
		out = append(out, evs...)
		f := filepath.Join(dir, fmt.Sprintf("chunk%03d.bin", i))
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command("mariadb-binlog", "--verify-binlog-checksum", f).CombinedOutput(); err != nil {
			t.Fatalf("mariadb-binlog cannot read chunk %s: %v\n%s", c.Start, err, tail(b))
		}
	}
	return out
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// compareWithServer compares the archive with the server's own files from
// the position from to until (where the archive ends: the server may have
// written more since, binlog checkpoints come in the background).
func compareWithServer(t *testing.T, root *sql.DB, datadir string, got []binlogtest.Event, from, until binlog.BinlogPos) {
	t.Helper()
	files, err := binlogtest.Files(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := binlogtest.DirEvents(datadir, files, from, until)
	if err != nil {
		t.Fatalf("reading the server's files: %v", err)
	}
	if err := binlogtest.Compare(got, want); err != nil {
		t.Fatalf("archive vs the server's binary log: %v", err)
	}
	show, err := binlogtest.ShowEvents(context.Background(), root, files, from, until)
	if err != nil {
		t.Fatal(err)
	}
	if err := binlogtest.Compare(got, show); err != nil {
		t.Fatalf("archive vs SHOW BINLOG EVENTS: %v", err)
	}
	t.Logf("archive = the server's binary log from %s to %s: %d events compared byte for byte", from, until, len(got))
}

// Continuous archiving with the server's log flushed mid-stream, then
// --once: every chunk is read by mariadb-binlog, the chain is the server's
// log event by event, and replaying a backup plus the chunks with the
// stock tools (--stop-datetime) gives the source's state at that time.
func TestArchiveBinlogIT(t *testing.T) {
	root, m, datadir := mariadb3(t)
	db := fmt.Sprintf("ops_it_pitr_%d", rand.Uint32())
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db) })
	itExec(t, root, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), n INT)",
		"INSERT INTO "+db+".t (v, n) SELECT MD5(seq), seq FROM "+db+".seq_1_to_1000")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	job := backup.DefaultJob()
	job.Name = "pitr"
	job.MySQL = m
	job.Databases = []string{db}
	job.EncryptTo = []string{id.Recipient().String()}
	job.Binlog = backup.BinlogConfig{Enabled: true, FlushInterval: 300 * time.Millisecond}
	store := local.New(filepath.Join(t.TempDir(), "target"))
	ctx := context.Background()
	bm, err := backup.RunBackup(ctx, backup.RunOptions{Job: job, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	from := binlog.BinlogPos{File: bm.Consistency.BinlogFile, Pos: bm.Consistency.BinlogPos}

	stop := startArchiver(t, ArchiveOptions{Job: job, Store: store, Retry: true, RetryDelay: 100 * time.Millisecond})
	// Phase A, with rotations in the middle.
	for i := 0; i < 20; i++ {
		itExec(t, root, fmt.Sprintf("INSERT INTO %s.t (v, n) VALUES ('a%d', %d)", db, i, i),
			fmt.Sprintf("UPDATE %s.t SET n = n + 1 WHERE id %% 7 = %d", db, i%7))
		if i%6 == 5 {
			itExec(t, root, "FLUSH BINARY LOGS")
		}
	}
	itExec(t, root, "ALTER TABLE "+db+".t ADD COLUMN w INT DEFAULT 3")
	sumA := itChecksum(t, root, db+".t")
	rowsA := itOne(t, root, "SELECT COUNT(*) FROM "+db+".t")
	// Phase B starts in the next second: --stop-datetime at that second
	// replays A and nothing of B.
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(1100 * time.Millisecond).Sub(now))
	stopAt := time.Now().Truncate(time.Second)
	for i := 0; i < 10; i++ {
		itExec(t, root, fmt.Sprintf("DELETE FROM %s.t WHERE id = %d", db, 100+i), "FLUSH BINARY LOGS")
	}
	waitChunks(t, store, job, 4)
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	reached := itMasterStatus(t, root)
	res, err := ArchiveBinlog(ctx, ArchiveOptions{Job: job, Store: store, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	if binlog.CompareBinlogPos(res.Position, reached) < 0 {
		t.Fatalf("--once stopped at %s, before %s", res.Position, reached)
	}
	ids := []age.Identity{id}
	got := archivedEvents(t, store, job, ids)
	compareWithServer(t, root, datadir, got, from, res.Position)

	backups, _ := backup.ListBackups(ctx, store, job, false)
	ch := AnalyzeBinlog(job.Name, chunksOf(t, store, job), backups)
	if len(ch.Gaps) != 0 || len(ch.Problems) != 0 || len(ch.Windows) != 1 || !ch.Windows[0].Recoverable {
		t.Fatalf("chain: gaps %+v problems %q windows %+v", ch.Gaps, ch.Problems, ch.Windows)
	}
	vr, err := VerifyBinlog(ctx, store, job, backups[0], ids)
	if err != nil || !vr.OK() || vr.Decoded != vr.Chunks {
		t.Fatalf("VerifyBinlog = %+v, %v", vr, err)
	}

	// The replay a point-in-time restore does, with the stock tools, into
	// mariadb2: the dump, then the chunks up to stopAt.
	tgtAddr := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	tgt := itOpen(t, itConfig(t, tgtAddr, "root"), "scripts/services.sh start mariadb2")
	t.Cleanup(func() { tgt.Exec("DROP DATABASE IF EXISTS " + db) })
	if _, err := backup.RestoreBackup(ctx, backup.BackupRestoreOptions{Threads: 2, Store: store, Backup: backups[0], MySQL: itConfig(t, tgtAddr, "root"), Identities: ids, TrustUnauthenticated: true}); err != nil {
		t.Fatalf("restoring the backup into mariadb2: %v", err)
	}
	var files []string
	dir := t.TempDir()
	for i, c := range chunksOf(t, store, job) {
		rc, err := OpenChunk(ctx, store, c, ids)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		f := filepath.Join(dir, fmt.Sprintf("%03d.bin", i))
		os.WriteFile(f, data, 0o600)
		files = append(files, f)
	}
	h, p, _ := net.SplitHostPort(tgtAddr)
	script := fmt.Sprintf("mariadb-binlog --start-position=%d --stop-datetime=%q %s | mariadb --no-defaults -h %s -P %s -uroot",
		bm.Consistency.BinlogPos-chunksOf(t, store, job)[0].Start.Pos+uint64(chunksOf(t, store, job)[0].ManifestData().DataOffset),
		stopAt.Local().Format(time.DateTime), strings.Join(files, " "), h, p)
	if out, err := exec.Command("bash", "-o", "pipefail", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, tail(out))
	}
	if got := itChecksum(t, tgt, db+".t"); got != sumA {
		t.Errorf("replayed to %s: CHECKSUM TABLE %s (%s rows), the source had %s (%s rows) then", stopAt.Format(time.TimeOnly), got, itOne(t, tgt, "SELECT COUNT(*) FROM "+db+".t"), sumA, rowsA)
	}
}

// privateServer is a mariadbd of the test's own (socket only, binary log
// on) that the test may stop, crash and start again.
type privateServer struct {
	t       *testing.T
	dir     string
	datadir string
	sock    string
	cmd     *exec.Cmd
	done    chan struct{}
}

func startPrivateServer(t *testing.T) *privateServer {
	t.Helper()
	testenv.RequireIT(t)
	for _, b := range []string{"mariadb-install-db", "/usr/sbin/mariadbd"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found: install mariadb-server (scripts/services.sh install mariadb)", b)
		}
	}
	dir, err := os.MkdirTemp("", "ops-binlog-it-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &privateServer{t: t, dir: dir, datadir: filepath.Join(dir, "data"), sock: filepath.Join(dir, "s.sock")}
	if out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+p.datadir,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, tail(out))
	}
	p.start()
	t.Cleanup(func() { p.stop(false) })
	return p
}

func (p *privateServer) start() {
	p.t.Helper()
	p.cmd = exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--user=root", "--datadir="+p.datadir, "--socket="+p.sock,
		"--skip-networking", "--log-bin=binlog", "--server-id=77", "--binlog-format=ROW", "--innodb-buffer-pool-size=32M",
		"--log-error="+filepath.Join(p.dir, "err.log"), "--pid-file="+filepath.Join(p.dir, "pid"))
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start mariadbd: %v", err)
	}
	p.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(p.cmd, p.done)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		db, err := conn.Connect(ctx, p.config(), nil)
		cancel()
		if err == nil {
			db.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(p.dir, "err.log"))
			p.t.Fatalf("private mariadbd did not start: %v\n%s", err, tail(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the server: SIGTERM (a clean shutdown) or SIGKILL (a crash).
func (p *privateServer) stop(crash bool) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	sig := syscall.SIGTERM
	if crash {
		sig = syscall.SIGKILL
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

func (p *privateServer) config() conn.Config {
	return conn.Config{Socket: p.sock, User: "root", Timeout: 10 * time.Second, LockWaitTimeout: 30 * time.Second}
}

// The server is shut down, crashed and started again while the archiver
// runs: it catches up each time, and the chain is the server's binary log
// event by event across the files each restart begins, without a gap.
func TestArchiveBinlogServerRestartIT(t *testing.T) {
	srv := startPrivateServer(t)
	db := itOpen(t, srv.config(), "private mariadbd")
	itExec(t, db, "CREATE DATABASE r", "CREATE TABLE r.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	job := backup.DefaultJob()
	job.Name = "restart"
	job.MySQL = srv.config()
	job.Databases = []string{"r"}
	job.Compression = compress.Gzip
	job.Binlog = backup.BinlogConfig{Enabled: true, FlushInterval: 200 * time.Millisecond}
	store := local.New(filepath.Join(t.TempDir(), "target"))
	ctx := context.Background()
	bm, err := backup.RunBackup(ctx, backup.RunOptions{Job: job, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	from := binlog.BinlogPos{File: bm.Consistency.BinlogFile, Pos: bm.Consistency.BinlogPos}
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: store, Retry: true, RetryDelay: 50 * time.Millisecond})
	var mu sync.Mutex
	load := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		conn := itOpen(t, srv.config(), "private mariadbd")
		for i := 0; i < n; i++ {
			itExec(t, conn, fmt.Sprintf("INSERT INTO r.t (v) VALUES (%d)", i))
		}
		conn.Close()
	}
	load(20)
	waitChunks(t, store, job, 1)
	srv.stop(false) // clean shutdown: the file ends with a stop event
	srv.start()
	load(20)
	srv.stop(true) // crash: the file just ends
	srv.start()
	load(20)
	db = itOpen(t, srv.config(), "private mariadbd")
	itExec(t, db, "FLUSH BINARY LOGS")
	load(5)
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	reached := itMasterStatus(t, db)
	res, err := ArchiveBinlog(ctx, ArchiveOptions{Job: job, Store: store, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	if binlog.CompareBinlogPos(res.Position, reached) < 0 {
		t.Fatalf("--once stopped at %s, before %s", res.Position, reached)
	}
	compareWithServer(t, db, srv.datadir, archivedEvents(t, store, job, nil), from, res.Position)
	ch := AnalyzeBinlog(job.Name, chunksOf(t, store, job), nil)
	if len(ch.Gaps) != 0 || len(ch.Problems) != 0 || len(ch.segments) != 1 {
		t.Fatalf("chain across restarts: gaps %+v problems %q, %d segments", ch.Gaps, ch.Problems, len(ch.segments))
	}
}
