package main

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

// stockRestoreSection is the README's stock restore section (between its
// markers).
func stockRestoreSection(t *testing.T) string {
	t.Helper()
	const begin, end = "<!-- stock-restore:begin -->", "<!-- stock-restore:end -->"
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md has no stock-restore section between its markers")
	}
	return s[i : j+len(end)]
}

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// dbState is what must not change in a database that a recipe must not
// touch: every table's InnoDB id (a DROP and CREATE changes it) and
// CHECKSUM TABLE, and its triggers' and routines' creation times.
func dbState(t *testing.T, db *sql.DB, name string) map[string]string {
	t.Helper()
	st := map[string]string{}
	q := func(query string, args ...any) {
		rows, err := db.Query(query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k, v sql.NullString
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			st[query[:20]+" "+k.String] = v.String
		}
	}
	q("SELECT NAME, TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE ?", name+"/%")
	q("SELECT TRIGGER_NAME, CREATED FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", name)
	q("SELECT ROUTINE_NAME, CREATED FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", name)
	q("SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?", name)
	for _, tb := range []string{"accounts", "audit"} {
		st["checksum "+tb] = checksum(t, db, name+"."+tb)
	}
	return st
}

// stockBackup makes a source database with a trigger, a view and a
// function, and one age-encrypted backup of it (job "app", local target):
// the config file, the stored stream and the identity file.
func stockBackup(t *testing.T) (*sql.DB, string, string, string, string) {
	t.Helper()
	testenv.RequireIT(t)
	db, sock, name := itSource(t, "stock",
		"CREATE TABLE {db}.accounts (id INT PRIMARY KEY AUTO_INCREMENT, owner VARCHAR(40), balance DECIMAL(12,2), note BLOB, at TIMESTAMP NULL)",
		"CREATE TABLE {db}.audit (id INT PRIMARY KEY AUTO_INCREMENT, owner VARCHAR(40))",
		"INSERT INTO {db}.accounts (owner, balance, note, at) VALUES ('ann', 10.50, x'00275c0d0a', '2026-01-02 03:04:05'), ('bob', -3.25, '', NULL), ('cé 😀', 0, NULL, NULL)",
		"INSERT INTO {db}.audit (owner) VALUES ('ann')",
		"CREATE VIEW {db}.rich AS SELECT owner FROM {db}.accounts WHERE balance > 0",
		"CREATE TRIGGER {db}.trg AFTER INSERT ON {db}.accounts FOR EACH ROW INSERT INTO audit (owner) VALUES (NEW.owner)",
		"CREATE FUNCTION {db}.total() RETURNS DECIMAL(12,2) READS SQL DATA RETURN (SELECT SUM(balance) FROM accounts)")
	cfg, dir, keyFile, _ := encryptedJob(t, "app", sock, name)
	if code, _, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s", code, stderr)
	}
	objs, _ := filepath.Glob(filepath.Join(dir, "b", "app", "*", "dump.sql.zst.age"))
	if len(objs) != 1 {
		t.Fatalf("stored streams: %v", objs)
	}
	return db, name, cfg, objs[0], keyFile
}

// The README's stock restore section, run literally with bash against a
// real encrypted backup: "as it was" into the second server, "under
// another name" and `ops backup cat` onto the source's own server. The
// copies' CHECKSUM TABLE equal the source's at the backup, and the source,
// changed since, is untouched (its tables not recreated, its rows, view,
// trigger and routine as they were).
func TestReadmeStockRestoreRecipes(t *testing.T) {
	testenv.RequireIT(t)
	for _, tool := range []string{"age", "zstd", "sed", "mariadb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (scripts/services.sh install mariadb): %v", tool, err)
		}
	}
	db, name, cfg, obj, keyFile := stockBackup(t)
	dir := t.TempDir()
	copyName := name + "_copy"
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + copyName) })
	db2 := itOpen(t, testenv.Getenv("OPS_IT_MYSQL2_DSN", "root:@tcp(127.0.0.1:3307)/"), "scripts/services.sh start mariadb2")
	t.Cleanup(func() { db2.Exec("DROP DATABASE IF EXISTS " + name) })
	// `ops` on PATH is this test binary (TestMain); each client's
	// ~/.my.cnf points at the server a block is run against.
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o700)
	os.WriteFile(filepath.Join(bin, "ops"), []byte("#!/bin/sh\nOPS_TEST_MAIN=1 exec "+os.Args[0]+" \"$@\"\n"), 0o700)
	home := func(port string) string {
		h := filepath.Join(dir, "home"+port)
		os.Mkdir(h, 0o700)
		os.WriteFile(filepath.Join(h, ".my.cnf"), []byte("[client]\nhost=127.0.0.1\nport="+port+"\nuser=root\n"), 0o600)
		return h
	}
	run := func(block, port string) {
		t.Helper()
		cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", block)
		cmd.Env = append(os.Environ(), "KEY="+keyFile, "OBJ="+obj, "HOME="+home(port), "OPS_CONFIG="+cfg,
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s\nagainst port %s: %v\n%s", block, port, err, out)
		}
	}

	blocks := shBlock.FindAllStringSubmatch(stockRestoreSection(t), -1)
	if len(blocks) != 3 {
		t.Fatalf("%d sh blocks in the section, want 3 (as it was, another name, ops backup cat)", len(blocks))
	}
	names := strings.NewReplacer("shop_copy", copyName, "shop", name)
	// The source moves on after the backup: a recipe writing the backup
	// into it would show.
	want := dbState(t, db, name)
	for _, q := range []string{"INSERT INTO {db}.accounts (owner, balance) VALUES ('late', 1)", "CREATE OR REPLACE VIEW {db}.rich AS SELECT owner FROM {db}.accounts WHERE balance >= 1"} {
		if _, err := db.Exec(strings.ReplaceAll(q, "{db}", name)); err != nil {
			t.Fatal(err)
		}
	}
	before := dbState(t, db, name)
	for i, b := range blocks {
		block := names.Replace(b[1])
		t.Logf("block %d:\n%s", i+1, block)
		if !strings.Contains(block, copyName) { // as it was: into the second server
			run(block, "3307")
			for _, tb := range []string{"accounts", "audit"} {
				if got, want := checksum(t, db2, name+"."+tb), want["checksum "+tb]; got != want {
					t.Errorf("block %d: %s on 3307: CHECKSUM %s, source %s", i+1, tb, got, want)
				}
			}
			continue
		}
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + copyName); err != nil {
			t.Fatal(err)
		}
		run(block, "3306")
		for _, tb := range []string{"accounts", "audit"} {
			if got, want := checksum(t, db, copyName+"."+tb), want["checksum "+tb]; got != want {
				t.Errorf("block %d: %s copy CHECKSUM %s, source %s", i+1, tb, got, want)
			}
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", copyName).Scan(&n); err != nil || n != 1 {
			t.Errorf("block %d: the copy has %d triggers (%v), want 1", i+1, n, err)
		}
		var rich string
		if err := db.QueryRow("SELECT GROUP_CONCAT(owner) FROM " + copyName + ".rich").Scan(&rich); err != nil || rich != "ann" {
			t.Errorf("block %d: the copy's view reads %q (%v)", i+1, rich, err)
		}
		after := dbState(t, db, name)
		for k, v := range before {
			if after[k] != v {
				t.Errorf("block %d touched the source: %s was %q, now %q", i+1, k, v, after[k])
			}
		}
		if len(after) != len(before) {
			t.Errorf("block %d: the source's objects changed: %v → %v", i+1, before, after)
		}
	}
}

// `ops backup cat` without --database writes exactly the stored SQL (what
// age -d | zstd -dc gives); a stored stream changed after the backup makes
// it fail with exit 3, saying that what it wrote must be discarded; a
// database the backup lacks is a usage error.
func TestBackupCatChecks(t *testing.T) {
	db, name, cfg, _, keyFile := stockBackup(t)
	// A second backup of more than one 4 MiB chunk (random bytes, written
	// as hex): the tampered chunk comes after some SQL went out.
	if _, err := db.Exec("CREATE TABLE " + name + ".big (id INT PRIMARY KEY, b LONGBLOB)"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		blob := make([]byte, 512<<10)
		rand.Read(blob)
		if _, err := db.Exec("INSERT INTO "+name+".big VALUES (?, ?)", i, blob); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s", code, stderr)
	}
	objs, _ := filepath.Glob(filepath.Join(filepath.Dir(keyFile), "b", "app", "*", "dump.sql.zst.age"))
	if len(objs) != 2 {
		t.Fatalf("stored streams: %v", objs)
	}
	obj := objs[1] // the newest (IDs are times)
	code, out, stderr := runOps(t, "--config", cfg, "backup", "cat", "--job", "app")
	if code != 0 {
		t.Fatalf("backup cat: %d\n%s", code, stderr)
	}
	stock, err := exec.Command("bash", "-e", "-o", "pipefail", "-c", `age -d -i "$0" "$1" | zstd -dc`, keyFile, obj).Output()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(stock) {
		t.Errorf("backup cat wrote %d bytes, age -d | zstd -dc %d; they differ", len(out), len(stock))
	}
	if code, qout, qerr := runOps(t, "-q", "--config", cfg, "backup", "cat", "--job", "app"); code != 0 || qout != out || qerr != "" {
		t.Errorf("backup cat -q: exit %d, %d bytes (want %d), stderr %q", code, len(qout), len(out), qerr)
	}
	if n := strings.Count(out, "USE `"+name+"`;\n"); n != 1 {
		t.Errorf("%d USE lines of the database, want 1", n)
	}
	if code, _, stderr := runOps(t, "--config", cfg, "backup", "cat", "--job", "app", "--database", "nope=x"); code != 2 || !strings.Contains(stderr, `no database "nope"`) {
		t.Errorf("unknown database: %d %s", code, stderr)
	}

	// One byte of the stored stream changed, near its end.
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 5<<20 {
		t.Fatalf("the stored stream has %d bytes: one chunk only", len(b))
	}
	b[len(b)-40] ^= 1
	if err := os.WriteFile(obj, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runOps(t, "--config", cfg, "backup", "cat", "--job", "app", "--database", name+"="+name+"_x")
	if code != 3 || !strings.Contains(stderr, "discard it") {
		t.Errorf("tampered stream: exit %d\n%s", code, stderr)
	}
	t.Logf("tampered stream: exit %d: %s", code, stderr)
}

// backup cat refuses a terminal stdout (exit 2) before reading anything,
// and takes /dev/null (a character device, not a terminal).
func TestBackupCatRefusesATerminal(t *testing.T) {
	testenv.RequireIT(t)
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatalf("script (util-linux) gives the command a terminal: %v", err)
	}
	cfg := writeConfig(t, "storage:\n  targets:\n    local: {type: local, path: "+t.TempDir()+"}\n")
	cmd := exec.Command("script", "-qec", os.Args[0]+" --config "+cfg+" backup cat --job nope", "/dev/null")
	cmd.Env = append(os.Environ(), "OPS_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "stdout is a terminal") {
		t.Errorf("on a terminal: %v\n%s", err, out)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	cmd = opsProcess("--config", cfg, "backup", "cat", "--job", "nope")
	cmd.Stdout = null
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Contains(stderr.String(), "terminal") || !strings.Contains(stderr.String(), "nope") {
		t.Errorf("into /dev/null: %v\n%s", err, stderr.String())
	}
}
