package dump

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// Views across databases, on a server that has none of them: a view of a
// database that sorts first reads a later one (its section must come
// after), and two databases read each other (their views wait at the end).
// Both Restore and the stock client load the stream, and every view reads
// what it read on the source.
func TestCrossDatabaseViewsLoad(t *testing.T) {
	testenv.RequireIT(t)
	ctx := context.Background()
	base := mysqltest.UniqueName("ops_it_xv_")
	a, b, c, d := base+"_a", base+"_b", base+"_c", base+"_d"
	src, tgtM, tgt := mysqltest.Servers(t, a, b, c, d)
	s := mysqltest.NewSession(t, src)
	q := sqltext.QuoteIdent
	s.Exec("CREATE DATABASE "+q(a), "CREATE DATABASE "+q(b), "CREATE DATABASE "+q(c), "CREATE DATABASE "+q(d),
		"CREATE TABLE "+q(b)+".t (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO "+q(b)+".t VALUES (1, 'one'), (2, 'two')",
		"CREATE TABLE "+q(a)+".own (id INT PRIMARY KEY)", "INSERT INTO "+q(a)+".own VALUES (2)",
		"CREATE VIEW "+q(a)+".reads_b AS SELECT t.v FROM "+q(b)+".t JOIN "+q(a)+".own USING (id)",
		"CREATE TABLE "+q(c)+".t (id INT PRIMARY KEY)", "INSERT INTO "+q(c)+".t VALUES (1)",
		"CREATE TABLE "+q(d)+".t (id INT PRIMARY KEY)", "INSERT INTO "+q(d)+".t VALUES (1), (2)",
		"CREATE VIEW "+q(c)+".reads_d AS SELECT COUNT(*) AS n FROM "+q(d)+".t",
		"CREATE VIEW "+q(d)+".reads_c AS SELECT COUNT(*) AS n FROM "+q(c)+".t",
		"CREATE VIEW "+q(d)+".reads_c_view AS SELECT n + 10 AS n FROM "+q(c)+".reads_d")
	views := map[string]string{a + ".reads_b": "two", c + ".reads_d": "2", d + ".reads_c": "1", d + ".reads_c_view": "12"}

	var dumpOut bytes.Buffer
	if _, err := Dump(ctx, DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{a, b, c, d}, Compression: "zstd"}, &dumpOut); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	text := mysqltest.DecompressAll(t, dumpOut.Bytes())
	for _, n := range []string{b, a} { // a's section after b's
		if strings.Count(text, "USE "+q(n)+";\n") != 1 {
			t.Errorf("%s is used %d times", n, strings.Count(text, "USE "+q(n)+";\n"))
		}
	}
	if strings.Index(text, "USE "+q(a)+";") < strings.Index(text, "USE "+q(b)+";") {
		t.Errorf("a's section comes before b's, whose table its view reads")
	}
	check := func(label string) {
		t.Helper()
		ts := mysqltest.NewSession(t, tgt)
		for v, want := range views {
			db, name, _ := strings.Cut(v, ".")
			if got := ts.One("SELECT GROUP_CONCAT(" + map[bool]string{true: "v", false: "n"}[strings.HasSuffix(v, "reads_b")] + ") FROM " + q(db) + "." + q(name)); got != want {
				t.Errorf("%s: view %s reads %q, want %q", label, v, got, want)
			}
		}
	}
	if _, err := restore.Restore(ctx, restore.RestoreOptions{Threads: 2, MySQL: tgtM, Logger: mysqltest.TestLogger(t)}, bytes.NewReader(dumpOut.Bytes())); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	check("ops restore")
	mysqltest.DropDatabases(t, tgt, a, b, c, d)
	mysqltest.MySQLClientRestore(t, dumpOut.Bytes(), tgtM)
	check("stock client")
}
