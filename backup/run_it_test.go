package backup

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
)

// runITSource opens the source server (root over the local socket) and
// creates a small database that the caller's test owns.
func runITSource(t *testing.T) (*sql.DB, string) {
	t.Helper()
	testenv.RequireIT(t)
	sock := testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock")
	db, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("MariaDB at %s is not reachable (run scripts/services.sh start mariadb): %v", sock, err)
	}
	name := fmt.Sprintf("ops_it_run_%d", rand.Uint32())
	for _, q := range []string{
		"CREATE DATABASE `" + name + "`",
		"CREATE TABLE `" + name + "`.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO `" + name + "`.t VALUES (1,'alpha'),(2,'beta'),(3,'')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		db.Close()
	})
	return db, name
}

func runITJob(dbName string) Job {
	j := DefaultJob()
	j.Name = "it"
	j.Databases = []string{dbName}
	j.MySQL.Socket = testenv.Getenv("OPS_IT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock")
	j.MySQL.User = "root"
	return j
}

func TestRunBackupEncryptedRoundTrip(t *testing.T) {
	_, dbName := runITSource(t)
	ctx := context.Background()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	job := runITJob(dbName)
	job.EncryptTo = []string{id.Recipient().String()}
	s := local.New(t.TempDir())
	var progressed int64
	m, err := RunBackup(ctx, RunOptions{Job: job, Store: s, Progress: func(n int64) { progressed = n }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(m.Object.Name, "/dump.sql.zst.age") || m.Encryption == nil || m.Encryption.Recipients[0] != id.Recipient().String() {
		t.Fatalf("manifest = %+v", m)
	}
	if progressed != m.Object.Size {
		t.Errorf("progress reported %d of %d bytes", progressed, m.Object.Size)
	}
	if len(m.Tables) != 1 || m.Tables[0].Rows != 3 || m.Databases[0] != dbName {
		t.Errorf("tables = %+v databases = %v", m.Tables, m.Databases)
	}
	rc, err := s.Open(ctx, m.Object.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	plain, err := age.Decrypt(rc, id)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(plain)
	if err != nil {
		t.Fatal(err)
	}
	sqlText, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(sqlText)) != m.SQLBytes || !bytes.Contains(sqlText, []byte("'alpha'")) || !bytes.Contains(sqlText, []byte("CREATE DATABASE")) {
		t.Fatalf("decrypted stream (%d bytes, manifest %d) lacks the data:\n%.500s", len(sqlText), m.SQLBytes, sqlText)
	}
	b, err := FindBackup(ctx, s, Job{Name: "it"}, "latest")
	if err != nil || !b.Encrypted {
		t.Fatalf("find: %+v %v", b, err)
	}
	if v, err := VerifyBackup(ctx, s, b); err != nil || !v.OK() {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

func TestRunBackupFailureLeavesNothing(t *testing.T) {
	_, dbName := runITSource(t)
	ctx := context.Background()
	dir := t.TempDir()
	s := local.New(dir)

	job := runITJob(dbName)
	job.Databases = []string{dbName + "_does_not_exist"}
	if _, err := RunBackup(ctx, RunOptions{Job: job, Store: s}); err == nil || !strings.Contains(err.Error(), "_does_not_exist") {
		t.Fatalf("unknown database: err = %v", err)
	}
	// A store that fails mid-stream.
	job = runITJob(dbName)
	_, err := RunBackup(ctx, RunOptions{Job: job, Store: failingStore{s}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("sink failure: err = %v", err)
	}
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("failed runs left files: %v", files)
	}
	if l, _ := ListBackups(ctx, s, Job{Name: "it"}, true); len(l) != 0 {
		t.Fatalf("failed runs listed: %+v", l)
	}
}

func TestRunBackupThenPrune(t *testing.T) {
	_, dbName := runITSource(t)
	ctx := context.Background()
	s := local.New(t.TempDir())
	job := runITJob(dbName)
	job.Retention = Retention{KeepLast: 2}
	clock := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	for i := 0; i < 4; i++ {
		c := clock.Add(time.Duration(i) * time.Hour)
		if _, err := RunBackup(ctx, RunOptions{Job: job, Store: s, Now: func() time.Time { return c }}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Prune(ctx, PruneOptions{Job: job, Store: s, Now: func() time.Time { return clock.Add(5 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := ListBackups(ctx, s, Job{Name: "it"}, true)
	if len(l) != 2 || l[0].ID != catalog.NewID(clock.Add(3*time.Hour)) || len(res.Deleted) != 4 {
		t.Fatalf("after prune: %+v deleted %q", l, res.Deleted)
	}
}

// failingStore passes 64 KiB through, then fails like a full disk.
type failingStore struct{ storage.Store }

func (f failingStore) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	return f.Store.Put(ctx, name, io.MultiReader(io.LimitReader(r, 64<<10), errReader{}))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("write: disk full") }

func TestRunBackupSameSecondGetsDistinctIDs(t *testing.T) {
	_, dbName := runITSource(t)
	s := local.New(t.TempDir())
	clock := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	var ids []string
	for i := 0; i < 3; i++ {
		m, err := RunBackup(context.Background(), RunOptions{Job: runITJob(dbName), Store: s, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	want := []string{"20261128T020000Z", "20261128T020000Z-2", "20261128T020000Z-3"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	if l, _ := ListBackups(context.Background(), s, Job{Name: "it"}, false); len(l) != 3 {
		t.Fatalf("listed %d complete backups", len(l))
	}
}
