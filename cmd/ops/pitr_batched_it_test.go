package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv/faults"
)

// The batched replay (the default) against the stock pipe (--replay
// stock) over the same events onto mariadb2, in ROW, MIXED and STATEMENT:
// multi-statement transactions, savepoints, non-deterministic functions
// (RAND, NOW, LAST_INSERT_ID, CONNECTION_ID, user variables; UUID outside
// STATEMENT, where the server logs it unsafely), a MyISAM table (its
// statements close a batch), a transaction writing InnoDB and MyISAM,
// DDL half-way. CHECKSUM TABLE of every table is identical between the
// two replays and to the source just before the point; the target's
// global variables are the same before and after.
func TestReplayBatchedEqualsStockIT(t *testing.T) {
	for _, format := range []string{"ROW", "MIXED", "STATEMENT"} {
		t.Run(format, func(t *testing.T) {
			p := newPitrITNamed(t, "rb_"+strings.ToLower(format))
			mustExec(t, p.root, "CREATE TABLE "+p.a+".m (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), ts DATETIME) ENGINE=MyISAM")
			p.ops(p.cfg, "backup", "run", "--job", "it", "--no-prune")
			batchedWorkload(t, p, format, 400)
			p.tables = []string{p.a + ".t0", p.a + ".t1", p.a + ".m", p.a + ".t4", p.b + ".t2"}
			p.beforeT = checksums(t, p.root, p.tables, nil)
			T := time.Now().Truncate(time.Second).Add(time.Second)
			time.Sleep(time.Until(T) + 20*time.Millisecond)
			mustExec(t, p.root, "DELETE FROM "+p.a+".t1", "DELETE FROM "+p.a+".m", "UPDATE "+p.b+".t2 SET n = 0")
			p.ops(p.cfg, "backup", "binlog", "--job", "it", "--once")
			until := T.UTC().Format(time.RFC3339)

			globals := globalVariables(t, p.root2)
			names := func(s string) map[string]string { return map[string]string{p.a: p.a + s, p.b: p.b + s} }
			t.Cleanup(func() {
				for _, s := range []string{"_bat", "_stk"} {
					for _, db := range names(s) {
						p.root2.Exec("DROP DATABASE IF EXISTS " + db)
					}
				}
			})
			sums := map[string]map[string]string{}
			for _, mode := range []string{"batched", "stock"} {
				m := names("_" + mode[:3])
				start := time.Now()
				out := p.ops(p.cfg2, "backup", "restore", "--job", "it", "--until", until, "--replay", mode,
					"--database", p.a+"="+m[p.a], "--database", p.b+"="+m[p.b])
				t.Logf("--replay %s: %s (%s)", mode, strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
				sums[mode] = checksums(t, p.root2, p.tables, m)
			}
			sameSums(t, format+": batched against stock", sums["batched"], sums["stock"])
			sameSums(t, format+": batched against the source before T", sums["batched"], p.beforeT)
			sameGlobals(t, globals, globalVariables(t, p.root2))
		})
	}
}

// batchedWorkload writes n transactions of many kinds in one session of
// binlog_format format, on a (its t1, m, and a table t4 created half-way)
// and b (t2).
func batchedWorkload(t *testing.T, p *pitrIT, format string, n int) {
	t.Helper()
	ctx := context.Background()
	c, err := p.root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustExec(t, c, "SET SESSION binlog_format="+format, "USE "+p.a, "SET @x = 0")
	uuid := "UUID()"
	if format == "STATEMENT" {
		uuid = "MD5(RAND())" // UUID() is unsafe for statement logging: each replay gets its own
	}
	for i := range n {
		var err error
		switch {
		case i == n/3:
			mustExec(t, c, "ALTER TABLE t1 ADD COLUMN w INT NOT NULL DEFAULT 7",
				"CREATE TABLE t4 (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), n INT)")
		case i == 2*n/3:
			mustExec(t, c, "CREATE INDEX t4_n ON t4 (n)", "ALTER TABLE t1 DROP COLUMN w")
		case i%50 == 0:
			mustExec(t, c, fmt.Sprintf("INSERT INTO m (v, ts) VALUES (CONCAT('m', @x := @x + 1, '-', %d), NOW())", i))
		case i%70 == 1:
			err = inTx(c, fmt.Sprintf("INSERT INTO t1 (v, n) VALUES ('sp', %d)", i), "SAVEPOINT s",
				fmt.Sprintf("INSERT INTO t1 (v, n) VALUES ('rolled back', %d)", i), "ROLLBACK TO SAVEPOINT s",
				"UPDATE t1 SET n = n + 1 WHERE v = 'sp'")
		case i%90 == 2:
			err = inTx(c, fmt.Sprintf("INSERT INTO t1 (v, n) VALUES ('both', %d)", i),
				"INSERT INTO m (v, ts) VALUES (CONCAT('tx', CONNECTION_ID() > 0), NOW())")
		case i%40 == 3:
			err = inTx(c, "USE "+p.b, fmt.Sprintf("UPDATE t2 SET v = MD5(CONCAT(v, %d)), n = n + 1 WHERE id %% 13 = %d", i, i%13), "USE "+p.a)
		case i > n/3 && i%3 == 0:
			err = inTx(c, fmt.Sprintf("INSERT INTO t4 (v, n) VALUES (%s, %d), (CONCAT('t', RAND()), LAST_INSERT_ID())", uuid, i))
		default:
			err = inTx(c, fmt.Sprintf("INSERT INTO t1 (v, n) VALUES (CONCAT('r', RAND()), %d), (%s, %d)", i, uuid, i+1),
				"INSERT INTO t1 (v, n) VALUES (CONCAT('li', LAST_INSERT_ID()), NULL)",
				fmt.Sprintf("UPDATE t1 SET v = CONCAT(LEFT(v, 40), 'u'), n = n + 1 WHERE id %% 97 = %d", i%97),
				fmt.Sprintf("DELETE FROM t1 WHERE n = %d", i*3))
		}
		if err != nil {
			t.Fatalf("workload %s, transaction %d: %v", format, i, err)
		}
	}
	mustExec(t, c, "USE "+p.a)
}

// A batched replay cut half-way (the target's connections reset for a
// second through a proxy, as the statements of source transaction 1500
// of 3000 go by: the batch holding it may or may not have committed), with
// --keep-partial: exit 3, the message names the last source position
// committed on the target (read back from the replay's ledger once the
// link is back), and what is kept is exactly the stock pipe's
// replay up to that position (--until-position): a state the source had.
// The target's global variables are as before.
func TestReplayKeepPartialIT(t *testing.T) {
	p := newPitrITNamed(t, "rb_keep")
	proxy := faults.New(t, p.addr2)
	_, cfgProxy := pitrConfigs(t, filepath.Dir(p.dir), p.addr3, "127.0.0.1:"+proxy.Port(), "threads: 2", p.a, p.b)
	// in clear through the proxy, so that it sees the statements go by
	b, err := os.ReadFile(cfgProxy)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgProxy, []byte(strings.Replace(string(b), "user: root}", "user: root, tls: {mode: disabled}}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p.ops(p.cfg, "backup", "run", "--job", "it", "--no-prune")
	c, err := p.root.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "SET SESSION binlog_format=STATEMENT", "USE "+p.a)
	for i := range 3000 {
		if err := inTx(c, fmt.Sprintf("INSERT INTO t1 (v, n) VALUES ('marker-%d', %d)", i, i),
			fmt.Sprintf("UPDATE t1 SET n = n + 1 WHERE id %% 89 = %d", i%89)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	T := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(T) + 20*time.Millisecond)
	mustExec(t, p.root, "UPDATE "+p.b+".t2 SET n = 0")
	p.ops(p.cfg, "backup", "binlog", "--job", "it", "--once")
	until := T.UTC().Format(time.RFC3339)

	kept, check := p.a+"_kept", p.a+"_check"
	t.Cleanup(func() {
		p.root2.Exec("DROP DATABASE IF EXISTS " + kept)
		p.root2.Exec("DROP DATABASE IF EXISTS " + check)
	})
	globals := globalVariables(t, p.root2)
	var done <-chan struct{}
	fired := proxy.When(faults.Up, "'marker-1500'", func() { done = proxy.Outage(time.Second) })
	code, out, stderr := runOps(t, "--config", cfgProxy, "backup", "restore", "--job", "it", "--until", until,
		"--database", p.a+"="+kept, "--keep-partial")
	if !fired() {
		t.Fatalf("the cut never came: exit %d\n%s\n%s", code, out, stderr)
	}
	<-done
	m := regexp.MustCompile(`every source transaction up to source position (\S+) is committed on the target \((\d+) of them`).FindStringSubmatch(stderr)
	if code != 3 || m == nil || strings.Contains(stderr, "may be too") {
		t.Fatalf("replay cut half-way: exit %d (want 3 naming the last committed source position)\n%s\n%s", code, out, stderr)
	}
	t.Logf("the error: %s", strings.TrimSpace(stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:]))
	if countDBs(t, p.root2, kept) != 1 {
		t.Fatalf("--keep-partial: %s was dropped", kept)
	}
	p.ops(p.cfg2, "backup", "restore", "--job", "it", "--until-position", m[1], "--replay", "stock", "--database", p.a+"="+check)
	tables := []string{p.a + ".t0", p.a + ".t1"}
	got, want := checksums(t, p.root2, tables, map[string]string{p.a: kept}), checksums(t, p.root2, tables, map[string]string{p.a: check})
	t.Logf("kept after the cut (%s transactions committed, up to %s): %v", m[2], m[1], got)
	sameSums(t, "the kept state against the stock replay up to the named position", got, want)
	if got[p.a+".t1"] == checksums(t, p.root, tables[1:], nil)[p.a+".t1"] {
		t.Error("the kept state is the source's whole log: the cut came too late to test anything")
	}
	sameGlobals(t, globals, globalVariables(t, p.root2))
}

// globalVariables are the server's global variables, less the GTID
// positions (other tests' writes move them).
func globalVariables(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query("SHOW GLOBAL VARIABLES")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k, "gtid_") {
			out[k] = v.String
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameGlobals(t *testing.T, before, after map[string]string) {
	t.Helper()
	var diff []string
	for k, v := range before {
		if after[k] != v {
			diff = append(diff, fmt.Sprintf("%s: %q → %q", k, v, after[k]))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 || len(after) != len(before) {
		t.Errorf("the target's global variables changed (%d before, %d after): %v", len(before), len(after), diff)
	}
}
