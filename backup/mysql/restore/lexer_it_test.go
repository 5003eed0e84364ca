package restore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/backup/mysql/sqltext/sqltexttest"
	"github.com/opsteam/ops/internal/testenv"
)

var lexerModes = []string{"", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES,ANSI_QUOTES"}

var lexerCharsets = []string{"utf8mb4", "latin1", "binary", "big5", "cp932", "gbk", "sjis", "gb18030"}

// expectSelect is what the lexer says the server returns for SELECT list:
// the values of a list of string literals (adjacent ones concatenated,
// introducers dropped, each maybe with an alias), or ok false when the
// list holds anything else.
func expectSelect(list string, l sqltext.LexState) (vals []string, ok bool) {
	toks, err := sqltext.TokenizeVersion("SELECT "+list, l, 101100)
	if err != nil || len(toks) < 2 {
		return nil, false
	}
	cur, have, alias := "", false, false
	for i, t := range toks[1:] {
		switch {
		case t.Kind == sqltext.TString && !alias:
			cur, have = cur+t.Text, true
		case t.Kind == sqltext.TWord && strings.IndexFunc(t.Text, func(r rune) bool { return r >= 0x80 }) >= 0:
			// a byte from 0x80 outside a literal that is no character of
			// the set is a one-byte token to the server (a syntax error
			// wherever it stands), part of a word to the lexer: not compared
			return nil, false
		case (t.Kind == sqltext.TIdent || (t.Kind == sqltext.TWord && !t.Is("N") && !strings.HasPrefix(t.Text, "_"))) && have && !alias:
			alias = true // SELECT 'a' "b" under ANSI_QUOTES, 'a'ÿ in latin1: a column alias
		case t.Kind == sqltext.TWord && (strings.HasPrefix(t.Text, "_") || t.Is("N")) && i+2 < len(toks) && toks[i+2].Kind == sqltext.TString:
		case t.Kind == sqltext.TNumber && strings.HasPrefix(t.Text, "X'"):
			v := make([]byte, 0)
			fmt.Sscanf(t.Text[2:len(t.Text)-1], "%x", &v)
			cur, have = cur+string(v), true
		case t.Kind == sqltext.TOp && t.Text == "," && have:
			vals, cur, have, alias = append(vals, cur), "", false, false
		default:
			return nil, false
		}
	}
	if !have {
		return nil, false
	}
	return append(vals, cur), true
}

// The lexer reads every statement of the corpus as the server does, in
// every combination of sql_mode and client character set: a select list
// the server runs is a list of literals to the lexer with the same
// values, one it refuses is not; and the Splitter ends the statement where
// the server does.
func TestLexerAgreesWithTheServer(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.OpenDB(t, mysqltest.TgtMySQL(t))
	ctx := context.Background()
	var version string
	if err := db.QueryRow("SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, csName := range lexerCharsets {
		for _, mode := range lexerModes {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ExecContext(ctx, "SET NAMES "+csName)
			if err != nil {
				c.Close()
				if csName == "gb18030" {
					t.Logf("the server refuses the client set %s (%v): its lexing is checked by the unit tests only", csName, err)
					continue
				}
				t.Fatal(err)
			}
			if _, err := c.ExecContext(ctx, "SET character_set_results = binary, sql_mode = '"+mode+"'"); err != nil {
				t.Fatal(err)
			}
			nbe, ansi, _ := sqltext.ParseSQLMode(mode)
			l := sqltext.LexState{NoBackslash: nbe, AnsiQuotes: ansi, Charset: sqltext.Charsets[csName]}
			for _, list := range sqltexttest.LexerCorpus {
				got, serr := selectValues(ctx, c, "SELECT "+list)
				want, ok := expectSelect(list, l)
				where := fmt.Sprintf("%s, sql_mode %q: SELECT %q", csName, mode, list)
				if highWord(list, l) {
					continue
				}
				switch {
				case serr == nil && !ok:
					t.Errorf("%s: the server returns %q, the lexer does not read a list of literals", where, got)
				case serr != nil && ok:
					t.Errorf("%s: the server refuses it (%v), the lexer reads %q", where, serr, want)
				case serr == nil && fmt.Sprint(got) != fmt.Sprint(want):
					t.Errorf("%s: the server returns %q, the lexer %q", where, got, want)
				}
				if serr == nil {
					checked++
					// the Splitter ends the statement at the delimiter after it
					sp := sqltext.NewSplitter(strings.NewReader("SELECT " + list + ";\nSELECT 2;\n"))
					sp.SetLex(l)
					if st, err := sp.Next(); err != nil || st.SQL != "SELECT "+list {
						t.Errorf("%s: the Splitter's first statement is %q (%v)", where, st.SQL, err)
					}
				}
			}
			c.Close()
		}
	}
	t.Logf("%d statements run by the server and read alike (server %s)", checked, version)
}

// highWord reports a list in which the lexer reads a word with a byte
// from 0x80 (see expectSelect).
func highWord(list string, l sqltext.LexState) bool {
	toks, _ := sqltext.TokenizeVersion("SELECT "+list, l, 101100)
	for _, t := range toks {
		if t.Kind == sqltext.TWord && strings.IndexFunc(t.Text, func(r rune) bool { return r >= 0x80 }) >= 0 {
			return true
		}
	}
	return false
}

// selectValues runs q and returns its one row as raw bytes.
func selectValues(ctx context.Context, c *sql.Conn, q string) ([]string, error) {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return nil, errors.New("no row")
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out, rows.Err()
}

// lexerAttack restores a crafted stream and checks that it is refused and
// changes nothing on the server: the event scheduler, the accounts, and no
// copy of mysql.global_priv in the restored database (kept with
// KeepPartial).
func lexerAttack(t *testing.T, body string) {
	t.Helper()
	tgtM := mysqltest.TgtMySQL(t)
	tgt := mysqltest.OpenDB(t, tgtM)
	db := mysqltest.UniqueName("lexer_attack_")
	t.Cleanup(func() { mysqltest.DropDatabases(t, tgt, db) })
	var sched string
	if err := tgt.QueryRow("SELECT @@global.event_scheduler").Scan(&sched); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var now string
		if tgt.QueryRow("SELECT @@global.event_scheduler").Scan(&now); now != sched {
			tgt.Exec("SET GLOBAL event_scheduler = " + sched) //nolint:errcheck
		}
	})
	before := mysqltest.Privileges(t, tgt)
	stream := sqltext.SandboxLine + sqltext.OpsDumpHead + "\nCREATE DATABASE " + sqltext.QuoteIdent(db) + ";\nUSE " + sqltext.QuoteIdent(db) + ";\n" + body + sqltext.FooterMarker + "\n"
	_, err := Restore(context.Background(), RestoreOptions{Threads: 2, MySQL: tgtM, KeepPartial: true}, strings.NewReader(stream))
	if !errors.Is(err, guard.ErrRefused) {
		t.Errorf("Restore: %v, want refused", err)
	}
	var now string
	if err := tgt.QueryRow("SELECT @@global.event_scheduler").Scan(&now); err != nil {
		t.Fatal(err)
	}
	if now != sched {
		t.Errorf("the event scheduler went from %s to %s", sched, now)
	}
	if after := mysqltest.Privileges(t, tgt); after != before {
		t.Errorf("the accounts changed:\n%s\n→\n%s", before, after)
	}
	var n int
	if err := tgt.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?", db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the restore created %d tables (a copy of mysql.global_priv?)", n)
	}
}

// The three session-state bypasses of issue 23 through the real restore.
func TestRestoreRefusesSessionStateBypasses(t *testing.T) {
	testenv.RequireIT(t)
	t.Run("NO_BACKSLASH_ESCAPES", func(t *testing.T) {
		lexerAttack(t, "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_BACKSLASH_ESCAPES' */;\nSET @a = 'x\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n")
	})
	t.Run("gbk", func(t *testing.T) {
		lexerAttack(t, "/*!40101 SET NAMES gbk */;\nSET @a = '\xbf\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n")
	})
	t.Run("ANSI_QUOTES", func(t *testing.T) {
		lexerAttack(t, "SET sql_mode = 'ANSI_QUOTES';\nCREATE TABLE t SELECT * FROM \"mysql\".\"global_priv\";\n")
	})
	t.Run("introducer converted to the client set", func(t *testing.T) {
		// CREATE TABLE t AS SELECT '\xbf\x5c' AS a, b.* FROM mysql.global_priv b -- '
		// the server reads it after converting gbk to utf8mb4 (0xBF5C is one character)
		lexerAttack(t, "EXECUTE IMMEDIATE _gbk 0x435245415445205441424C4520742041532053454C4543542027BF5C2720415320612C20622E2A2046524F4D206D7973716C2E676C6F62616C5F707269762062202D2D2027;\n")
	})
	t.Run("ANSI_QUOTES in EXECUTE IMMEDIATE", func(t *testing.T) {
		lexerAttack(t, "SET sql_mode = 'ANSI';\nEXECUTE IMMEDIATE 'CREATE TABLE t AS SELECT * FROM \"mysql\".\"global_priv\"';\n")
	})
}

// A routine created under NO_BACKSLASH_ESCAPES whose body ends in \' (and
// one whose body has a comment, so that it is dumped as EXECUTE
// IMMEDIATE) dumps and restores identically.
func TestNoBackslashEscapesRoutineRoundTrip(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.UniqueName("lexer_nbe_")
	src, tgtM, tgt := mysqltest.Servers(t, db)
	s := mysqltest.NewSession(t, src)
	s.Exec("CREATE DATABASE "+sqltext.QuoteIdent(db), "USE "+sqltext.QuoteIdent(db),
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO t VALUES (1, 'a\\\\b'), (2, 'C:\\\\')",
		"SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
		"CREATE PROCEDURE p() SELECT 'C:\\'",
		"CREATE FUNCTION f() RETURNS VARCHAR(20) DETERMINISTIC RETURN 'x\\''y\\'",
		"CREATE PROCEDURE pc() BEGIN\n  -- a comment with C:\\ in it\n  SELECT 'D:\\'; /* and \\' */\nEND",
		"CREATE VIEW v AS SELECT 'E:\\' AS x",
		"SET SESSION sql_mode = ''")
	shape := func(db0 *sql.DB) string {
		t.Helper()
		c := mysqltest.NewSession(t, db0)
		c.Exec("USE " + sqltext.QuoteIdent(db))
		var out []string
		for _, q := range []string{"PROCEDURE p", "FUNCTION f", "PROCEDURE pc"} {
			var name, mode, body string
			var a, b, c2 sql.NullString
			if err := c.Conn.QueryRowContext(context.Background(), "SHOW CREATE "+q).Scan(&name, &mode, &body, &a, &b, &c2); err != nil {
				t.Fatalf("SHOW CREATE %s: %v", q, err)
			}
			out = append(out, mode+"\n"+body)
		}
		var v string
		if err := c.Conn.QueryRowContext(context.Background(), "SELECT x FROM v").Scan(&v); err != nil {
			t.Fatal(err)
		}
		var sum sql.NullString
		var tn string
		if err := c.Conn.QueryRowContext(context.Background(), "CHECKSUM TABLE t").Scan(&tn, &sum); err != nil {
			t.Fatal(err)
		}
		return strings.Join(append(out, v, sum.String), "\n----\n")
	}
	want := shape(src)
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(context.Background(), dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{db}}, &dumpOut); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), RestoreOptions{Threads: 2, MySQL: tgtM}, bytes.NewReader(dumpOut.Bytes())); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := shape(tgt); got != want {
		t.Errorf("restored routines differ:\n%s\n=== want ===\n%s", got, want)
	}
}
