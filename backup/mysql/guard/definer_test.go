package guard

import (
	"encoding/hex"
	"errors"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"strings"
	"testing"
)

// TestDefinerRewrite: without a trusted listing every DEFINER clause of a
// view, routine, trigger or event becomes CURRENT_USER, in every form real
// dumps and hand-written streams use (plain, versioned comments, unquoted,
// quoted with ` or ', CURRENT_USER, inside EXECUTE IMMEDIATE), and every
// event is created DISABLED; a listed object keeps its definer (and an
// event listed enabled its ENABLE) only when the definer matches. Fails
// when the rewrite is removed or trusts an unlisted object.
func TestDefinerRewrite(t *testing.T) {
	none := NewDefinerRule(nil)
	cases := []struct{ in, want string }{
		{"CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SQL SECURITY DEFINER EXECUTE IMMEDIATE 0x4752414e54",
			"CREATE DEFINER=CURRENT_USER PROCEDURE `p`() SQL SECURITY DEFINER EXECUTE IMMEDIATE 0x4752414e54"},
		{"CREATE DEFINER=root@localhost PROCEDURE p() SELECT 1", "CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1"},
		{"CREATE DEFINER='root'@'localhost' FUNCTION f() RETURNS INT RETURN 1", "CREATE DEFINER=CURRENT_USER FUNCTION f() RETURNS INT RETURN 1"},
		{"CREATE DEFINER=root@127.0.0.1 FUNCTION f() RETURNS INT RETURN 1", "CREATE DEFINER=CURRENT_USER FUNCTION f() RETURNS INT RETURN 1"},
		{"CREATE DEFINER = `ro``ot` @`%` PROCEDURE p() SELECT 1", ""}, // user @host with a space: refused
		{"/*!50003 CREATE*/ /*!50020 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1 */",
			"/*!50003 CREATE*/ /*!50020 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1 */"},
		{"/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */ /*!50001 VIEW `v` AS select 1 AS `a` */",
			"/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=CURRENT_USER SQL SECURITY DEFINER */ /*!50001 VIEW `v` AS select 1 AS `a` */"},
		{"CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select 1",
			"CREATE ALGORITHM=UNDEFINED DEFINER=CURRENT_USER SQL SECURITY DEFINER VIEW `v` AS select 1"},
		{"/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 SECOND ON COMPLETION NOT PRESERVE ENABLE DO EXECUTE IMMEDIATE 0x47 */",
			"/*!50106 CREATE*/ /*!50117 DEFINER=CURRENT_USER*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 SECOND ON COMPLETION NOT PRESERVE DISABLE DO EXECUTE IMMEDIATE 0x47 */"},
		{"CREATE DEFINER=`root`@`localhost` EVENT e ON SCHEDULE EVERY 1 SECOND STARTS '2030-01-01 00:00:00' COMMENT 'x DO y' DO SELECT 1",
			"CREATE DEFINER=CURRENT_USER EVENT e ON SCHEDULE EVERY 1 SECOND STARTS '2030-01-01 00:00:00' DISABLE COMMENT 'x DO y' DO SELECT 1"},
		{"CREATE EVENT e ON SCHEDULE AT '2030-01-01' DO SELECT 1", "CREATE EVENT e ON SCHEDULE AT '2030-01-01' DISABLE DO SELECT 1"},
		{"CREATE EVENT e ON SCHEDULE AT '2030-01-01' DISABLE ON SLAVE DO SELECT 1", "CREATE EVENT e ON SCHEDULE AT '2030-01-01' DISABLE ON SLAVE DO SELECT 1"},
		{"CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1", "CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1"},
		{"CREATE DEFINER=CURRENT_USER() PROCEDURE p() SELECT 1", "CREATE DEFINER=CURRENT_USER() PROCEDURE p() SELECT 1"},
		{"CREATE PROCEDURE p() SELECT 1", "CREATE PROCEDURE p() SELECT 1"},
		{"CREATE OR REPLACE DEFINER=`a`@`b` AGGREGATE FUNCTION f(x INT) RETURNS INT BEGIN RETURN 1; END",
			"CREATE OR REPLACE DEFINER=CURRENT_USER AGGREGATE FUNCTION f(x INT) RETURNS INT BEGIN RETURN 1; END"},
		{"CREATE /* c */ DEFINER=`root`@`localhost` -- x\n PROCEDURE p() SELECT 1", "CREATE /* c */ DEFINER=CURRENT_USER -- x\n PROCEDURE p() SELECT 1"},
		{"CREATE TABLE t (a INT)", "CREATE TABLE t (a INT)"},
		{"CREATE DEFINER=`a\\b`@`h` VIEW `v\\n\\! x` AS SELECT 1", "CREATE DEFINER=CURRENT_USER VIEW `v\\n\\! x` AS SELECT 1"},
		{"CREATE VIEW `v\\n` AS SELECT 1", "CREATE VIEW `v\\n` AS SELECT 1"},
		{"CREATE OR REPLACE TABLE t (a INT)", "CREATE OR REPLACE TABLE t (a INT)"},
		{"INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"},
		// read with the lexer's tokens: hosts made of several tokens, a
		// body the default session cannot read (never read: only the head
		// is), a comment every MariaDB skips (MySQL's 50700-79999 range)
		{"CREATE DEFINER=root@% PROCEDURE p() SELECT 1", "CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1"},
		{"CREATE DEFINER=root@192.168.1.% PROCEDURE p() SELECT 1", "CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1"},
		{"CREATE DEFINER=root@my-host.example PROCEDURE p() SELECT 1", "CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1"},
		{"CREATE DEFINER='root'@'%' PROCEDURE p() SELECT 'x\\'", "CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 'x\\'"},
		{"CREATE /*!50700 DEFINER=root@localhost */ PROCEDURE p() SELECT 1", "CREATE /*!50700 DEFINER=root@localhost */ PROCEDURE p() SELECT 1"},
		// refused: the server's reading of the head could differ
		{"CREATE DEFINER=root@@x PROCEDURE p() SELECT 1", ""},
		{"CREATE DEFINER=root@ PROCEDURE p() SELECT 1", ""},
		{"CREATE DEFINER=root@'lo\\cal' PROCEDURE p() SELECT 1", ""},
		{"CREATE DEFINER=root@\"localhost\" PROCEDURE p() SELECT 1", ""},
		{"CREATE /*!100000 TABLE x */ DEFINER=root@localhost PROCEDURE p() SELECT 1", ""},
		{"CREATE /*!99999 TABLE x */ DEFINER=root@localhost PROCEDURE p() SELECT 1", ""},
		{"CREATE /*M!100000 TABLE x */ DEFINER=root@localhost PROCEDURE p() SELECT 1", ""},
		{"CREATE DEFINER=\"root\"@localhost PROCEDURE p() SELECT 1", ""},
		{"CREATE DEFINER='ro\\'ot'@localhost PROCEDURE p() SELECT 1", ""},
		{"CREATE DEFINER=root@localhost TABLE t (a INT)", ""},
		{"CREATE 'x' DEFINER=root@localhost PROCEDURE p() SELECT 1", ""},
		{"CREATE EVENT e ON SCHEDULE AT 'a\\' ENABLE' DO SELECT 1", ""},
	}
	for _, c := range cases {
		got, err := none.rewrite(c.in, "app")
		if c.want == "" {
			if err == nil || !errors.Is(err, ErrRefused) {
				t.Errorf("%s\n  not refused: %q %v", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s\n  got  %q (%v)\n  want %q", c.in, got, err, c.want)
		}
	}

	// EXECUTE IMMEDIATE, as ops writes bodies with comments: the literal's
	// statement is rewritten and sent as hex.
	body := "CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SQL SECURITY DEFINER BEGIN /* c */ EXECUTE IMMEDIATE 'GRANT ALL ON *.* TO x'; END"
	for _, stmt := range []string{"EXECUTE IMMEDIATE _utf8mb4 " + sqltext.QuoteString(body), "EXECUTE IMMEDIATE _gbk 0x" + hex.EncodeToString([]byte(body))} {
		got, err := none.rewrite(stmt, "app")
		if err != nil {
			t.Fatal(err)
		}
		inner, _, ok := executeImmediateBody(got, sqltext.LexState{})
		if !ok || inner != strings.Replace(body, "DEFINER=`root`@`localhost`", "DEFINER=CURRENT_USER", 1) || !strings.Contains(got, "EXECUTE IMMEDIATE _") {
			t.Errorf("%s\n  became %s (%q)", stmt, got, inner)
		}
	}

	// Trusted: kept only for the listed object with the listed definer.
	trusted := NewDefinerRule([]schema.StoredObject{
		{Kind: "PROCEDURE", Database: "app", Name: "p", Definer: "`root`@`localhost`"},
		{Kind: "EVENT", Database: "app", Name: "e", Definer: "`root`@`localhost`", Enabled: true},
		{Kind: "EVENT", Database: "app", Name: "off", Definer: "`root`@`localhost`"},
	})
	keep := []struct {
		stmt, db string
		kept     bool
	}{
		{"CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SELECT 1", "app", true},
		{"CREATE DEFINER=root@localhost PROCEDURE p() SELECT 1", "app", true},
		{"CREATE DEFINER=`root`@`%` PROCEDURE `p`() SELECT 1", "app", false},
		{"CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SELECT 1", "other", false},
		{"CREATE DEFINER=`root`@`localhost` FUNCTION `p`() RETURNS INT RETURN 1", "app", false},
		{"CREATE DEFINER=`root`@`localhost` PROCEDURE `q`() SELECT 1", "app", false},
		{"CREATE DEFINER=`root`@`localhost` EVENT `e` ON SCHEDULE EVERY 1 DAY ON COMPLETION NOT PRESERVE ENABLE DO SELECT 1", "app", true},
	}
	for _, k := range keep {
		got, err := trusted.rewrite(k.stmt, k.db)
		if err != nil {
			t.Fatal(err)
		}
		if (got == k.stmt) != k.kept {
			t.Errorf("%s in %s: kept=%v, want %v (%s)", k.stmt, k.db, got == k.stmt, k.kept, got)
		}
	}
	got, _ := trusted.rewrite("CREATE DEFINER=`root`@`localhost` EVENT `off` ON SCHEDULE EVERY 1 DAY ON COMPLETION NOT PRESERVE ENABLE DO SELECT 1", "app")
	if got != "CREATE DEFINER=`root`@`localhost` EVENT `off` ON SCHEDULE EVERY 1 DAY ON COMPLETION NOT PRESERVE DISABLE DO SELECT 1" {
		t.Errorf("an event listed disabled: %s", got)
	}
}

// TestStoredObjects: the dump records each view, routine, trigger and event
// with the definer and state sqltext.ReadCreateHead reads, the same reading the
// restore checks it with.
func TestStoredObjects(t *testing.T) {
	m := &schema.DBMeta{Name: "app",
		Views:    []*schema.ViewMeta{{Name: "v", CreateSQL: "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select 1 AS `a`"}},
		Routines: []*schema.ObjDDL{{Kind: "PROCEDURE", Name: "p", Body: "CREATE DEFINER=`u`@`%` PROCEDURE `p`()\nSELECT 1"}},
		Triggers: []*schema.ObjDDL{{Kind: "TRIGGER", Name: "tr", Body: "CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1"}},
		Events: []*schema.ObjDDL{
			{Kind: "EVENT", Name: "e", Body: "CREATE DEFINER=`root`@`localhost` EVENT `e` ON SCHEDULE EVERY 1 YEAR STARTS '2031-01-01 00:00:00' ON COMPLETION NOT PRESERVE ENABLE DO SELECT 1"},
			{Kind: "EVENT", Name: "d", Body: "CREATE DEFINER=`root`@`localhost` EVENT `d` ON SCHEDULE EVERY 1 YEAR ON COMPLETION NOT PRESERVE DISABLE DO SELECT 1"},
		},
	}
	got := schema.StoredObjects(m)
	want := []schema.StoredObject{
		{Kind: "VIEW", Database: "app", Name: "v", Definer: "`root`@`localhost`"},
		{Kind: "PROCEDURE", Database: "app", Name: "p", Definer: "`u`@`%`"},
		{Kind: "TRIGGER", Database: "app", Name: "tr", Definer: "`root`@`localhost`"},
		{Kind: "EVENT", Database: "app", Name: "e", Definer: "`root`@`localhost`", Enabled: true},
		{Kind: "EVENT", Database: "app", Name: "d", Definer: "`root`@`localhost`"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestDefinerRewriteReadsInTheSession: the head is read in the session's
// character set: in sjis 0x95 0x60 is one character, so the backquote in
// it does not end the user's name.
func TestDefinerRewriteReadsInTheSession(t *testing.T) {
	stmt := "CREATE DEFINER=`ro\x95`t`@`%` PROCEDURE p() SELECT 1"
	got, err := NewDefinerRule(nil).RewriteIn(stmt, "app", sqltext.LexState{Charset: sqltext.CharsetSJIS})
	if want := "CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1"; err != nil || got != want {
		t.Errorf("in sjis: got %q (%v), want %q", got, err, want)
	}
	h, err := sqltext.ReadCreateHead(stmt, sqltext.LexState{Charset: sqltext.CharsetSJIS})
	if err != nil || h == nil || h.Definer() != "`ro\x95``t`@`%`" {
		t.Errorf("in sjis: head %+v (%v)", h, err)
	}
	if _, err := NewDefinerRule(nil).RewriteIn(stmt, "app", sqltext.LexState{}); err == nil {
		t.Errorf("read as utf8mb4 the name ends inside the character: want a refusal")
	}
}
