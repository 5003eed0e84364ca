package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// TestPointInTimeReplaceKeepsTheOriginalIT: `restore --until … --replace`
// whose replay fails after the base backup was restored (the source wrote
// a row without logging it, then logged an UPDATE of it: the replay finds
// no such row in the restored copy and the client stops) exits 3 and
// leaves the databases it was to replace as they were (CHECKSUM TABLE and
// table list), with no temporary or holding database behind. The same
// restore to a point before that UPDATE replaces them with the content the
// source had at the point.
func TestPointInTimeReplaceKeepsTheOriginalIT(t *testing.T) {
	p := newPitrIT(t)
	p.ops(p.cfg, "backup", "run", "--job", "it", "--no-prune")
	mustExec(t, p.root, "INSERT INTO "+p.a+".t1 (v, n) VALUES ('after the backup', 1)", "UPDATE "+p.b+".t2 SET n = n + 1 WHERE id < 100")
	p.tables = []string{p.a + ".t1", p.b + ".t2"}
	p.beforeT = checksums(t, p.root, p.tables, nil)
	T1 := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(T1) + 20*time.Millisecond)
	// The divergence: a row the binary log never saw, then a logged UPDATE
	// of it (ROW format: the replay looks the row up and does not find it).
	conn, err := p.root.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, conn, "SET SESSION sql_log_bin = 0", "INSERT INTO "+p.a+".t1 (id, v, n) VALUES (900001, 'unlogged', 1)",
		"SET SESSION sql_log_bin = 1", "SET SESSION binlog_format = 'ROW'", "UPDATE "+p.a+".t1 SET v = 'logged update' WHERE id = 900001")
	conn.Close()
	T2 := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(T2) + 20*time.Millisecond)
	mustExec(t, p.root, "DELETE FROM "+p.a+".t1")
	p.ops(p.cfg, "backup", "binlog", "--job", "it", "--once")

	// The originals on the other server: not empty, other tables.
	mustExec(t, p.root2, "CREATE DATABASE "+p.a, "CREATE DATABASE "+p.b,
		"CREATE TABLE "+p.a+".orig (id INT PRIMARY KEY, v VARCHAR(64))",
		"INSERT INTO "+p.a+".orig SELECT seq, MD5(seq) FROM "+p.a+".seq_1_to_300",
		"CREATE TABLE "+p.b+".t2 (id INT PRIMARY KEY, note TEXT)",
		"INSERT INTO "+p.b+".t2 VALUES (1, 'original b')")
	origTables := []string{p.a + ".orig", p.b + ".t2"}
	orig := checksums(t, p.root2, origTables, nil)
	origList := tableList(t, p.root2, p.a, p.b)
	leftovers := func() int {
		var n int
		for _, d := range []string{p.a, p.b} {
			var k int
			if err := p.root2.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", strings.ReplaceAll(d, "_", `\_`)+`\_\_ops\_%`).Scan(&k); err != nil {
				t.Fatal(err)
			}
			n += k
		}
		return n
	}

	code, out, stderr := runOps(t, "--config", p.cfg2, "backup", "restore", "--job", "it", "--until", T2.UTC().Format(time.RFC3339), "--replace")
	if code != 3 {
		t.Fatalf("restore --until --replace whose replay fails: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "replaying the binary log") {
		t.Errorf("the failure is not the replay's:\n%s", stderr)
	}
	t.Logf("refused: %s", lastLine(stderr))
	sameSums(t, "the originals after a failed replay", checksums(t, p.root2, origTables, nil), orig)
	if got := tableList(t, p.root2, p.a, p.b); got != origList {
		t.Errorf("the originals' tables after a failed replay: %s, want %s", got, origList)
	}
	if n := leftovers(); n != 0 {
		t.Errorf("%d temporary or holding databases left behind", n)
	}

	out = p.ops(p.cfg2, "backup", "restore", "--job", "it", "--until", T1.UTC().Format(time.RFC3339), "--replace")
	t.Logf("restore --until --replace: %s", strings.TrimSpace(out))
	sameSums(t, "replaced", checksums(t, p.root2, p.tables, nil), p.beforeT)
	if got, want := tableList(t, p.root2, p.a, p.b), p.a+".t0 "+p.a+".t1 "+p.b+".t2"; got != want {
		t.Errorf("tables after the replace: %s, want %s", got, want)
	}
	if n := leftovers(); n != 0 {
		t.Errorf("%d temporary or holding databases left behind", n)
	}
}

func tableList(t *testing.T, db *sql.DB, dbs ...string) string {
	t.Helper()
	var out []string
	for _, d := range dbs {
		rows, err := db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", d)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			out = append(out, d+"."+n)
		}
		rows.Close()
	}
	return strings.Join(out, " ")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
