package pitr

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/replay"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
	"github.com/opsteam/ops/internal/testenv/faults"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The archiver reaches mariadb3 through toxiproxy; its connections (the
// replication stream too) are reset three times while rows are written.
// It starts again from the end of what it stored each time, and the
// archive is the server's binary log event by event, byte for byte: no
// gap, no duplicate.
func TestFaultArchiverCutThreeTimesIT(t *testing.T) {
	root, m, datadir := mariadb3(t)
	p := faults.New(t, m.Host+":"+strconv.Itoa(m.Port))
	m.Host, m.Port = "127.0.0.1", mustAtoi(t, p.Port())
	db := fmt.Sprintf("faults_archiver_%d", rand.Uint32())
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db) })
	itExec(t, root, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), n INT)",
		"INSERT INTO "+db+".t (v, n) SELECT MD5(seq), seq FROM "+db+".seq_1_to_100")
	job := backup.DefaultJob()
	job.Name = "faults"
	job.MySQL = m
	job.Databases = []string{db}
	job.Binlog = backup.BinlogConfig{Enabled: true, FlushInterval: 300 * time.Millisecond}
	store := local.New(filepath.Join(t.TempDir(), "target"))
	ctx := context.Background()
	bm, err := backup.RunBackup(ctx, backup.RunOptions{Job: job, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	from := binlog.BinlogPos{File: bm.Consistency.BinlogFile, Pos: bm.Consistency.BinlogPos}

	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: store, Retry: true, RetryDelay: 100 * time.Millisecond, Logger: log})
	write := func(round int) {
		for i := 0; i < 10; i++ {
			itExec(t, root, fmt.Sprintf("INSERT INTO %s.t (v, n) VALUES ('r%d', %d)", db, round, i),
				fmt.Sprintf("UPDATE %s.t SET n = n + 1 WHERE id %% 5 = %d", db, i%5))
			time.Sleep(20 * time.Millisecond)
		}
	}
	for cut := 1; cut <= 3; cut++ {
		write(cut)
		// rows written during the outage: a reset_peer toxic acts on data
		// that flows, and it is their events that meet it
		done := p.Outage(400 * time.Millisecond)
		write(10 + cut)
		<-done
		write(20 + cut)
		if cut == 2 {
			itExec(t, root, "FLUSH BINARY LOGS")
		}
		// the archiver failed, started again and stored a chunk since
		deadline := time.Now().Add(30 * time.Second) // a hang guard
		for l := logs.String(); strings.Count(l, "binlog archiver failed") < cut ||
			strings.LastIndex(l, "binlog chunk stored") < strings.LastIndex(l, "binlog archiver failed"); l = logs.String() {
			if time.Now().After(deadline) {
				t.Fatalf("the archiver did not start again after cut %d:\n%s", cut, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	write(99)
	time.Sleep(time.Second) // a flush interval or three: the open chunk stored
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	res, err := ArchiveBinlog(ctx, ArchiveOptions{Job: job, Store: store, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("archiver log:\n%s", logs.String())
	got := archivedEvents(t, store, job, nil)
	compareWithServer(t, root, datadir, got, from, res.Position)
	backups, _ := backup.ListBackups(ctx, store, job, false)
	ch := AnalyzeBinlog(job.Name, chunksOf(t, store, job), backups)
	if len(ch.Gaps) != 0 || len(ch.Problems) != 0 {
		t.Fatalf("chain after 3 cuts: gaps %+v problems %q", ch.Gaps, ch.Problems)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A point-in-time restore into mariadb2 through toxiproxy whose
// connections are cut in the middle of the replay: the error names the
// source position the replay reached (the end of the last event passed on
// to the server).
func TestFaultReplayCutIT(t *testing.T) {
	root, m, _ := mariadb3(t)
	db := fmt.Sprintf("faults_replay_%d", rand.Uint32())
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db) })
	itExec(t, root, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT AUTO_INCREMENT PRIMARY KEY, b BLOB)",
		"INSERT INTO "+db+".t (b) SELECT RANDOM_BYTES(100) FROM "+db+".seq_1_to_100")
	job := backup.DefaultJob()
	job.Name = "replay"
	job.MySQL = m
	job.Databases = []string{db}
	job.Binlog = backup.BinlogConfig{Enabled: true, FlushInterval: 300 * time.Millisecond}
	store := local.New(filepath.Join(t.TempDir(), "target"))
	ctx := context.Background()
	if _, err := backup.RunBackup(ctx, backup.RunOptions{Job: job, Store: store}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ { // ~4 MB of row events to replay
		itExec(t, root, "INSERT INTO "+db+".t (b) SELECT RANDOM_BYTES(1024) FROM "+db+".seq_1_to_100")
	}
	res, err := ArchiveBinlog(ctx, ArchiveOptions{Job: job, Store: store, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	backups, err := backup.ListBackups(ctx, store, job, false)
	if err != nil || len(backups) != 1 {
		t.Fatalf("backups: %v %v", backups, err)
	}

	tgtAddr := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	tgt := itOpen(t, itConfig(t, tgtAddr, "root"), "scripts/services.sh start mariadb2")
	t.Cleanup(func() { tgt.Exec("DROP DATABASE IF EXISTS " + db) })
	p := faults.New(t, tgtAddr)
	// The batched replay, the link down for a second: the open batch is
	// rolled back, and the ledger (read once the link is back) says which
	// source transactions are committed. The stock pipe, the link cut for
	// good: the last event passed on to the client.
	for _, mode := range []string{replay.ModeBatched, replay.ModeStock} {
		tgt.Exec("DROP DATABASE IF EXISTS " + db)
		var restore func()
		fired := p.After(faults.Up, 2<<20, func() { // past the backup (~10 KB), inside the replay
			if mode == replay.ModeStock {
				restore = p.Cut()
			} else {
				done := p.Outage(time.Second)
				restore = func() { <-done }
			}
		})
		_, err = RestorePointInTime(ctx, PITROptions{
			BackupRestoreOptions: backup.BackupRestoreOptions{Threads: 2, Store: store, Backup: backups[0],
				MySQL: itConfig(t, p.Addr, "root"), TrustUnauthenticated: true},
			Job: job, Point: PointAtPosition(res.Position), TempDir: t.TempDir(), ReplayMode: mode})
		if !fired() {
			t.Fatalf("%s: the cut never came (err %v)", mode, err)
		}
		restore()
		t.Logf("%s: error: %v", mode, err)
		want := "the last event passed on to the server ends at source position " + res.Position.File
		if mode == replay.ModeBatched {
			want = "no source transaction was committed on the target (the replay starts at source position " // one batch of 40
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: a replay cut in the middle: want %q, got %v", mode, want, err)
		}
	}
}

// A restore into a private mariadbd that is killed (SIGKILL) once rows
// are being loaded and started again: the restore fails naming the
// statement and its table, and the database it created is dropped once the
// server is back (the rollback waits for it).
func TestFaultRestoreServerRestartIT(t *testing.T) {
	root, _, _ := mariadb3(t)
	db := fmt.Sprintf("faults_restart_%d", rand.Uint32())
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db) })
	itExec(t, root, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, b BLOB)",
		"INSERT INTO "+db+".t SELECT seq, RANDOM_BYTES(1024) FROM "+db+".seq_1_to_20000")
	job := backup.DefaultJob()
	job.Name = "restart"
	job.MySQL = itConfig(t, testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308"), "root")
	job.Databases = []string{db}
	store := local.New(filepath.Join(t.TempDir(), "target"))
	ctx := context.Background()
	if _, err := backup.RunBackup(ctx, backup.RunOptions{Job: job, Store: store}); err != nil {
		t.Fatal(err)
	}
	backups, err := backup.ListBackups(ctx, store, job, false)
	if err != nil || len(backups) != 1 {
		t.Fatalf("backups: %v %v", backups, err)
	}

	srv := startPrivateServer(t)
	watch := itOpen(t, srv.config(), "private mariadbd")
	type out struct{ err error }
	done := make(chan out, 1)
	go func() {
		_, err := backup.RestoreBackup(ctx, backup.BackupRestoreOptions{Threads: 2, Store: store, Backup: backups[0],
			MySQL: srv.config(), TrustUnauthenticated: true})
		done <- out{err}
	}()
	deadline := time.Now().Add(60 * time.Second) // a hang guard
	for {
		var n int
		if err := watch.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_ROWS > 0", db).Scan(&n); err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no row was ever loaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.stop(true)
	srv.start()
	r := <-done
	t.Logf("error: %v", r.err)
	if r.err == nil || !strings.Contains(r.err.Error(), "statement: INSERT INTO `t`") {
		t.Fatalf("a restore whose server was killed: want an error naming the table, got %v", r.err)
	}
	again := itOpen(t, srv.config(), "private mariadbd, started again")
	var n int
	if err := again.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s left behind after the failed restore (%d, %v)", db, n, err)
	}
}
