package pitr

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
)

// A point-in-time restore on a physical base: a physical full backup of
// mariadb3, changes A, then changes B, the binary log archived; the restore
// to the position between A and B leaves a data directory whose table, on
// a stock mariadbd, equals the source after A.
func TestPhysicalPointInTimeIT(t *testing.T) {
	root, _, _ := mariadb3(t)
	if _, err := exec.LookPath("mariadb-backup"); err != nil {
		t.Fatalf("mariadb-backup is not installed (scripts/services.sh install mariadb): %v", err)
	}
	ctx := context.Background()
	const db = "physical_it_pitr"
	itExec(t, root, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(40), n INT, KEY (n))",
		"INSERT INTO "+db+".t (v, n) SELECT CONCAT('base', seq), seq FROM "+db+".seq_1_to_1000")
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db) })
	job := backup.DefaultJob()
	job.Name, job.Method = "physical-pitr", backup.MethodPhysical
	job.MySQL = itConfig(t, testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308"), "root")
	job.ManifestKeyFile = backuptest.WriteKey(t, "physical-pitr-key-0123456789")
	store := local.New(t.TempDir())
	m, err := backup.RunBackup(ctx, backup.RunOptions{Job: job, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if m.Consistency.BinlogFile == "" || m.Consistency.SnapshotAt.IsZero() {
		t.Fatalf("the physical backup has no binlog position: %+v", m.Consistency)
	}
	// A: applied by the replay.
	itExec(t, root, "INSERT INTO "+db+".t (v, n) SELECT CONCAT('a', seq), seq FROM "+db+".seq_1_to_300",
		"UPDATE "+db+".t SET v = CONCAT(v, '!') WHERE n % 7 = 0", "FLUSH BINARY LOGS",
		"DELETE FROM "+db+".t WHERE n % 11 = 0")
	sumA, rowsA := itChecksum(t, root, db+".t"), itOne(t, root, "SELECT COUNT(*) FROM "+db+".t")
	stop := itMasterStatus(t, root)
	// B: after the point.
	itExec(t, root, "DELETE FROM "+db+".t WHERE n < 500", "INSERT INTO "+db+".t (v, n) VALUES ('b', 1)")
	if sumB := itChecksum(t, root, db+".t"); sumB == sumA {
		t.Fatal("B did not change the table: the test could not tell A from B")
	}
	if _, err := ArchiveBinlog(ctx, ArchiveOptions{Job: job, Store: store, Once: true}); err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp("", "ops-physical-pitr-it-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	dd := filepath.Join(base, "data")
	res, err := RestorePhysicalPointInTime(ctx, PhysicalPITROptions{
		PhysicalRestoreOptions: backup.PhysicalRestoreOptions{Store: store, Datadir: dd, Binary: job.Physical.Binary},
		Job:                    job, Point: PointAtPosition(stop),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backup.ID != m.ID || res.Stats.Groups == 0 {
		t.Fatalf("restored on %s with %d transactions replayed", res.Backup.ID, res.Stats.Groups)
	}
	run := filepath.Join(base, "run")
	if err := os.Mkdir(run, 0o750); err != nil {
		t.Fatal(err)
	}
	srv, err := physical.StartScratch(ctx, nil, "", dd, run)
	if err != nil {
		t.Fatal(err)
	}
	got, rows := itChecksum(t, srv.DB, db+".t"), itOne(t, srv.DB, "SELECT COUNT(*) FROM "+db+".t")
	if err := srv.Stop(); err != nil {
		t.Error(err)
	}
	if got != sumA || rows != rowsA {
		t.Fatalf("restored to %s: checksum %s, %s rows; the source after A had %s, %s rows", stop, got, rows, sumA, rowsA)
	}
	if _, err := RestorePhysicalPointInTime(ctx, PhysicalPITROptions{
		PhysicalRestoreOptions: backup.PhysicalRestoreOptions{Store: store, Datadir: dd, Binary: job.Physical.Binary},
		Job:                    job, Point: PointAtPosition(stop),
	}); err == nil {
		t.Fatal("a second restore into the same directory was not refused")
	}
}
