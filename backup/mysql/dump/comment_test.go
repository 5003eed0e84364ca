package dump

import (
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
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
		got := sqltext.CommentText(in)
		if got != want {
			t.Errorf("commentText(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsAny(got, "\n\r") {
			t.Errorf("commentText(%q) still holds a line break", in)
		}
	}
	if got := sqltext.CommentIdent("x`\ny"); got != "`x``\\ny`" {
		t.Errorf("commentIdent = %q", got)
	}
}

// Every comment line the dumper writes for an object keeps the name on
// that line, and the stream begins with the sandbox line.
func TestSchemaCommentsEscapeNames(t *testing.T) {
	evil := "t\nGRANT ALL ON *.* TO x;#"
	m := &schema.DBMeta{Name: "d\n\\! id", CreateSQL: "CREATE DATABASE `d`",
		Tables:    []*schema.TableMeta{{Name: evil, CreateSQL: "CREATE TABLE x (i int)"}},
		Sequences: []*schema.SeqMeta{{Name: evil, CreateSQL: "CREATE SEQUENCE s"}},
		Views:     []*schema.ViewMeta{{Name: evil, CSClient: "utf8mb4", Collation: "utf8mb4_general_ci", CreateSQL: "CREATE VIEW v AS SELECT 1"}},
		Routines:  []*schema.ObjDDL{{Kind: "PROCEDURE", Name: evil, Body: "CREATE PROCEDURE p() SELECT 1", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci"}},
		Triggers:  []*schema.ObjDDL{{Kind: "TRIGGER", Name: evil, Body: "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci"}},
	}
	script := SchemaSQL(m) + RoutinesSQL(m, false) + ViewsSQL(m.Views, "") + TriggersEventsSQL(m, false)
	for _, line := range mysqltest.LinesOutsideQuotes(script) {
		if strings.HasPrefix(line, "GRANT") || strings.HasPrefix(line, `\`) {
			t.Errorf("a name broke out of its comment: line %q", line)
		}
	}
	d := &Dumper{Srv: conn.ServerInfo{Version: "10.11\nGRANT"}, Res: &DumpResult{}}
	if h := d.Header(); !strings.HasPrefix(h, sqltext.SandboxLine+sqltext.OpsDumpHead+"\n") || strings.Contains(h, "\nGRANT") {
		t.Errorf("header = %q", h)
	}
}
