package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/opsteam/ops/internal/testenv"
)

// The attack of issue 23 against the real server: an age-encrypted backup
// with a manifest key (created by ops at the first backup); its object is
// replaced by one encrypted to the job's public recipient and the authentic
// manifest is kept. restore (even with --keep-partial) and verify
// --restore-test refuse it, and nothing of it reaches the server: no user,
// no target database, no planted table.
func TestReplacedObjectWithAValidMACReachesNothing(t *testing.T) {
	testenv.RequireIT(t)
	db, sock, name := itSource(t, "verify",
		"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO {db}.t VALUES (1,'one'),(2,'two')")
	dst := name + "_dst"
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS " + dst)
		db.Exec("DROP USER IF EXISTS 'verify_evil'@'%'")
	})
	cfg, dir, _, id := encryptedJob(t, "verify", sock, name)
	code, _, stderr := runOps(t, "--config", cfg, "backup", "run")
	if code != 0 || !strings.Contains(stderr, "keys/verify.key") {
		t.Fatalf("backup run: %d (the log names the key file it created)\n%s", code, stderr)
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(cfg), "keys", "verify.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the created key: %v %v", st, err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "b", "verify", "*", "dump.sql.zst.age"))
	if len(matches) != 1 {
		t.Fatalf("stored objects: %v", matches)
	}
	orig, _ := os.ReadFile(matches[0])

	// The forged stream: the backup's own SQL, then a planted table in
	// the restored database and a user with every privilege.
	ar, err := age.Decrypt(bytes.NewReader(orig), id)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(ar)
	plain, err := io.ReadAll(dec)
	dec.Close()
	if err != nil {
		t.Fatal(err)
	}
	forgedSQL := string(plain) + fmt.Sprintf("USE `%s`;\nCREATE TABLE `planted` (id INT);\nINSERT INTO `planted` VALUES (1);\n"+
		"CREATE USER 'verify_evil'@'%%';\nGRANT ALL ON *.* TO 'verify_evil'@'%%' WITH GRANT OPTION;\n", name)
	enc, _ := zstd.NewWriter(nil)
	var forged bytes.Buffer
	w, err := age.Encrypt(&forged, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(enc.EncodeAll([]byte(forgedSQL), nil))
	_ = w.Close()
	if err := os.WriteFile(matches[0], forged.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	nothingReached := func(what string) {
		t.Helper()
		var users, dbs int
		if err := db.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = 'verify_evil'").Scan(&users); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ? OR SCHEMA_NAME LIKE 'ops\\_verify\\_%'", dst).Scan(&dbs); err != nil {
			t.Fatal(err)
		}
		if users != 0 || dbs != 0 {
			t.Errorf("%s: verify_evil users %d, target or scratch databases %d: the forged stream reached the server", what, users, dbs)
		}
	}

	code, _, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "verify", "--database", name+"="+dst, "--keep-partial")
	if code != 3 || !strings.Contains(stderr, "chunk 0") {
		t.Errorf("restore of the replaced object: exit %d, want 3 naming the chunk\n%s", code, stderr)
	}
	nothingReached("restore --keep-partial")

	code, out, stderr := runOps(t, "--config", cfg, "backup", "verify", "--job", "verify", "--restore-test")
	if code != 1 || !strings.Contains(out, "MISMATCH") {
		t.Errorf("verify --restore-test of the replaced object: exit %d\n%s\n%s", code, out, stderr)
	}
	nothingReached("verify --restore-test")

	// The real object again: the restore and the restore test pass; on a
	// host without the key only --trust-unauthenticated-manifest restores.
	if err := os.WriteFile(matches[0], orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "verify", "--job", "verify", "--restore-test"); code != 0 {
		t.Fatalf("verify --restore-test of the real object: %d\n%s\n%s", code, out, stderr)
	}
	key := filepath.Join(filepath.Dir(cfg), "keys", "verify.key")
	if err := os.Rename(key, key+".away"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "verify", "--database", name+"="+dst)
	if code != 2 || !strings.Contains(stderr, "--trust-unauthenticated-manifest") {
		t.Errorf("restore without the key: exit %d\n%s", code, stderr)
	}
	nothingReached("restore without the key")
	code, _, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "verify", "--database", name+"="+dst, "--trust-unauthenticated-manifest")
	if code != 0 {
		t.Fatalf("restore without the key, trusted explicitly: exit %d\n%s", code, stderr)
	}
	var rows int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + dst + ".t").Scan(&rows); err != nil || rows != 2 {
		t.Errorf("restored %d rows, %v", rows, err)
	}
}
