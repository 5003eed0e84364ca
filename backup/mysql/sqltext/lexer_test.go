package sqltext

import (
	"strings"
	"testing"
)

func TestMbLen(t *testing.T) {
	cases := []struct {
		cs   CharsetKind
		s    string
		want int
	}{
		{CharsetGBK, "\xbf\x5c", 2}, {CharsetGBK, "\x81\x40", 2}, {CharsetGBK, "\x81\x7f", 1}, {CharsetGBK, "\xff\x5c", 1}, {CharsetGBK, "\xbf", 1},
		{csBig5, "\xa1\x5c", 2}, {csBig5, "\xa0\x5c", 1}, {csBig5, "\xa1\x80", 1}, {csBig5, "\xf9\xfe", 2}, {csBig5, "\xfa\x5c", 1},
		{CharsetSJIS, "\x81\x5c", 2}, {CharsetSJIS, "\xa0\x5c", 1}, {CharsetSJIS, "\xe0\x60", 2}, {CharsetSJIS, "\xfd\x5c", 1}, {csCP932, "\x95\x5c", 2},
		{csGB18030, "\x81\x5c", 2}, {csGB18030, "\x81\x30\x81\x30", 4}, {csGB18030, "\x81\x30\x81", 1},
		{csSingle, "\xbf\x5c", 1}, {csSpaceA0, "\xbf\x5c", 1}, {CharsetGBK, "a\x5c", 1},
	}
	for _, c := range cases {
		if got := MbLen(c.cs, c.s); got != c.want {
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
		nbe, ansi, err := ParseSQLMode(c.v)
		if (err != nil) != c.bad || nbe != c.nbe || ansi != c.ansi {
			t.Errorf("parseSQLMode(%q) = %v, %v, %v; want %v, %v, bad %v", c.v, nbe, ansi, err, c.nbe, c.ansi, c.bad)
		}
	}
}

// texts renders tokens for comparison.
func texts(toks []Token) string {
	var b []string
	for _, t := range toks {
		switch t.Kind {
		case TString:
			b = append(b, "'"+t.Text+"'")
		case TIdent:
			b = append(b, "`"+t.Text+"`")
		default:
			b = append(b, t.Text)
		}
	}
	return strings.Join(b, " ")
}

func TestTokenizeInFollowsTheSession(t *testing.T) {
	nbe := LexState{NoBackslash: true}
	ansi := LexState{AnsiQuotes: true}
	gbk := LexState{Charset: CharsetGBK}
	cases := []struct {
		s    string
		l    LexState
		want string
	}{
		{`SET @a = 'x\', @@global.event_scheduler=ON -- ';`, LexState{}, `SET a = 'x', @@global.event_scheduler=ON -- ' ;`},
		{`SET @a = 'x\', @@global.event_scheduler=ON -- ';`, nbe, `SET a = 'x\' , global.event_scheduler = ON`},
		{"SET @a = '\xbf\\', @@global.event_scheduler=ON -- ';", LexState{}, "SET a = '\xbf', @@global.event_scheduler=ON -- ' ;"},
		{"SET @a = '\xbf\\', @@global.event_scheduler=ON -- ';", gbk, "SET a = '\xbf\\' , global.event_scheduler = ON"},
		{`SELECT * FROM "mysql"."global_priv"`, LexState{}, `SELECT * FROM 'mysql' . 'global_priv'`},
		{`SELECT * FROM "mysql"."global_priv"`, ansi, "SELECT * FROM `mysql` . `global_priv`"},
		{`SELECT 'a''b', "c\"d", 'e\%f'`, LexState{}, `SELECT 'a'b' , 'c"d' , 'e\%f'`},
		{`SELECT 'a''b', 'c\'`, nbe, `SELECT 'a'b' , 'c\'`},
		{"SELECT 1 --\x7f'\nGRANT", LexState{}, "SELECT 1 GRANT"},
		{"SELECT 1 --\xa0'\nGRANT", LexState{Charset: csSpaceA0}, "SELECT 1 GRANT"},
		{"SELECT 1\xa0GRANT", LexState{Charset: csSpaceA0}, "SELECT 1 GRANT"},
		{"SELECT 1 # x \x00 GRANT", LexState{}, "SELECT 1 \x00 GRANT"},
		{"/*!40101 SET NAMES utf8mb4 */", LexState{}, "SET NAMES utf8mb4"},
		{"/*!99999 ' */ GRANT ALL -- '", LexState{}, "GRANT ALL"},
		{"/*!50700 ' */ GRANT ALL -- '", LexState{}, "GRANT ALL"},
		{"/*M!999999\\- enable the sandbox mode */ SELECT 1", LexState{}, "SELECT 1"},
		{"/*!99999 /* x */ ' */ GRANT", LexState{}, "GRANT"},
		{"/*!1 2 */", LexState{}, "1 2"},
		{"SELECT x'41''42'", LexState{}, "SELECT x'41' '42'"},
		{"SELECT `a\x81`b`", gbk, "SELECT `a\x81`b`"},
		{"SELECT \x81`a", gbk, "SELECT \x81`a"},
	}
	for _, c := range cases {
		toks, err := TokenizeIn(c.s, c.l)
		if err != nil {
			t.Errorf("tokenizeIn(%q, %+v): %v", c.s, c.l, err)
			continue
		}
		if got := texts(toks); got != c.want {
			t.Errorf("tokenizeIn(%q, %+v)\n got %q\nwant %q", c.s, c.l, got, c.want)
		}
	}
}
