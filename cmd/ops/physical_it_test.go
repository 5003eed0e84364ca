package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

// ops backup run of a physical job, list --output json, restore --datadir
// into a fresh directory (exit 0), and again into the now full one (exit 2).
func TestPhysicalCLI(t *testing.T) {
	testenv.RequireIT(t)
	sock := testenv.Getenv("OPS_IT_MYSQL3_SOCKET", "/var/lib/ops-test/mariadb3/mysqld.sock")
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("mariadb3 is not running (scripts/services.sh start mariadb3): %v", err)
	}
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: phys
      method: physical
      mysql: {socket: %s, user: root}
      physical: {incremental: true}
      target: local
`, filepath.Join(dir, "locks"), filepath.Join(dir, "store"), sock))
	for i, args := range [][]string{{"backup", "run", "--job", "phys"}, {"backup", "run", "--job", "phys"}} {
		if code, out, stderr := runOps(t, append([]string{"--config", cfg}, args...)...); code != 0 || !strings.Contains(out, "backup.xbstream.zst") {
			t.Fatalf("run %d: exit %d\n%s\n%s", i, code, out, stderr)
		}
	}
	code, out, stderr := runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var list []struct{ ID, Method, Kind, Base string }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("list: exit %d %q %s", code, out, stderr)
	}
	if list[0].Method != "physical" || list[0].Kind != "incremental" || list[0].Base != list[1].ID || list[1].Kind != "full" || list[1].Base != "" {
		t.Fatalf("list = %+v", list)
	}
	dd := filepath.Join(dir, "restored")
	code, out, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "phys", "--datadir", dd)
	if code != 0 || !strings.Contains(out, "and 1 incremental") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dd, "ibdata1")); err != nil {
		t.Fatalf("no ibdata1 in the restored directory: %v", err)
	}
	if code, _, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "phys", "--datadir", dd); code != 2 {
		t.Fatalf("restore into a non-empty directory: exit %d, %s", code, stderr)
	}
	if code, out, _ = runOps(t, "--config", cfg, "backup", "verify", "--job", "phys"); code != 0 || !strings.HasPrefix(out, "OK phys") {
		t.Fatalf("verify: exit %d %q", code, out)
	}
	// The restore test: the chain prepared in a scratch directory, a
	// throw-away mariadbd on it, CHECK TABLE of every table.
	src, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS physical_it_cli", "CREATE DATABASE physical_it_cli",
		"CREATE TABLE physical_it_cli.t (id INT PRIMARY KEY, v TEXT, KEY (v(10)))", "INSERT INTO physical_it_cli.t SELECT seq, REPEAT('y', seq % 40) FROM physical_it_cli.seq_1_to_777"} {
		if _, err := src.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer src.Exec("DROP DATABASE IF EXISTS physical_it_cli")
	if code, _, stderr = runOps(t, "--config", cfg, "backup", "run", "--job", "phys"); code != 0 {
		t.Fatalf("run: exit %d %s", code, stderr)
	}
	code, out, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "phys", "--restore-test")
	if code != 0 || !strings.Contains(out, "OK       physical_it_cli.t rows 777 check OK") {
		t.Fatalf("verify --restore-test: exit %d\n%s\n%s", code, out, stderr)
	}
}
