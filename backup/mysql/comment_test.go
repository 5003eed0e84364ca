package mysql

import (
	"strings"
	"testing"
)

func TestCommentTextKeepsNamesOnOneLine(t *testing.T) {
	cases := map[string]string{
		"plain":                      "plain",
		"a\nGRANT ALL;#":             `a\nGRANT ALL;#`,
		"b\r\\! touch x":             `b\r\! touch x`,
		"tab\there":                  `tab\there`,
		"esc\x1b]0;title\x07":        `esc\x{1b}]0;title\x{7}`,
		"del\x7f c1\u0085 ls\u2028.": `del\x{7f} c1\x{85} ls\x{2028}.`,
		"bad\xff utf8":               `bad\xff utf8`,
		"€é—ü 😀":                     "€é—ü 😀",
	}
	for in, want := range cases {
		got := commentText(in)
		if got != want {
			t.Errorf("commentText(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsAny(got, "\n\r") {
			t.Errorf("commentText(%q) still holds a line break", in)
		}
	}
	if got := commentIdent("x`\ny"); got != "`x``\\ny`" {
		t.Errorf("commentIdent = %q", got)
	}
}

// Every comment line the dumper writes for an object keeps the name on
// that line, and the stream begins with the sandbox line.
func TestSchemaCommentsEscapeNames(t *testing.T) {
	evil := "t\nGRANT ALL ON *.* TO x;#"
	m := &dbMeta{Name: "d\n\\! id", CreateSQL: "CREATE DATABASE `d`",
		Tables:    []*tableMeta{{Name: evil, CreateSQL: "CREATE TABLE x (i int)"}},
		Sequences: []*seqMeta{{Name: evil, CreateSQL: "CREATE SEQUENCE s"}},
		Views:     []*viewMeta{{Name: evil, CSClient: "utf8mb4", Collation: "utf8mb4_general_ci", CreateSQL: "CREATE VIEW v AS SELECT 1"}},
		Routines:  []*objDDL{{Kind: "PROCEDURE", Name: evil, Body: "CREATE PROCEDURE p() SELECT 1", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci"}},
		Triggers:  []*objDDL{{Kind: "TRIGGER", Name: evil, Body: "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci"}},
	}
	script := schemaSQL(m) + routinesSQL(m, false) + viewsSQL(m.Views, "") + triggersEventsSQL(m, false)
	for _, line := range linesOutsideQuotes(script) {
		if strings.HasPrefix(line, "GRANT") || strings.HasPrefix(line, `\`) {
			t.Errorf("a name broke out of its comment: line %q", line)
		}
	}
	d := &dumper{srv: serverInfo{Version: "10.11\nGRANT"}, res: &DumpResult{}}
	if h := d.header(); !strings.HasPrefix(h, sandboxLine+opsDumpHead+"\n") || strings.Contains(h, "\nGRANT") {
		t.Errorf("header = %q", h)
	}
}
