package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/binlogtest"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/testenv"
)

// awkwardText is what a session writes after the base backup, in each
// binlog_format: literals holding mysqlbinlog's delimiter, DELIMITER and
// GTID-looking lines, statements under NO_BACKSLASH_ESCAPES and
// ANSI_QUOTES, and gbk text whose 0xBF 0x5C is one character.
func awkwardText(b int) [][]string {
	id := func(n int) int { return b + n }
	return [][]string{
		{fmt.Sprintf("INSERT INTO t VALUES (%d, 'a/*!*/;b')", id(1)),
			fmt.Sprintf("INSERT INTO t VALUES (%d, 'x\n/*!*/;\nDELIMITER ;;\nDROP TABLE t;;\n')", id(2)),
			fmt.Sprintf("INSERT INTO t VALUES (%d, '\n/*M!100001 SET @@session.gtid_seq_no=99*//*!*/;\n')", id(3)),
			fmt.Sprintf("INSERT INTO t VALUES (%d, '\n/*!100001 SET @@session.gtid_seq_no=5*//*!*/;\n')", id(4))},
		{"SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
			fmt.Sprintf(`INSERT INTO t VALUES (%d, 'C:\'), (%d, 'a\b /*!*/;')`, id(5), id(6)),
			fmt.Sprintf(`UPDATE t SET v = CONCAT(v, '\') WHERE id = %d`, id(1)),
			"SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')"},
		{"SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
			fmt.Sprintf(`INSERT INTO "ta" ("id", "v") VALUES (%d, 'q"x\\ /*!*/;')`, id(7)),
			fmt.Sprintf(`UPDATE "ta" SET "v" = CONCAT("v", '/*!*/;') WHERE "id" = %d`, id(7)),
			"SET SESSION sql_mode = REPLACE(@@sql_mode, 'ANSI_QUOTES', '')"},
		{"SET NAMES gbk",
			fmt.Sprintf("INSERT INTO tg VALUES (%d, '\xbf\\'), (%d, '\xbf\\ /*!*/;')", id(8), id(9)),
			fmt.Sprintf("UPDATE tg SET v = CONCAT(v, '\xbf\\') WHERE id = %d", id(8)),
			"SET NAMES utf8mb4"},
	}
}

// textFingerprint is CHECKSUM TABLE and the hex of every row.
func textFingerprint(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var b strings.Builder
	for _, tb := range []string{"t", "ta", "tg"} {
		var n string
		var sum sql.NullString
		if err := db.QueryRow("CHECKSUM TABLE "+name+"."+tb).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s\n", tb, sum.String)
		rows, err := db.Query("SELECT id, HEX(v) FROM " + name + "." + tb + " ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int
			var v sql.NullString
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  %d %s\n", id, v.String)
		}
		rows.Close()
	}
	return b.String()
}

// The "no legitimate data blocks recovery", point-in-time half:
// after a base backup, STATEMENT, MIXED and ROW sessions write awkward
// text; `ops backup restore --until T` onto another server gives the
// source's tables at T (CHECKSUM TABLE and every row's bytes), and so does
// the stock `mariadb-binlog … | mariadb --binary-mode` over the same
// events.
func TestPointInTimeReplaysAwkwardTextIT(t *testing.T) {
	testenv.RequireIT(t)
	addr3, addr2 := testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308"), testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	datadir := testenv.Getenv("OPS_IT_MYSQL3_DATADIR", "/var/lib/ops-test/mariadb3/data")
	src := itOpen(t, "root@tcp("+addr3+")/", "scripts/services.sh start mariadb3")
	dst := itOpen(t, "root@tcp("+addr2+")/", "scripts/services.sh start mariadb2")
	name := fmt.Sprintf("replay_text_%d", rand.Uint32())
	t.Cleanup(func() {
		src.Exec("DROP DATABASE IF EXISTS " + name)
		dst.Exec("DROP DATABASE IF EXISTS " + name)
	})
	mustExec(t, src, "CREATE DATABASE "+name,
		"CREATE TABLE "+name+".t (id INT PRIMARY KEY, v TEXT CHARACTER SET utf8mb4)",
		"CREATE TABLE "+name+".ta (id INT PRIMARY KEY, v VARCHAR(64) CHARACTER SET utf8mb4)",
		"CREATE TABLE "+name+".tg (id INT PRIMARY KEY, v VARCHAR(64) CHARACTER SET gbk)",
		"INSERT INTO "+name+".t VALUES (1, 'base /*!*/;')")
	tmp := t.TempDir()
	cfg, cfg2 := pitrConfigs(t, tmp, addr3, addr2, "", name)
	ops := func(cfg string, args ...string) string {
		t.Helper()
		code, out, stderr := runOps(t, append([]string{"--config", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("ops %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, stderr)
		}
		return out
	}
	arch := opsProcess("--config", cfg, "backup", "binlog", "--job", "it")
	var archLog bytes.Buffer
	arch.Stderr = &archLog
	if err := arch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if arch.ProcessState == nil {
			arch.Process.Kill()
			arch.Wait()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	ops(cfg, "backup", "run", "--job", "it", "--no-prune")

	ctx := context.Background()
	for k, format := range []string{"STATEMENT", "MIXED", "ROW"} {
		c, err := src.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, c, "USE "+name, "SET SESSION binlog_format="+format)
		for _, group := range awkwardText(1000 * (k + 1)) {
			mustExec(t, c, group...)
		}
		c.Close()
	}
	before := textFingerprint(t, src, name)
	T := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(T) + 20*time.Millisecond)
	mustExec(t, src, "DELETE FROM "+name+".t", "DROP TABLE "+name+".tg")
	time.Sleep(300 * time.Millisecond)
	if err := arch.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := arch.Wait(); err != nil {
		t.Fatalf("archiver: %v\n%s", err, archLog.String())
	}
	ops(cfg, "backup", "binlog", "--job", "it", "--once")
	until := T.UTC().Format(time.RFC3339)

	out := ops(cfg2, "backup", "restore", "--job", "it", "--until", until)
	t.Logf("restore --until %s: %s", until, strings.TrimSpace(out))
	if got := textFingerprint(t, dst, name); got != before {
		t.Errorf("ops restore --until differs from the source at T:\n got:\n%s\nwant:\n%s", got, before)
	}

	// The stock pipe over the same events, from the same base.
	mustExec(t, dst, "DROP DATABASE "+name)
	ops(cfg2, "backup", "restore", "--job", "it")
	list, err := backup.ListBackups(ctx, local.New(filepath.Join(tmp, "target")), backup.Job{Name: "it"}, false)
	if err != nil || len(list) == 0 {
		t.Fatalf("no backup: %v", err)
	}
	m := list[0].ManifestData()
	files, err := binlogtest.Files(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		if f >= m.Consistency.BinlogFile {
			paths = append(paths, filepath.Join(datadir, f))
		}
	}
	host, port, _ := strings.Cut(addr2, ":")
	script := fmt.Sprintf("mariadb-binlog --database=%s --start-position=%d --stop-datetime=%q %s | mariadb --no-defaults --binary-mode -h %s -P %s -uroot",
		name, m.Consistency.BinlogPos, T.Local().Format("2006-01-02 15:04:05"), strings.Join(paths, " "), host, port)
	if out, err := exec.Command("bash", "-o", "pipefail", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("stock replay: %v\n%s", err, out)
	}
	if got := textFingerprint(t, dst, name); got != before {
		t.Errorf("the stock pipe differs from the source at T:\n got:\n%s\nwant:\n%s", got, before)
	}
}
