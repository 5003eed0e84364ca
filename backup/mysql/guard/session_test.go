package guard

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// checkScript reads body statement by statement as a restore does (the
// Splitter in the state of the guard's session, which each statement it
// lets through may change) and checks each statement with the guard; the
// first refusal is returned.
func checkScript(body string) error {
	g := NewGuard(nil, []string{"other"})
	sp := sqltext.NewSplitter(strings.NewReader("CREATE DATABASE `app`;\nUSE `app`;\n" + body))
	for {
		sp.SetLex(g.Sess.Lex)
		st, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := g.Check(st.SQL); err != nil {
			return err
		}
	}
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
		err := checkScript(body)
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
		if err := checkScript(body); err != nil {
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
		if err := checkScript(body); !errors.Is(err, ErrRefused) {
			t.Errorf("%q: not refused (%v)", body, err)
		}
	}
}
