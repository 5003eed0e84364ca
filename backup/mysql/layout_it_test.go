package mysql

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
	base := uniqueName("ops_it_xv_")
	a, b, c, d := base+"_a", base+"_b", base+"_c", base+"_d"
	src, tgtM, tgt := servers(t, a, b, c, d)
	s := newSession(t, src)
	q := QuoteIdent
	s.exec("CREATE DATABASE "+q(a), "CREATE DATABASE "+q(b), "CREATE DATABASE "+q(c), "CREATE DATABASE "+q(d),
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

	var dump bytes.Buffer
	if _, err := Dump(ctx, DumpOptions{MySQL: srcMySQL(), Databases: []string{a, b, c, d}, Compression: "zstd"}, &dump); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	text := decompressAll(t, dump.Bytes())
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
		ts := newSession(t, tgt)
		for v, want := range views {
			db, name, _ := strings.Cut(v, ".")
			if got := ts.one("SELECT GROUP_CONCAT(" + map[bool]string{true: "v", false: "n"}[strings.HasSuffix(v, "reads_b")] + ") FROM " + q(db) + "." + q(name)); got != want {
				t.Errorf("%s: view %s reads %q, want %q", label, v, got, want)
			}
		}
	}
	if _, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Logger: testLogger(t)}, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	check("ops restore")
	dropDatabases(t, tgt, a, b, c, d)
	mysqlClientRestore(t, dump.Bytes(), tgtM)
	check("stock client")
}
