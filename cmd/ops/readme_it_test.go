package main

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/internal/testenv"
)

// readmeGuide is the README's "Replace your cron script in ten minutes"
// section: its SQL, its ops.yaml and its command lines, as a user copies them.
type readmeGuide struct {
	sql, yaml string
	cmds      []string // every line starting "ops --config" in its shell blocks, in order
	cron      []string // the crontab lines' commands
}

func readReadmeGuide(t *testing.T) readmeGuide {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Replace your cron script in ten minutes\n")
	if !ok {
		t.Fatal(`README.md has no "## Replace your cron script in ten minutes" section`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var g readmeGuide
	for rest := sec; ; {
		var block string
		_, after, ok := strings.Cut(rest, "\n```")
		if !ok {
			break
		}
		lang, after, _ := strings.Cut(after, "\n")
		block, rest, _ = strings.Cut(after, "\n```")
		switch lang {
		case "sql":
			g.sql += block + "\n"
		case "yaml":
			g.yaml = block + "\n"
		case "sh":
			for _, l := range strings.Split(block, "\n") {
				if strings.HasPrefix(l, "ops --config") {
					cmd, _, _ := strings.Cut(l, "#")
					g.cmds = append(g.cmds, strings.TrimSpace(cmd))
				}
			}
		case "":
			for _, l := range strings.Split(block, "\n") {
				if f := strings.Fields(l); len(f) > 6 && f[6] == "ops" { // m h dom mon dow user command
					g.cron = append(g.cron, strings.Join(f[6:], " "))
				}
			}
		}
	}
	if g.sql == "" || g.yaml == "" || len(g.cmds) != 8 || len(g.cron) != 2 {
		t.Fatalf("the README's guide changed shape: %d bytes of SQL, %d of YAML, %d commands %q, cron %q", len(g.sql), len(g.yaml), len(g.cmds), g.cmds, g.cron)
	}
	return g
}

// The README's ten-minute guide, run as written against the test bed: its
// accounts (created with its SQL), its ops.yaml (Swift, age, retention,
// webhook, e-mail, restore_mysql, binlog), `config check --connect`, the
// first backup and its restore test, the crontab's binlog line, a first
// restore under another name and a point-in-time recovery of a dropped
// table. Only names and addresses are substituted: the test's own database
// and account names, the test Swift, a generated age key, a local webhook,
// the test Postfix, and the source server (the one with the binary log on).
func TestReadmeTenMinutesIT(t *testing.T) {
	testenv.RequireIT(t)
	g := readReadmeGuide(t)
	n := rand.Uint32() % 100000
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	hooks := &webhookLog{}
	srv := httptest.NewServer(hooks)
	defer srv.Close()
	swiftKey, err := os.ReadFile(testenv.Getenv("OPS_IT_SWIFT_KEY_FILE", "/var/lib/ops-test/swift/tester.key"))
	if err != nil {
		t.Fatalf("the test Swift's key (scripts/services.sh start swift): %v", err)
	}
	pw := fmt.Sprintf("pw-%d", n)
	files := map[string]string{"mysql.pass": pw + "b\n", "restore.pass": pw + "r\n", "swift.key": string(swiftKey), "age.key": id.String() + "\n"}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	shop, crm, bk, rs := fmt.Sprintf("rdmshop%d", n), fmt.Sprintf("rdmcrm%d", n), fmt.Sprintf("rdmbk%d", n), fmt.Sprintf("rdmrs%d", n)
	sw := swiftIT{auth: testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"), user: testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester"),
		keyFile: testenv.Getenv("OPS_IT_SWIFT_KEY_FILE", "/var/lib/ops-test/swift/tester.key"), container: fmt.Sprintf("ops_it_readme_%d", n)}
	until := time.Now().Add(-time.Hour) // replaced below, once T is known
	sub := func(s string) string {
		r := strings.NewReplacer(
			"'backup'@", "'"+bk+"'@", "user: backup,", "user: "+bk+",",
			"'restore'@", "'"+rs+"'@", "user: restore,", "user: "+rs+",",
			"shop", shop, "crm", crm, "/etc/ops/", dir+"/",
			"/run/mysqld/mysqld.sock", testenv.Getenv("OPS_IT_MYSQL3_SOCKET", "/var/lib/ops-test/mariadb3/mysqld.sock"),
			"https://objectstorage.example.net/auth/v1.0", testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
			`"SLOS123-1:backup"`, `"`+testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester")+`"`,
			"mysql_backups", sw.container,
			"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", id.Recipient().String(),
			"https://hc-ping.com/YOUR-UUID", srv.URL+"/ping",
			`smtp: "mail.example.org:25"`, `smtp: "`+testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")+`", ca_file: `+testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt"),
			"dba@example.org", "root@localhost", "ops@db1.example.org", "ops@localhost",
			"2026-12-04 15:01:00", until.Format("2006-01-02 15:04:05"),
		)
		return r.Replace(s)
	}
	root := itOpen(t, "root@tcp("+testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308")+")/", "scripts/services.sh start mariadb3")
	t.Cleanup(func() {
		if sw.count(t, sw.container) > 0 {
			sw.cli(t, "delete", sw.container)
		}
		for _, q := range []string{"DROP USER IF EXISTS '" + bk + "'@'localhost'", "DROP USER IF EXISTS '" + rs + "'@'localhost'",
			"DROP DATABASE IF EXISTS " + shop, "DROP DATABASE IF EXISTS " + crm, "DROP DATABASE IF EXISTS " + shop + "_restored", "DROP DATABASE IF EXISTS " + shop + "_1501"} {
			root.Exec(q)
		}
	})
	mustExec(t, root, "CREATE DATABASE "+shop, "CREATE DATABASE "+crm,
		"CREATE TABLE "+shop+".orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT, KEY (item))",
		"CREATE TABLE "+crm+".customers (id INT PRIMARY KEY, name VARCHAR(40))",
		"INSERT INTO "+shop+".orders SELECT seq, CONCAT('item-', seq % 97), seq % 7 FROM "+shop+".seq_1_to_5000",
		"INSERT INTO "+crm+".customers SELECT seq, MD5(seq) FROM "+crm+".seq_1_to_500")
	sqlText := sub(g.sql)
	sqlText = strings.Replace(sqlText, "IDENTIFIED BY '…'", "IDENTIFIED BY '"+pw+"b'", 1)
	sqlText = strings.Replace(sqlText, "IDENTIFIED BY '…'", "IDENTIFIED BY '"+pw+"r'", 1)
	for _, q := range strings.Split(sqlText, ";\n") {
		var lines []string
		for _, l := range strings.Split(q, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
			mustExec(t, root, q)
		}
	}
	cfg := filepath.Join(dir, "ops.yaml")
	if err := os.WriteFile(cfg, []byte(sub(g.yaml)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OPS_LOCK_DIR", filepath.Join(dir, "locks"))
	runGuide := func(line string) string {
		t.Helper()
		args := strings.Fields(sub(line))[1:]
		for i, a := range args { // the shell's quotes around the time
			if strings.HasPrefix(a, `"`) {
				args = append(args[:i], append([]string{strings.Trim(a+" "+args[i+1], `"`)}, args[i+2:]...)...)
				break
			}
		}
		code, out, stderr := runOps(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", line, code, out, stderr)
		}
		t.Logf("%s:\n%s", line, out)
		return out + stderr
	}
	orders := []string{shop + ".orders"}
	// config check --connect; the first backup and its restore test.
	runGuide(g.cmds[0])
	runGuide(g.cmds[1])
	atBackup := checksums(t, root, orders, nil)
	// The application writes (on a server that writes nothing there is no
	// event to archive, and verify says that nothing is archived yet).
	mustExec(t, root, "INSERT INTO "+crm+".customers VALUES (501, 'new')")
	runGuide(g.cmds[2])
	runGuide(g.cmds[3])
	// The day goes on, then someone drops the table.
	mustExec(t, root, "UPDATE "+shop+".orders SET qty = qty + 1 WHERE id % 3 = 0", "INSERT INTO "+shop+".orders VALUES (6001, 'late', 1)")
	time.Sleep(1100 * time.Millisecond) // event times have a one-second resolution
	until = time.Now()
	atT := checksums(t, root, orders, nil)
	time.Sleep(1100 * time.Millisecond)
	mustExec(t, root, "DROP TABLE "+shop+".orders")
	if out := runGuide(g.cron[1]); out != "" {
		t.Fatalf("-q printed %q on success", out)
	}
	// A first restore under another name: the backup as it was.
	runGuide(g.cmds[4])
	runGuide(g.cmds[5])
	sameSums(t, "restore --database shop=shop_restored", checksums(t, root, orders, map[string]string{shop: shop + "_restored"}), atBackup)
	// The point-in-time recovery: the table as it was at T.
	runGuide(g.cmds[6])
	runGuide(g.cmds[7])
	sameSums(t, "restore --until T --database shop=shop_1501", checksums(t, root, orders, map[string]string{shop: shop + "_1501"}), atT)
	if log := hooks.String(); strings.Count(log, "POST /ping/start ") != 1 || strings.Count(log, "POST /ping ") != 1 {
		t.Errorf("webhook: want one start and one success, got:\n%s", log)
	}
}
