package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
      retention: {keep_last: 1}
`, filepath.Join(dir, "locks"), filepath.Join(dir, "store"), sock))
	// keep_last: 1 throughout: each run prunes, and keeps the whole chain
	// of the newest backup.
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
	time.Sleep(1050 * time.Millisecond) // tables written in the second of the backup's point are not recorded
	if code, _, stderr = runOps(t, "--config", cfg, "backup", "run", "--job", "phys"); code != 0 {
		t.Fatalf("run: exit %d %s", code, stderr)
	}
	code, out, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "phys", "--restore-test")
	if code != 0 || !strings.Contains(out, "OK       physical_it_cli.t rows 777 check OK rows and digest as recorded") {
		t.Fatalf("verify --restore-test: exit %d\n%s\n%s", code, out, stderr)
	}
	// One flipped byte in the stored stream of the newest backup: the
	// restore refuses the chain before it extracts anything.
	objs, err := filepath.Glob(filepath.Join(dir, "store", "phys", "*", "backup.xbstream.zst"))
	if err != nil || len(objs) != 3 {
		t.Fatalf("stored streams: %q %v", objs, err)
	}
	newest := objs[len(objs)-1] // IDs sort by time
	data, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(newest, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered")
	code, _, stderr = runOps(t, "--config", cfg, "backup", "restore", "--job", "phys", "--datadir", tampered)
	if code == 0 || !strings.Contains(stderr, "does not match the manifest") {
		t.Fatalf("restore of a tampered chain: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(tampered); !os.IsNotExist(err) {
		t.Fatalf("the data directory of a tampered chain exists (%v): something was extracted", err)
	}
	// A new full: the old chain (full + 2 incrementals) is no longer needed
	// by a kept backup, and goes as a whole.
	if code, out, stderr = runOps(t, "--config", cfg, "backup", "run", "--job", "phys", "--full"); code != 0 {
		t.Fatalf("run --full: exit %d %s %s", code, out, stderr)
	}
	code, out, stderr = runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Kind != "full" {
		t.Fatalf("list after a new full with keep_last: 1: exit %d %q %s", code, out, stderr)
	}
	if objs, _ := filepath.Glob(filepath.Join(dir, "store", "phys", "*", "backup.xbstream.zst")); len(objs) != 1 {
		t.Fatalf("stored streams after the old chain was pruned: %q", objs)
	}
}

// The rows and digests a physical backup records are read in snapshots
// opened while mariadb-backup holds commits, and kept only when their
// binary log position is the backup's. Under a steady stream of commits
// during the backup, the restored copy must then equal the record (verify
// --restore-test says "as recorded"), or, when the snapshots came too late,
// the manifest must record nothing and the log say why: never a record
// that differs from the copy.
func TestPhysicalDigestsAtTheBackupPointIT(t *testing.T) {
	testenv.RequireIT(t)
	sock := testenv.Getenv("OPS_IT_MYSQL3_SOCKET", "/var/lib/ops-test/mariadb3/mysqld.sock")
	src, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS physical_it_busy", "CREATE DATABASE physical_it_busy",
		"CREATE TABLE physical_it_busy.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, KEY (v))"} {
		if _, err := src.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer src.Exec("DROP DATABASE IF EXISTS physical_it_busy")
	time.Sleep(1050 * time.Millisecond) // tables written in the second of the backup's point are not recorded
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: busy
      method: physical
      mysql: {socket: %s, user: root}
      target: local
`, filepath.Join(dir, "locks"), filepath.Join(dir, "store"), sock))
	recorded := 0
	for run := range 2 {
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				if _, err := src.Exec("INSERT INTO physical_it_busy.t (v) VALUES (?)", n); err == nil {
					n++
				}
			}
		}()
		code, _, stderr := runOps(t, "--config", cfg, "--log-format", "json", "backup", "run", "--job", "busy")
		close(stop)
		commits := <-done
		if code != 0 {
			t.Fatalf("run %d: exit %d %s", run, code, stderr)
		}
		if commits < 10 {
			t.Fatalf("run %d: only %d commits while the backup ran: the test shows nothing", run, commits)
		}
		code, out, vstderr := runOps(t, "--config", cfg, "backup", "verify", "--job", "busy", "--restore-test")
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "physical_it_busy.t ") {
				line = l
			}
		}
		switch {
		case code == 0 && strings.HasPrefix(line, "OK ") && strings.HasSuffix(line, "rows and digest as recorded"):
			recorded++
		case code == 0 && strings.HasSuffix(line, "(not recorded in the manifest)") && strings.Contains(stderr, "commits resumed first"):
			t.Logf("run %d: the snapshots came after the backup's point and were not kept: %s", run, stderr)
		default:
			t.Fatalf("run %d (%d commits during the backup): verify --restore-test exit %d, line %q\n%s\n%s\nbackup run said: %s", run, commits, code, line, out, vstderr, stderr)
		}
		t.Logf("run %d: %d commits during the backup: %s", run, commits, line)
	}
	if recorded == 0 {
		t.Fatalf("no run recorded digests at the backup's point")
	}
}
