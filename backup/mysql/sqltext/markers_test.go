package sqltext

import (
	"strings"
	"testing"
)

// A name on a -- comment line can end neither the comment nor the line:
// newlines, carriage returns, control bytes and invalid UTF-8 come out as
// escapes, and the backquotes of the identifier are kept.
func TestCommentIdentEscapesWhatEndsALine(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"plain", "`plain`"},
		{"n\nGRANT ALL ON *.* TO x;#", "`n\\nGRANT ALL ON *.* TO x;#`"},
		{"r\r\\! touch /tmp/p", "`r\\r\\! touch /tmp/p`"},
		{"tab\tx", "`tab\\tx`"},
		{"bad\xffutf8", "`bad\\xffutf8`"},
		{"ls\u2028sep", "`ls\\x{2028}sep`"},
		{"tick`name", "`tick``name`"},
		{"u€é", "`u€é`"},
	} {
		got := CommentIdent(tc.name)
		if got != tc.want {
			t.Errorf("CommentIdent(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if strings.ContainsAny(got, "\n\r") {
			t.Errorf("CommentIdent(%q) = %q ends the comment line", tc.name, got)
		}
	}
}

func TestUnqualifyTrigger(t *testing.T) {
	cases := map[string]string{
		"CREATE DEFINER=`root`@`%` TRIGGER shop.trg BEFORE INSERT ON shop.t FOR EACH ROW INSERT INTO shop.u VALUES (1)": "CREATE DEFINER=`root`@`%` TRIGGER trg BEFORE INSERT ON t FOR EACH ROW INSERT INTO shop.u VALUES (1)",
		"CREATE TRIGGER `shop`.`t r` AFTER UPDATE ON `shop`.`t` FOR EACH ROW SET @a = 1":                                "CREATE TRIGGER `t r` AFTER UPDATE ON `t` FOR EACH ROW SET @a = 1",
		"CREATE TRIGGER other.trg BEFORE INSERT ON other.t FOR EACH ROW SET @a = 1":                                     "CREATE TRIGGER other.trg BEFORE INSERT ON other.t FOR EACH ROW SET @a = 1",
		"CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET @a = 1":                                                 "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET @a = 1",
	}
	for in, want := range cases {
		if got := UnqualifyTrigger(in, "shop"); got != want {
			t.Errorf("UnqualifyTrigger(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestValuesKeywordIsTheLexersWord: VALUES is found as the lexer's word,
// never inside a quoted name or string, in the session's state.
func TestValuesKeywordIsTheLexersWord(t *testing.T) {
	for _, c := range []struct {
		s    string
		l    LexState
		want string // the text from the keyword found, "" for none
	}{
		{"INSERT INTO `VALUES` (`a`) VALUES (1)", LexState{}, "VALUES (1)"},
		{"INSERT INTO `t` (`a VALUES b`) VALUES(1)", LexState{}, "VALUES(1)"},
		{"INSERT INTO \"VALUES\" (a) VALUES (1)", LexState{AnsiQuotes: true}, "VALUES (1)"},
		{"INSERT INTO `t\x81`` VALUES (1)", LexState{Charset: CharsetGBK}, "VALUES (1)"}, // 0x81 0x60 is one character
		{"INSERT INTO t SELECT 'x VALUES y'", LexState{}, ""},
		{"INSERT INTO t(a)VALUES (1)", LexState{}, ""},
	} {
		got := ""
		if v := ValuesKeyword(c.s, c.l); v >= 0 {
			got = c.s[v:]
		}
		if got != c.want {
			t.Errorf("ValuesKeyword(%q) finds %q, want %q", c.s, got, c.want)
		}
	}
}
