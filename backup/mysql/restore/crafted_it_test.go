package restore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// craftedNames are what a tenant with rights on one database can name its
// objects: each tries to end a comment or a statement in the dump, or to
// reach the mysql client's own commands. MariaDB refuses 4-byte UTF-8 in
// identifiers (error 1300), so those characters go into a comment and the
// data, and the names carry 3-byte ones.
func craftedNames(pwned string) map[string]string {
	return map[string]string{
		"newline": "n\nGRANT ALL ON *.* TO opsevil@localhost;#",
		"bang":    "b\n\\! touch " + pwned,
		"cr":      "r\r\\! touch " + pwned + "-cr",
		"crlf":    "l\r\n\\! touch " + pwned + "-crlf",
		"semi":    "s;DROP DATABASE mysql;",
		"comment": "c*/ GRANT ALL ON *.* TO opsevil@localhost; /*",
		"tick":    "t`DROP TABLE x`",
		"dashes":  "d\n-- \n\\! touch " + pwned + "-dash",
		"utf":     "u€é—ü",
	}
}

// createCraftedSchema makes a database named after one crafted name with a
// table, column, view, trigger, procedure, function and event named after
// every crafted name.
func createCraftedSchema(t *testing.T, s *mysqltest.Session, db string, names map[string]string) {
	t.Helper()
	qdb := sqltext.QuoteIdent(db)
	s.Exec("SET NAMES utf8mb4", "SET SESSION sql_mode = ''", "CREATE DATABASE "+qdb+" CHARACTER SET utf8mb4", "USE "+qdb)
	i := 0
	for _, n := range names {
		i++
		q := sqltext.QuoteIdent(n)
		s.Exec(
			fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, %s VARCHAR(100) COMMENT 'emoji 😀 %d', v VARCHAR(100)) COMMENT 'table 😀'", q, q, i),
			fmt.Sprintf("INSERT INTO %s VALUES (1, %s, 'row 😀 \\n %d'), (2, NULL, 'x')", q, sqltext.QuoteString(n), i),
			fmt.Sprintf("CREATE VIEW %s AS SELECT id, %s FROM %s", sqltext.QuoteIdent("v"+n), q, q),
			fmt.Sprintf("CREATE TRIGGER %s BEFORE INSERT ON %s FOR EACH ROW SET NEW.v = CONCAT(NEW.v, '!')", sqltext.QuoteIdent("tr"+n), q),
			fmt.Sprintf("CREATE PROCEDURE %s() SELECT COUNT(*) FROM %s", sqltext.QuoteIdent("p"+n), q),
			fmt.Sprintf("CREATE FUNCTION %s() RETURNS INT DETERMINISTIC RETURN %d", sqltext.QuoteIdent("f"+n), i),
			fmt.Sprintf("CREATE EVENT %s ON SCHEDULE EVERY 1 YEAR STARTS '2030-01-01 00:00:00' DISABLE DO SELECT 1", sqltext.QuoteIdent("e"+n)),
		)
	}
}

func assertNoPwnedFiles(t *testing.T, pwned string) {
	t.Helper()
	matches, _ := filepath.Glob(pwned + "*")
	if len(matches) > 0 {
		t.Errorf("a client command ran during the restore: %q exist", matches)
	}
}

// Crafted names in a database, its tables, columns, views, triggers,
// routines and events round-trip identically through the stock mariadb
// client and through Restore, with no grant changed and no client command
// run.
func TestCraftedNamesRoundTrip(t *testing.T) {
	testenv.RequireIT(t)
	src := mysqltest.OpenDB(t, mysqltest.SrcMySQL())
	tgtM := mysqltest.TgtMySQL(t)
	tgt := mysqltest.OpenDB(t, tgtM)
	// Names hold at most 64 characters: the marker file gets a short path.
	pwned := "/tmp/" + mysqltest.UniqueName("opsp")
	t.Cleanup(func() {
		m, _ := filepath.Glob(pwned + "*")
		for _, f := range m {
			os.Remove(f)
		}
	})
	names := craftedNames(pwned)
	for key, dbName := range map[string]string{"newline": names["newline"], "bang": names["bang"], "utf": names["utf"]} {
		t.Run(key, func(t *testing.T) {
			db := dbName[:min(len(dbName), 40)] + mysqltest.UniqueName("_")
			mysqltest.DropDatabases(t, src, db)
			mysqltest.DropDatabases(t, tgt, db)
			t.Cleanup(func() { mysqltest.DropDatabases(t, src, db); mysqltest.DropDatabases(t, tgt, db) })
			s := mysqltest.NewSession(t, src)
			createCraftedSchema(t, s, db, names)
			want := mysqltest.Fingerprint(t, s, db)

			var dumpOut bytes.Buffer
			if _, err := dump.Dump(context.Background(), dump.DumpOptions{MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Threads: 2}, &dumpOut); err != nil {
				t.Fatal(err)
			}
			raw := mysqltest.DecompressAll(t, dumpOut.Bytes())
			if !strings.HasPrefix(raw, sqltext.SandboxLine) {
				t.Errorf("the stream does not start with the sandbox line: %q", raw[:min(len(raw), 80)])
			}
			for _, line := range mysqltest.LinesOutsideQuotes(raw) {
				if strings.HasPrefix(line, `\`) || strings.HasPrefix(strings.ToUpper(line), "GRANT") {
					t.Errorf("a line of the stream is a client command or a GRANT: %q", line)
				}
			}

			before := mysqltest.Privileges(t, tgt)
			mariadbClientRestore(t, dumpOut.Bytes(), tgtM)
			assertNoPwnedFiles(t, pwned)
			if after := mysqltest.Privileges(t, tgt); after != before {
				t.Fatalf("the stock client's restore changed privileges:\n%s\n→\n%s", before, after)
			}
			mysqltest.CompareFingerprints(t, "mariadb client", want, mysqltest.Fingerprint(t, mysqltest.NewSession(t, tgt), db))

			mysqltest.DropDatabases(t, tgt, db)
			if _, err := Restore(context.Background(), RestoreOptions{Threads: 2, MySQL: tgtM}, bytes.NewReader(dumpOut.Bytes())); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			assertNoPwnedFiles(t, pwned)
			if after := mysqltest.Privileges(t, tgt); after != before {
				t.Fatalf("Restore changed privileges:\n%s\n→\n%s", before, after)
			}
			mysqltest.CompareFingerprints(t, "Restore", want, mysqltest.Fingerprint(t, mysqltest.NewSession(t, tgt), db))
		})
	}
}

// mariadbClientRestore pipes a dump through `zstd -dc | mariadb
// --binary-mode`, the way the README says a stock client restores (without
// --binary-mode the client reads a CR LF inside a name as LF).
func mariadbClientRestore(t testing.TB, dumpOut []byte, m conn.Config) {
	t.Helper()
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Fatalf("the mariadb client is missing: %v", err)
	}
	cmd := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc | mariadb --binary-mode -h%s -P%d -uroot", m.Host, m.Port))
	cmd.Stdin = bytes.NewReader(dumpOut)
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zstd -dc | mariadb: %v\n%s", err, out)
	}
}
