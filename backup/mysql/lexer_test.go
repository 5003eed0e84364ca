package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestMbLen(t *testing.T) {
	cases := []struct {
		cs   charsetKind
		s    string
		want int
	}{
		{csGBK, "\xbf\x5c", 2}, {csGBK, "\x81\x40", 2}, {csGBK, "\x81\x7f", 1}, {csGBK, "\xff\x5c", 1}, {csGBK, "\xbf", 1},
		{csBig5, "\xa1\x5c", 2}, {csBig5, "\xa0\x5c", 1}, {csBig5, "\xa1\x80", 1}, {csBig5, "\xf9\xfe", 2}, {csBig5, "\xfa\x5c", 1},
		{csSJIS, "\x81\x5c", 2}, {csSJIS, "\xa0\x5c", 1}, {csSJIS, "\xe0\x60", 2}, {csSJIS, "\xfd\x5c", 1}, {csCP932, "\x95\x5c", 2},
		{csGB18030, "\x81\x5c", 2}, {csGB18030, "\x81\x30\x81\x30", 4}, {csGB18030, "\x81\x30\x81", 1},
		{csSingle, "\xbf\x5c", 1}, {csSpaceA0, "\xbf\x5c", 1}, {csGBK, "a\x5c", 1},
	}
	for _, c := range cases {
		if got := mbLen(c.cs, c.s); got != c.want {
			t.Errorf("mbLen(%d, %q) = %d, want %d", c.cs, c.s, got, c.want)
		}
	}
}

func TestParseSQLMode(t *testing.T) {
	cases := []struct {
		v         string
		nbe, ansi bool
		bad       bool
	}{
		{"", false, false, false},
		{"NO_AUTO_VALUE_ON_ZERO", false, false, false},
		{"no_backslash_escapes", true, false, false},
		{"STRICT_TRANS_TABLES,ANSI_QUOTES", false, true, false},
		{"ANSI", false, true, false},
		{"POSTGRESQL,NO_BACKSLASH_ESCAPES", true, true, false},
		{"DB2", false, true, false}, {"MAXDB", false, true, false}, {"TRADITIONAL", false, false, false},
		{"ORACLE", false, false, true}, {"MSSQL", false, false, true}, {"NO_SUCH_MODE", false, false, true},
		{"4", false, true, false}, {"1048576", true, false, false}, {"262144", false, true, false},
		{"512", false, false, true}, {"99999999999999", false, false, true},
	}
	for _, c := range cases {
		nbe, ansi, err := parseSQLMode(c.v)
		if (err != nil) != c.bad || nbe != c.nbe || ansi != c.ansi {
			t.Errorf("parseSQLMode(%q) = %v, %v, %v; want %v, %v, bad %v", c.v, nbe, ansi, err, c.nbe, c.ansi, c.bad)
		}
	}
}

// texts renders tokens for comparison.
func texts(toks []token) string {
	var b []string
	for _, t := range toks {
		switch t.kind {
		case tString:
			b = append(b, "'"+t.text+"'")
		case tIdent:
			b = append(b, "`"+t.text+"`")
		default:
			b = append(b, t.text)
		}
	}
	return strings.Join(b, " ")
}

func TestTokenizeInFollowsTheSession(t *testing.T) {
	nbe := lexState{noBackslash: true}
	ansi := lexState{ansiQuotes: true}
	gbk := lexState{cs: csGBK}
	cases := []struct {
		s    string
		l    lexState
		want string
	}{
		{`SET @a = 'x\', @@global.event_scheduler=ON -- ';`, lexState{}, `SET a = 'x', @@global.event_scheduler=ON -- ' ;`},
		{`SET @a = 'x\', @@global.event_scheduler=ON -- ';`, nbe, `SET a = 'x\' , global.event_scheduler = ON`},
		{"SET @a = '\xbf\\', @@global.event_scheduler=ON -- ';", lexState{}, "SET a = '\xbf', @@global.event_scheduler=ON -- ' ;"},
		{"SET @a = '\xbf\\', @@global.event_scheduler=ON -- ';", gbk, "SET a = '\xbf\\' , global.event_scheduler = ON"},
		{`SELECT * FROM "mysql"."global_priv"`, lexState{}, `SELECT * FROM 'mysql' . 'global_priv'`},
		{`SELECT * FROM "mysql"."global_priv"`, ansi, "SELECT * FROM `mysql` . `global_priv`"},
		{`SELECT 'a''b', "c\"d", 'e\%f'`, lexState{}, `SELECT 'a'b' , 'c"d' , 'e\%f'`},
		{`SELECT 'a''b', 'c\'`, nbe, `SELECT 'a'b' , 'c\'`},
		{"SELECT 1 --\x7f'\nGRANT", lexState{}, "SELECT 1 GRANT"},
		{"SELECT 1 --\xa0'\nGRANT", lexState{cs: csSpaceA0}, "SELECT 1 GRANT"},
		{"SELECT 1\xa0GRANT", lexState{cs: csSpaceA0}, "SELECT 1 GRANT"},
		{"SELECT 1 # x \x00 GRANT", lexState{}, "SELECT 1 \x00 GRANT"},
		{"/*!40101 SET NAMES utf8mb4 */", lexState{}, "SET NAMES utf8mb4"},
		{"/*!99999 ' */ GRANT ALL -- '", lexState{}, "GRANT ALL"},
		{"/*!50700 ' */ GRANT ALL -- '", lexState{}, "GRANT ALL"},
		{"/*M!999999\\- enable the sandbox mode */ SELECT 1", lexState{}, "SELECT 1"},
		{"/*!99999 /* x */ ' */ GRANT", lexState{}, "GRANT"},
		{"/*!1 2 */", lexState{}, "1 2"},
		{"SELECT x'41''42'", lexState{}, "SELECT x'41' '42'"},
		{"SELECT `a\x81`b`", gbk, "SELECT `a\x81`b`"},
		{"SELECT \x81`a", gbk, "SELECT \x81`a"},
	}
	for _, c := range cases {
		toks, err := tokenizeIn(c.s, c.l)
		if err != nil {
			t.Errorf("tokenizeIn(%q, %+v): %v", c.s, c.l, err)
			continue
		}
		if got := texts(toks); got != c.want {
			t.Errorf("tokenizeIn(%q, %+v)\n got %q\nwant %q", c.s, c.l, got, c.want)
		}
	}
}

// parseScript runs a stream through parseStream (the Splitter and the
// guard, as a restore does, without a server) and returns the statements
// it passed and its error.
func parseScript(t *testing.T, body string) ([]restoreItem, error) {
	t.Helper()
	script := sandboxLine + opsDumpHead + "\nCREATE DATABASE `app`;\nUSE `app`;\n" + body
	rn, _ := newRenamer(nil)
	ch := make(chan restoreItem, 1000)
	perr := make(chan error, 1)
	parseStream(context.Background(), &countingReader{r: strings.NewReader(script)}, rn, newGuard(nil, []string{"other"}), newDefinerRule(nil), ch, perr)
	var items []restoreItem
	for it := range ch {
		items = append(items, it)
	}
	return items, <-perr
}

// The three session-state bypasses of issue 23: each statement is
// harmless to a guard that reads it session-blind and a SET GLOBAL, or a
// read of mysql.global_priv, to the server.
func TestGuardFollowsTheSessionState(t *testing.T) {
	attacks := map[string]string{
		"NO_BACKSLASH_ESCAPES":        "SET sql_mode='NO_BACKSLASH_ESCAPES';\nSET @a = 'x\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"NBE in a dump's form":        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO,NO_BACKSLASH_ESCAPES' */;\nSET @a = 'x\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"NBE by number":               "SET @@session.sql_mode = 1048576;\nSET @a = 'x\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"NBE from a variable":         "SET @m = 'NO_BACKSLASH_ESCAPES';\nSET SESSION sql_mode = @m;\nSET @a = 'x\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"gbk":                         "SET NAMES gbk;\nSET @a = '\xbf\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"gbk by character_set_client": "/*!40101 SET character_set_client = gbk */;\nSET @a = '\xbf\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"big5":                        "SET CHARACTER SET big5;\nSET @a = '\xa1\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"sjis":                        "SET NAMES 'sjis';\nSET @a = '\x81\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"cp932":                       "SET NAMES cp932 COLLATE cp932_japanese_ci;\nSET @a = '\x81\\', @@global.event_scheduler=ON -- '\n, @b = 'y';\n",
		"ANSI_QUOTES":                 "SET sql_mode='ANSI_QUOTES';\nCREATE TABLE t SELECT * FROM \"mysql\".\"global_priv\";\n",
		"ANSI":                        "SET sql_mode='ANSI';\nCREATE TABLE t AS SELECT * FROM \"mysql\".\"global_priv\";\n",
		"ANSI_QUOTES insert":          "SET sql_mode='ANSI_QUOTES';\nINSERT INTO t SELECT * FROM \"mysql\".\"global_priv\";\n",
	}
	for name, body := range attacks {
		_, err := parseScript(t, body)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: not refused (%v)", name, err)
		}
	}
}

// The state comes back with the dump's saved variables, and what the
// lexer does not model is refused.
func TestGuardTracksSavedStateAndRefusesTheUnknown(t *testing.T) {
	ok := []string{
		// a dump's header and footer around a routine under NO_BACKSLASH_ESCAPES
		"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n" +
			"SET @saved_cs_client = @@character_set_client, @saved_sql_mode = @@sql_mode;\n" +
			"SET character_set_client = utf8mb4, sql_mode = 'NO_BACKSLASH_ESCAPES';\n" +
			"DELIMITER ;;\nCREATE PROCEDURE `p`() SELECT 'C:\\' ;;\nDELIMITER ;\n" +
			"SET character_set_client = @saved_cs_client, sql_mode = @saved_sql_mode;\n" +
			"SET @b = 'it''s \\' a backslash-escaped quote';\n" +
			"/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n",
		"/*!40101 SET NAMES binary*/;\nSET @a = '\xbf\\'';\n/*!40101 SET NAMES utf8mb4 */;\n",
		"SET NAMES gbk;\nEXECUTE IMMEDIATE _gbk 0x4352454154452050524F434544555245207028292053454C4543542031;\nSET NAMES utf8mb4;\nEXECUTE IMMEDIATE _latin1 'CREATE FUNCTION f() RETURNS INT RETURN 1';\n",
		"SET @saved_cs_client = @@character_set_client;\nSET NAMES gbk;\nSET @a = '\xbf\\';\nSET character_set_client = @saved_cs_client;\nSET @b = '\xbf\\'';\n",
	}
	for _, body := range ok {
		if _, err := parseScript(t, body); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
	refused := []string{
		"SET NAMES ucs2;\n", "SET NAMES DEFAULT;\n", "SET CHARACTER SET nonesuch;\n",
		"SET character_set_client = @nothing;\n", "SET character_set_client = DEFAULT;\n",
		"SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');\n", "SET sql_mode = @nothing;\n",
		"SET sql_mode = 'ORACLE';\n", "SET sql_mode = DEFAULT;\n", "SET sql_mode = 'NO_SUCH';\n",
		"SET @m = @@character_set_client;\nSET sql_mode = @m;\n",
		"SET @m = @@sql_mode;\nSET @m = 5 + 1;\nSET sql_mode = @m;\n",
		// the server converts an introduced literal to the client's set before reading it
		"EXECUTE IMMEDIATE _gbk 0x4352454154452050524F434544555245207028292053454C4543542031;\n",
		"SET NAMES gbk;\nEXECUTE IMMEDIATE _utf8mb4 'CREATE PROCEDURE p() SELECT 1';\n",
		"EXECUTE IMMEDIATE _utf16 0x0043005200450041005400450020;\n",
	}
	for _, body := range refused {
		if _, err := parseScript(t, body); !errors.Is(err, ErrRefused) {
			t.Errorf("%q: not refused (%v)", body, err)
		}
	}
}

// deferKeys moves whole lines into an ALTER TABLE that the guard never
// sees: a line inside a string literal (as the session reads it) must
// not move.
func TestDeferKeysMovesNoPieceOfALiteral(t *testing.T) {
	create := "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `a` int DEFAULT NULL COMMENT 'x\n  KEY `k` (`a`) , ENGINE=CONNECT\n',\n  PRIMARY KEY (`id`),\n  KEY `a` (`a`)\n) ENGINE=InnoDB"
	if _, _, add, ok := deferKeys(create, lexState{}); ok {
		t.Errorf("deferKeys moved %q out of a multi-line literal", add)
	}
	// the same lines under NO_BACKSLASH_ESCAPES: 'x\' ends the literal on its line
	nbe := "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `a` varchar(9) DEFAULT 'x\\',\n  PRIMARY KEY (`id`),\n  KEY `a` (`a`)\n) ENGINE=InnoDB"
	if _, _, _, ok := deferKeys(nbe, lexState{}); ok {
		t.Errorf("deferKeys split a literal that runs over lines with backslash escapes")
	}
	if _, _, add, ok := deferKeys(nbe, lexState{noBackslash: true}); !ok || add != "ADD KEY `a` (`a`)" {
		t.Errorf("deferKeys under NO_BACKSLASH_ESCAPES = %q, %v", add, ok)
	}
}
