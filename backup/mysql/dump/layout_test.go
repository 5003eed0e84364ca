package dump

import (
	"context"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// planText runs the dumper's plan over metas without a server: static
// parts as written, each data part as one INSERT of its table.
func planText(t *testing.T, metas []*schema.DBMeta) string {
	t.Helper()
	codec, err := compress.None.NewCodec(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	d := &Dumper{codec: codec, Srv: conn.ServerInfo{Version: "10.11.19-MariaDB", MariaDB: true, Major: 10, Minor: 11, Patch: 19}, Res: &DumpResult{}}
	var b strings.Builder
	err = d.plan(context.Background(), metas, func(p *part) bool {
		if p.tbl != nil {
			b.WriteString("INSERT INTO " + sqltext.QuoteIdent(p.tbl.Name) + " (`a`) VALUES (1);\n")
			return true
		}
		for f := range p.frames {
			b.Write(f)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func layoutDB(name string, viewSQL ...string) *schema.DBMeta {
	m := &schema.DBMeta{Name: name, CreateSQL: "CREATE DATABASE " + sqltext.QuoteIdent(name) + " /*!40100 DEFAULT CHARACTER SET utf8mb4 */",
		Tables: []*schema.TableMeta{{DB: name, Name: "t", CreateSQL: "CREATE TABLE `t` (\n  `a` int(11) NOT NULL\n)", Columns: []schema.ColMeta{{Name: "a", DataType: "int"}}}},
		Routines: []*schema.ObjDDL{{Kind: "PROCEDURE", Name: "p", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci",
			Body: "CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()\nSELECT COUNT(*) FROM t"}},
		Triggers: []*schema.ObjDDL{{Kind: "TRIGGER", Name: "tr", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci",
			Body: "CREATE DEFINER=`root`@`localhost` TRIGGER " + sqltext.QuoteIdent(name) + ".tr BEFORE INSERT ON " + sqltext.QuoteIdent(name) + ".`t` FOR EACH ROW SET NEW.a = NEW.a + 1"}},
		Events: []*schema.ObjDDL{{Kind: "EVENT", Name: "e", CSClient: "utf8mb4", Collation: "utf8mb4_general_ci", TimeZone: "SYSTEM",
			Body: "CREATE DEFINER=`root`@`localhost` EVENT `e` ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM t WHERE a < 0"}},
	}
	for i, s := range viewSQL {
		name := "v" + string(rune('0'+i))
		m.Views = append(m.Views, &schema.ViewMeta{Name: name, Columns: []string{"a"}, CSClient: "utf8mb4", Collation: "utf8mb4_general_ci",
			CreateSQL: "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW " + sqltext.QuoteIdent(name) + " AS " + s})
	}
	return m
}

// linesNaming returns the lines of text that contain name quoted.
func linesNaming(text, name string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sqltext.QuoteIdent(name)) {
			out = append(out, l)
		}
	}
	return out
}

// The stream names each database on exactly two lines, its CREATE
// DATABASE and its USE (a view another database's user wrote naming it
// aside), and everything of a database follows its USE: a stock restore
// under another name is the substitution of those two whole lines.
func TestStreamNamesEachDatabaseOnce(t *testing.T) {
	// analytics' view reads shop: shop's section must come first although
	// analytics sorts before it.
	metas := []*schema.DBMeta{
		layoutDB("analytics", "select `shop`.`t`.`a` AS `a` from `shop`.`t`", "select `t`.`a` AS `a` from `t`"),
		layoutDB("shop", "select `t`.`a` AS `a` from `t`"),
		layoutDB("zz"),
	}
	text := planText(t, metas)
	for _, name := range []string{"analytics", "shop", "zz"} {
		got := linesNaming(text, name)
		want := []string{"CREATE DATABASE IF NOT EXISTS " + sqltext.QuoteIdent(name) + " /*!40100 DEFAULT CHARACTER SET utf8mb4 */;", "USE " + sqltext.QuoteIdent(name) + ";"}
		if name == "shop" { // analytics.v0, written by its user
			want = append(want, metas[0].Views[0].CreateSQL+";")
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("lines naming %s:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	uses := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.ToUpper(l), "USE") {
			uses++
		}
	}
	if uses != 3 {
		t.Errorf("%d USE lines, want 3 (one per database)", uses)
	}
	// Sections in order: shop, analytics, zz; each one's statements
	// between its USE and the next CREATE DATABASE.
	var order []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "USE ") {
			order = append(order, l)
		}
	}
	if strings.Join(order, " ") != "USE `shop`; USE `analytics`; USE `zz`;" {
		t.Errorf("sections in order %v", order)
	}
	shop := text[strings.Index(text, "USE `shop`;"):strings.Index(text, "CREATE DATABASE IF NOT EXISTS `analytics`")]
	for _, want := range []string{"CREATE TABLE `t`", "INSERT INTO `t`", "PROCEDURE `p`", "VIEW `v0` AS select `t`.`a`", "TRIGGER tr BEFORE INSERT ON `t`", "EVENT `e`", "-- End of data of table `t`"} {
		if !strings.Contains(shop, want) {
			t.Errorf("shop's section lacks %q:\n%s", want, shop)
		}
	}
}

// Databases whose views name each other: the views that cannot be created
// in their own section come last, after a second USE of their database;
// their placeholders are in place meanwhile.
func TestStreamViewCycle(t *testing.T) {
	metas := []*schema.DBMeta{
		layoutDB("a", "select `b`.`t`.`a` AS `a` from `b`.`t`"),
		layoutDB("b", "select `a`.`t`.`a` AS `a` from `a`.`t`"),
	}
	text := planText(t, metas)
	useA := strings.Index(text, "USE `a`;")
	createB := strings.Index(text, "CREATE DATABASE IF NOT EXISTS `b`")
	second := strings.LastIndex(text, "USE `a`;")
	real := strings.Index(text, "VIEW `v0` AS select `b`.`t`.`a`")
	if useA < 0 || createB < useA || second <= createB || real < second {
		t.Errorf("a's view on b is not after b's section and a second USE of a:\n%s", text)
	}
	if !strings.Contains(text[useA:createB], "CREATE VIEW `v0` AS SELECT 1 AS `a`") {
		t.Errorf("a's placeholder view is missing from its section")
	}
	if strings.Count(text, "USE `b`;") != 1 {
		t.Errorf("b is used more than once:\n%s", text)
	}
}

// A body line that looks like a section's USE or CREATE DATABASE line
// (inside a string literal) is written in the one-line EXECUTE IMMEDIATE
// form, so that no line of the stream but the section's own matches the
// stock rename's patterns.
func TestBodyLinesNeverLookLikeSectionLines(t *testing.T) {
	m := layoutDB("shop")
	m.Routines[0].Body = "CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()\nSELECT 'x\nUSE `shop`;\nCREATE DATABASE IF NOT EXISTS `shop` y'"
	text := planText(t, []*schema.DBMeta{m})
	var got []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "USE") || strings.HasPrefix(l, "CREATE DATABASE") {
			got = append(got, l)
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "CREATE DATABASE IF NOT EXISTS `shop` ") || got[1] != "USE `shop`;" {
		t.Errorf("lines like a section's: %q", got)
	}
	if !strings.Contains(text, "EXECUTE IMMEDIATE _utf8mb4 'CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()\\nSELECT \\'x\\nUSE `shop`;") {
		t.Errorf("the body is not in the literal form:\n%s", text)
	}
	for body, want := range map[string]bool{"CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND": false, "CREATE PROCEDURE p() SELECT '\nuse x'": true,
		"CREATE PROCEDURE p() SELECT '\ncreate schema x'": true, "USE x": false, "CREATE PROCEDURE p() SELECT '\n USE x'": false} {
		if got := sectionLineIn(body); got != want {
			t.Errorf("sectionLineIn(%q) = %v", body, got)
		}
	}
}
