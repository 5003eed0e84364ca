package pitr

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/storage/local"
)

// A server stopped (SIGSTOP: its connections stay open, nothing comes)
// while the archiver streams from it: the archiver warns while it is
// stopped, not only once it continues, and says when it answers again.
// The server is the test's own, written to every 50 ms so that its
// silence is the stop and not the 10 s between heartbeats.
func TestArchiveBinlogWarnsWhileServerStoppedIT(t *testing.T) {
	srv := startPrivateServer(t)
	db := itOpen(t, srv.config(), "private mariadbd")
	itExec(t, db, "CREATE DATABASE w", "CREATE TABLE w.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	job := backup.DefaultJob()
	job.Name = "silent"
	job.MySQL = srv.config()
	job.Databases = []string{"w"}
	job.Compression = compress.Gzip
	job.Binlog = backup.BinlogConfig{Enabled: true, FlushInterval: 200 * time.Millisecond}
	store := local.New(filepath.Join(t.TempDir(), "target"))
	if _, err := backup.RunBackup(context.Background(), backup.RunOptions{Job: job, Store: store}); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	stop := startArchiver(t, ArchiveOptions{Job: job, Store: store, Retry: true, RetryDelay: 50 * time.Millisecond,
		SilenceWarn: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	var writing atomic.Bool
	writing.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; writing.Load(); i++ {
			db.Exec(fmt.Sprintf("INSERT INTO w.t (v) VALUES (%d)", i)) //nolint:errcheck // stalls while the server is stopped
			time.Sleep(50 * time.Millisecond)
		}
	}()
	waitChunks(t, store, job, 1)
	if strings.Contains(logs.String(), "binlog source silent") {
		t.Fatalf("a warning while the server was written to:\n%s", logs.String())
	}
	proc := srv.cmd.Process
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Signal(syscall.SIGCONT) })
	for !strings.Contains(logs.String(), "binlog source silent") {
		time.Sleep(10 * time.Millisecond)
	}
	warned := logs.String() // the warning came while the server was stopped
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(logs.String(), "binlog source answers again") {
		time.Sleep(10 * time.Millisecond)
	}
	writing.Store(false)
	<-done
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("while stopped:\n%s", warned[strings.Index(warned, "level=WARN msg=\"binlog source silent"):])
}
