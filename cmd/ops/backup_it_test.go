package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
)

func checksum(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var name string
	var sum sql.NullString
	if err := db.QueryRow("CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	return sum.String
}

// The README's main job end to end through the CLI: run, list, verify
// (with a restore test), restore under another name, prune.
func TestBackupCLIEndToEnd(t *testing.T) {
	db, sock, name := itSource(t, "cli",
		"CREATE TABLE {db}.accounts (id INT PRIMARY KEY AUTO_INCREMENT, owner VARCHAR(40), balance DECIMAL(12,2), note BLOB)",
		"INSERT INTO {db}.accounts (owner, balance, note) VALUES ('ann', 10.50, x'00275c'), ('bob', -3.25, ''), ('cé', 0, NULL)")
	copyName := name + "_copy"
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + copyName) })
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: it
      mysql: {socket: %s, user: root}
      databases: [%s]
      retention: {keep_last: 2}
`, filepath.Join(dir, "backups"), sock, name))

	for i := 0; i < 3; i++ {
		code, out, stderr := runOps(t, "--config", cfg, "--log-format", "json", "backup", "run")
		if code != 0 {
			t.Fatalf("backup run: code %d\n%s\n%s", code, out, stderr)
		}
		if !strings.Contains(stderr, `"msg":"backup complete"`) {
			t.Errorf("no structured completion log: %s", stderr)
		}
	}
	code, out, stderr := runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	if code != 0 {
		t.Fatalf("list: %d %s", code, stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list json: %v\n%s", err, out)
	}
	if len(list) != 2 { // retention keep_last 2 applied after each run
		t.Fatalf("list = %s", out)
	}
	for _, k := range []string{"job", "id", "started_at", "finished_at", "complete", "object", "manifest", "size", "databases", "compression", "encrypted"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("list element lacks %q: %v", k, list[0])
		}
	}
	if list[0]["complete"] != true || list[0]["compression"] != "zstd" || list[0]["id"].(string) <= list[1]["id"].(string) {
		t.Errorf("list = %s", out)
	}

	code, out, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "it", "--restore-test")
	if code != 0 || !strings.Contains(out, "OK it ") || !strings.Contains(out, name+".accounts rows 3 restored 3 digest xxh64sum:") {
		t.Fatalf("verify: %d\n%s\n%s", code, out, stderr)
	}

	code, out, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "it", "--database", name+"="+copyName)
	if code != 0 {
		t.Fatalf("restore: %d\n%s\n%s", code, out, stderr)
	}
	if a, b := checksum(t, db, name+".accounts"), checksum(t, db, copyName+".accounts"); a != b || a == "" {
		t.Fatalf("CHECKSUM TABLE differs: %s vs %s", a, b)
	}

	// Corrupt the newest stream: verify exits 1 and names the object.
	obj := filepath.Join(dir, "backups", filepath.FromSlash(list[0]["object"].(string)))
	data, _ := os.ReadFile(obj)
	data[len(data)/2] ^= 0xff
	_ = os.WriteFile(obj, data, 0o600)
	code, out, _ = runOps(t, "--config", cfg, "backup", "verify", "--job", "it")
	if code != 1 || !strings.Contains(out, "MISMATCH "+list[0]["object"].(string)) {
		t.Fatalf("verify of a corrupt backup: code %d\n%s", code, out)
	}
	code, _, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "it", "--backup", "20200101T000000Z")
	if code != 3 || !strings.Contains(stderr, "no backup 20200101T000000Z") {
		t.Fatalf("restore of a missing backup: %d %s", code, stderr)
	}
	code, _, stderr = runOps(t, "--config", cfg, "backup", "run", "--job", "nope")
	if code != 2 || !strings.Contains(stderr, "--job nope: no such job (configured: it)") {
		t.Fatalf("unknown job: %d %s", code, stderr)
	}
}
