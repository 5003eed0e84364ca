package restore

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/secret"
	"github.com/opsteam/ops/internal/testenv"
)

// definerBed is a source database dumped with a root-definer procedure and
// an enabled root-definer event, a least-privilege restore account on the
// target (the README's restore grants, on replace\_def\_% only) and a
// low-privilege account.
type definerBed struct {
	src, dst       string
	restoreUser    string
	lowUser        string
	restoreM, lowM conn.Config
	dump           []byte
	res            *dump.DumpResult
	root           *mysqltest.Session
}

func newDefinerBed(t *testing.T) *definerBed {
	t.Helper()
	b := &definerBed{src: mysqltest.UniqueName("replace_defsrc_"), dst: mysqltest.UniqueName("replace_def_")}
	srcDB, tgtM, tgt := mysqltest.Servers(t, b.src, b.dst)
	ss := mysqltest.NewSession(t, srcDB)
	q := sqltext.QuoteIdent(b.src)
	ss.Exec("SET SESSION sql_mode = ''", "CREATE DATABASE "+q, "USE "+q,
		"CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)",
		"CREATE DEFINER=`root`@`localhost` PROCEDURE good() SQL SECURITY DEFINER SELECT COUNT(*) FROM t",
		"CREATE DEFINER=`root`@`localhost` EVENT good_e ON SCHEDULE EVERY 1 YEAR STARTS '2031-01-01 00:00:00' ENABLE DO UPDATE t SET id = id",
		"CREATE DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW v AS SELECT id FROM t")
	var buf bytes.Buffer
	res, err := dump.Dump(context.Background(), dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{b.src}, Compression: compress.None}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	b.dump, b.res = buf.Bytes(), res
	b.root = mysqltest.NewSession(t, tgt)
	tag := mysqltest.UniqueName("")
	b.restoreUser, b.lowUser = "replace_rst_"+tag, "replace_low_"+tag
	pattern := "`replace\\_def\\_%`.*"
	b.root.Exec(
		"CREATE USER '"+b.restoreUser+"'@'%' IDENTIFIED BY 'rst-pw'",
		"GRANT CREATE, DROP, INSERT, ALTER, CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, EVENT ON "+pattern+" TO '"+b.restoreUser+"'@'%'",
		"GRANT SELECT, SHOW VIEW ON "+pattern+" TO '"+b.restoreUser+"'@'%'",
		"GRANT SET USER ON *.* TO '"+b.restoreUser+"'@'%'",
		"CREATE USER '"+b.lowUser+"'@'%' IDENTIFIED BY 'low-pw'",
		"GRANT EXECUTE ON "+sqltext.QuoteIdent(b.dst)+".* TO '"+b.lowUser+"'@'%'")
	t.Cleanup(func() {
		b.root.Exec("DROP USER IF EXISTS '"+b.restoreUser+"'@'%'", "DROP USER IF EXISTS '"+b.lowUser+"'@'%'", "DROP USER IF EXISTS 'replace_evil'@'%'")
	})
	b.restoreM, b.lowM = tgtM, tgtM
	b.restoreM.User, b.restoreM.Password = b.restoreUser, secret.New("rst-pw")
	b.lowM.User, b.lowM.Password = b.lowUser, secret.New("low-pw")
	return b
}

// planted is the dump with a root-definer procedure and event appended
// (each runs a GRANT hidden in hex when called or scheduled).
func (b *definerBed) planted() []byte {
	grant := hex.EncodeToString([]byte("GRANT ALL PRIVILEGES ON *.* TO '" + b.lowUser + "'@'%' WITH GRANT OPTION"))
	create := hex.EncodeToString([]byte("CREATE USER 'replace_evil'@'%' IDENTIFIED BY 'x'"))
	text := string(b.dump)
	end := strings.LastIndex(text, "-- Dump completed")
	plant := "USE " + sqltext.QuoteIdent(b.src) + ";\n" +
		"CREATE DEFINER=root@localhost PROCEDURE evil() SQL SECURITY DEFINER EXECUTE IMMEDIATE 0x" + grant + ";\n" +
		"/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT evil_e ON SCHEDULE EVERY 1 SECOND ON COMPLETION PRESERVE ENABLE DO EXECUTE IMMEDIATE 0x" + create + " */;\n"
	return []byte(text[:end] + plant + text[end:])
}

func (b *definerBed) restore(t *testing.T, stream []byte, trusted []schema.StoredObject) {
	t.Helper()
	b.root.Exec("DROP DATABASE IF EXISTS " + sqltext.QuoteIdent(b.dst))
	if _, err := Restore(context.Background(), RestoreOptions{Threads: 2, MySQL: b.restoreM, Databases: map[string]string{b.src: b.dst}, Logger: mysqltest.TestLogger(t), TrustedObjects: trusted}, bytes.NewReader(stream)); err != nil {
		t.Fatalf("restore as the restore account: %v", err)
	}
}

func (b *definerBed) definer(kind, name string) string {
	switch kind {
	case "EVENT":
		return b.root.One(fmt.Sprintf("SELECT CONCAT(DEFINER, ' ', STATUS) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s AND EVENT_NAME = %s", sqltext.QuoteString(b.dst), sqltext.QuoteString(name)))
	case "VIEW":
		return b.root.One(fmt.Sprintf("SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", sqltext.QuoteString(b.dst), sqltext.QuoteString(name)))
	}
	return b.root.One(fmt.Sprintf("SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s AND ROUTINE_NAME = %s", sqltext.QuoteString(b.dst), sqltext.QuoteString(name)))
}

// TestDefinerCannotOutrankTheRestoreAccount: a stream with a planted
// root-definer SQL SECURITY DEFINER procedure running a GRANT, and a
// root-definer enabled event, restored by a least-privilege account
// without a trusted listing: both get the restore account as definer, the
// event is DISABLED, and calling the procedure as a user with EXECUTE
// grants nothing. The objects the dump recorded (the manifest's list)
// keep root and ENABLE when passed as trusted, the planted ones still do
// not. Fails when the DEFINER rule is removed (the restore account has SET
// USER, so the server accepts DEFINER=root).
func TestDefinerCannotOutrankTheRestoreAccount(t *testing.T) {
	testenv.RequireIT(t)
	b := newDefinerBed(t)
	rst := b.restoreUser + "@%"
	grantsBefore := b.root.One("SHOW GRANTS FOR '" + b.lowUser + "'@'%'")

	for _, trusted := range [][]schema.StoredObject{nil, b.res.Objects} {
		label := "untrusted"
		if trusted != nil {
			label = "trusted"
		}
		t.Run(label, func(t *testing.T) {
			b.restore(t, b.planted(), trusted)
			if got := b.definer("PROCEDURE", "evil"); got != rst {
				t.Errorf("planted procedure: definer %q, want the restore account %q", got, rst)
			}
			if got := b.definer("EVENT", "evil_e"); got != rst+" DISABLED" {
				t.Errorf("planted event: %q, want %q", got, rst+" DISABLED")
			}
			low := mysqltest.OpenDB(t, b.lowM)
			_, err := low.Exec("CALL " + sqltext.QuoteIdent(b.dst) + ".evil()")
			t.Logf("CALL evil() as the low-privilege user: %v", err)
			if got := b.root.One("SHOW GRANTS FOR '" + b.lowUser + "'@'%'"); got != grantsBefore || strings.Contains(b.root.One("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'replace_evil'"), "1") {
				t.Errorf("the planted procedure granted something: %s", got)
			}
			wantGood, wantEvent, wantView := rst, rst+" DISABLED", rst
			if trusted != nil {
				wantGood, wantEvent, wantView = "root@localhost", "root@localhost ENABLED", "root@localhost"
			}
			if got := b.definer("PROCEDURE", "good"); got != wantGood {
				t.Errorf("dumped procedure: definer %q, want %q", got, wantGood)
			}
			if got := b.definer("EVENT", "good_e"); got != wantEvent {
				t.Errorf("dumped event: %q, want %q", got, wantEvent)
			}
			if got := b.definer("VIEW", "v"); got != wantView {
				t.Errorf("dumped view: definer %q, want %q", got, wantView)
			}
		})
	}
}
