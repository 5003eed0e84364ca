package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
func createCraftedSchema(t *testing.T, s *session, db string, names map[string]string) {
	t.Helper()
	qdb := QuoteIdent(db)
	s.exec("SET NAMES utf8mb4", "SET SESSION sql_mode = ''", "CREATE DATABASE "+qdb+" CHARACTER SET utf8mb4", "USE "+qdb)
	i := 0
	for _, n := range names {
		i++
		q := QuoteIdent(n)
		s.exec(
			fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, %s VARCHAR(100) COMMENT 'emoji 😀 %d', v VARCHAR(100)) COMMENT 'table 😀'", q, q, i),
			fmt.Sprintf("INSERT INTO %s VALUES (1, %s, 'row 😀 \\n %d'), (2, NULL, 'x')", q, quoteString(n), i),
			fmt.Sprintf("CREATE VIEW %s AS SELECT id, %s FROM %s", QuoteIdent("v"+n), q, q),
			fmt.Sprintf("CREATE TRIGGER %s BEFORE INSERT ON %s FOR EACH ROW SET NEW.v = CONCAT(NEW.v, '!')", QuoteIdent("tr"+n), q),
			fmt.Sprintf("CREATE PROCEDURE %s() SELECT COUNT(*) FROM %s", QuoteIdent("p"+n), q),
			fmt.Sprintf("CREATE FUNCTION %s() RETURNS INT DETERMINISTIC RETURN %d", QuoteIdent("f"+n), i),
			fmt.Sprintf("CREATE EVENT %s ON SCHEDULE EVERY 1 YEAR STARTS '2030-01-01 00:00:00' DISABLE DO SELECT 1", QuoteIdent("e"+n)),
		)
	}
}

// privileges is every account and its privileges: a restore must not
// change it.
func privileges(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out string
	if err := db.QueryRow("SELECT GROUP_CONCAT(CONCAT(User, '@', Host, '=', Priv) ORDER BY User, Host SEPARATOR '\n') FROM mysql.global_priv").Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
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
	src := openDB(t, srcMySQL())
	tgtM := tgtMySQL(t)
	tgt := openDB(t, tgtM)
	// Names hold at most 64 characters: the marker file gets a short path.
	pwned := "/tmp/" + uniqueName("opsp")
	t.Cleanup(func() {
		m, _ := filepath.Glob(pwned + "*")
		for _, f := range m {
			os.Remove(f)
		}
	})
	names := craftedNames(pwned)
	for key, dbName := range map[string]string{"newline": names["newline"], "bang": names["bang"], "utf": names["utf"]} {
		t.Run(key, func(t *testing.T) {
			db := dbName[:min(len(dbName), 40)] + uniqueName("_")
			dropDatabases(t, src, db)
			dropDatabases(t, tgt, db)
			t.Cleanup(func() { dropDatabases(t, src, db); dropDatabases(t, tgt, db) })
			s := newSession(t, src)
			createCraftedSchema(t, s, db, names)
			want := fingerprint(t, s, db)

			var dump bytes.Buffer
			if _, err := Dump(context.Background(), DumpOptions{MySQL: srcMySQL(), Databases: []string{db}, Threads: 2}, &dump); err != nil {
				t.Fatal(err)
			}
			raw := decompressAll(t, dump.Bytes())
			if !strings.HasPrefix(raw, sandboxLine) {
				t.Errorf("the stream does not start with the sandbox line: %q", raw[:min(len(raw), 80)])
			}
			for _, line := range linesOutsideQuotes(raw) {
				if strings.HasPrefix(line, `\`) || strings.HasPrefix(strings.ToUpper(line), "GRANT") {
					t.Errorf("a line of the stream is a client command or a GRANT: %q", line)
				}
			}

			before := privileges(t, tgt)
			mariadbClientRestore(t, dump.Bytes(), tgtM)
			assertNoPwnedFiles(t, pwned)
			if after := privileges(t, tgt); after != before {
				t.Fatalf("the stock client's restore changed privileges:\n%s\n→\n%s", before, after)
			}
			compareFingerprints(t, "mariadb client", want, fingerprint(t, newSession(t, tgt), db))

			dropDatabases(t, tgt, db)
			if _, err := Restore(context.Background(), RestoreOptions{MySQL: tgtM}, bytes.NewReader(dump.Bytes())); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			assertNoPwnedFiles(t, pwned)
			if after := privileges(t, tgt); after != before {
				t.Fatalf("Restore changed privileges:\n%s\n→\n%s", before, after)
			}
			compareFingerprints(t, "Restore", want, fingerprint(t, newSession(t, tgt), db))
		})
	}
}

// mariadbClientRestore pipes a dump through `zstd -dc | mariadb
// --binary-mode`, the way the README says a stock client restores (without
// --binary-mode the client reads a CR LF inside a name as LF).
func mariadbClientRestore(t testing.TB, dump []byte, m Config) {
	t.Helper()
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Fatalf("the mariadb client is missing: %v", err)
	}
	cmd := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc | mariadb --binary-mode -h%s -P%d -uroot", m.Host, m.Port))
	cmd.Stdin = bytes.NewReader(dump)
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zstd -dc | mariadb: %v\n%s", err, out)
	}
}

// linesOutsideQuotes returns the lines of an SQL script that start outside
// any '…', "…" or `…` token and outside any comment: the lines the mysql
// client reads as the start of a command or statement. Like the client, it
// ignores quotes inside -- and # comments (which end at the line's end)
// and inside /* */ comments (but not /*! */ ones, which are code).
func linesOutsideQuotes(script string) []string {
	var out []string
	var q byte
	start := true
	for i := 0; i < len(script); i++ {
		if start && q == 0 {
			end := strings.IndexByte(script[i:], '\n')
			if end < 0 {
				end = len(script) - i
			}
			out = append(out, script[i:i+end])
		}
		start = false
		c := script[i]
		rest := script[i:]
		switch {
		case q != 0 && c == '\\' && q != '`':
			i++
		case q != 0 && c == q:
			q = 0
		case q != 0:
		case c == '\'' || c == '"' || c == '`':
			q = c
		case c == '#' || strings.HasPrefix(rest, "-- ") || strings.HasPrefix(rest, "--\t") || rest == "--" || strings.HasPrefix(rest, "--\n"):
			if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
				i += nl - 1 // the newline is seen next round
			} else {
				i = len(script)
			}
		case strings.HasPrefix(rest, "/*") && !strings.HasPrefix(rest, "/*!") && !strings.HasPrefix(rest, "/*M!"):
			if end := strings.Index(rest[2:], "*/"); end >= 0 {
				i += end + 3
			} else {
				i = len(script)
			}
		case c == '\n':
			start = true
		}
	}
	return out
}
