package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// replaceSchema creates db with two tables (one named after which), a
// view, a trigger, a procedure, a function and an event, and rows that
// differ with which.
func replaceSchema(s *mysqltest.Session, db, which string) {
	q := sqltext.QuoteIdent(db)
	s.Exec("SET SESSION sql_mode = ''", "CREATE DATABASE "+q+" CHARACTER SET utf8mb4", "USE "+q,
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50), n INT DEFAULT 0, KEY (v))",
		fmt.Sprintf("CREATE TABLE only_%s (id INT PRIMARY KEY)", which),
		"CREATE SEQUENCE s1", "CREATE TABLE withseq (id INT NOT NULL DEFAULT nextval(s1) PRIMARY KEY, x INT) ",
		"INSERT INTO withseq (x) VALUES (1), (2)",
		fmt.Sprintf("INSERT INTO t VALUES (1, '%s one', 0), (2, '%s two', 0)", which, which),
		fmt.Sprintf("INSERT INTO only_%s VALUES (7)", which),
		fmt.Sprintf("CREATE VIEW v AS SELECT id, v FROM t WHERE v LIKE '%s%%'", which),
		fmt.Sprintf("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, ' %s')", which),
		fmt.Sprintf("CREATE PROCEDURE p() SELECT '%s', COUNT(*) FROM t", which),
		fmt.Sprintf("CREATE FUNCTION f() RETURNS VARCHAR(10) DETERMINISTIC RETURN '%s'", which),
		fmt.Sprintf("CREATE EVENT e ON SCHEDULE EVERY 1 YEAR STARTS '2031-01-01 00:00:00' DISABLE COMMENT '%s' DO UPDATE t SET n = n + 1", which),
	)
}

// leftovers lists the databases a --replace of dst may leave behind.
func leftovers(t *testing.T, s *mysqltest.Session, dst string) []string {
	t.Helper()
	var out []string
	for _, r := range s.Rows("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE " + sqltext.QuoteString(strings.ReplaceAll(dst, "_", `\_`)+`\_\_ops\_%`)) {
		out = append(out, conn.Col(r, "SCHEMA_NAME"))
	}
	return out
}

// TestReplaceKeepsTheOriginalOnFailure: a --replace restore of a bad
// backup (truncated, refused mid-way, hash mismatch at Finish, a swap that
// fails at each of its steps) leaves the original database exactly as it
// was (SHOW CREATE of every object, CHECKSUM TABLE, trigger order, schema
// options) and no temporary or holding database; a good backup replaces
// it (tables, view, trigger, routines, event all the backup's).
func TestReplaceKeepsTheOriginalOnFailure(t *testing.T) {
	testenv.RequireIT(t)
	src := mysqltest.UniqueName("replace_src_")
	dst := mysqltest.UniqueName("replace_dst_")
	srcDB, tgtM, tgt := mysqltest.Servers(t, src, dst)
	ctx := context.Background()
	ss := mysqltest.NewSession(t, srcDB)
	replaceSchema(ss, src, "new")
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(ctx, dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{src}, Compression: compress.None}, &dumpOut); err != nil {
		t.Fatal(err)
	}
	want := mysqltest.Fingerprint(t, ss, src)
	// reset makes the original anew; it returns its fingerprint and a
	// session of t to read the target with.
	reset := func(t *testing.T) (map[string]string, *mysqltest.Session) {
		s2 := mysqltest.NewSession(t, tgt)
		s2.Exec("DROP DATABASE IF EXISTS " + sqltext.QuoteIdent(dst))
		replaceSchema(s2, dst, "old")
		s2.Exec("ALTER DATABASE " + sqltext.QuoteIdent(dst) + " CHARACTER SET latin1 COLLATE latin1_swedish_ci")
		ts := mysqltest.NewSession(t, tgt)
		return mysqltest.Fingerprint(t, ts, dst), ts
	}
	restore := func(t *testing.T, stream []byte, finish func() error) error {
		_, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM, Databases: map[string]string{src: dst}, Replace: true, Logger: mysqltest.TestLogger(t), Finish: finish}, bytes.NewReader(stream))
		return err
	}
	good := dumpOut.Bytes()
	text := string(good)
	mid := strings.Index(text, "INSERT INTO")
	if mid < 0 {
		t.Fatal("no INSERT in the dump")
	}
	bad := map[string]struct {
		stream []byte
		finish func() error
	}{
		"truncated": {stream: good[:mid+len("INSERT INTO")+40]},
		"refused":   {stream: []byte(text[:mid] + "GRANT ALL ON *.* TO 'replace_evil'@'localhost';\n" + text[mid:])},
		"finish":    {stream: good, finish: func() error { return errors.New("the stored stream's SHA-256 differs") }},
		"guard-dst": {stream: []byte(text[:mid] + "DROP TABLE " + sqltext.QuoteIdent(dst) + ".t;\n" + text[mid:])},
	}
	for _, step := range []string{"drop-triggers", "rename", "objects", "done"} {
		bad["swap-"+step] = struct {
			stream []byte
			finish func() error
		}{stream: good}
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			before, ts := reset(t)
			if step, ok := strings.CutPrefix(name, "swap-"); ok {
				swapFault = func(s string) error {
					if s == step {
						return fmt.Errorf("fault injected at %s", s)
					}
					return nil
				}
				defer func() { swapFault = nil }()
			}
			err := restore(t, c.stream, c.finish)
			if err == nil {
				t.Fatal("the restore succeeded")
			}
			t.Logf("refused as expected: %v", err)
			mysqltest.CompareFingerprints(t, name+": the original", before, mysqltest.Fingerprint(t, ts, dst))
			if l := leftovers(t, ts, dst); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		_, ts := reset(t)
		if err := restore(t, good, nil); err != nil {
			t.Fatal(err)
		}
		renamed := map[string]string{} // a sequence default names its database
		for k, v := range want {
			renamed[k] = strings.ReplaceAll(v, sqltext.QuoteIdent(src)+".", sqltext.QuoteIdent(dst)+".")
		}
		mysqltest.CompareFingerprints(t, "replaced", renamed, mysqltest.Fingerprint(t, ts, dst))
		if l := leftovers(t, ts, dst); len(l) > 0 {
			t.Errorf("left behind: %v", l)
		}
	})
}

// TestReplaceSwapsSeveralDatabasesTogether: two databases replaced by one
// restore are swapped by one RENAME TABLE; a failure after it (injected
// once their tables moved) puts both originals back, and a good restore
// replaces both.
func TestReplaceSwapsSeveralDatabasesTogether(t *testing.T) {
	testenv.RequireIT(t)
	srcA, srcB := mysqltest.UniqueName("replace_srca_"), mysqltest.UniqueName("replace_srcb_")
	dstA, dstB := mysqltest.UniqueName("replace_dsta_"), mysqltest.UniqueName("replace_dstb_")
	srcDB, tgtM, tgt := mysqltest.Servers(t, srcA, srcB, dstA, dstB)
	ss := mysqltest.NewSession(t, srcDB)
	replaceSchema(ss, srcA, "new")
	replaceSchema(ss, srcB, "new")
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(context.Background(), dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{srcA, srcB}, Compression: compress.None}, &dumpOut); err != nil {
		t.Fatal(err)
	}
	mapping := map[string]string{srcA: dstA, srcB: dstB}
	for _, fail := range []bool{true, false} {
		ts := mysqltest.NewSession(t, tgt)
		before := map[string]map[string]string{}
		for _, d := range []string{dstA, dstB} {
			ts.Exec("DROP DATABASE IF EXISTS " + sqltext.QuoteIdent(d))
			replaceSchema(ts, d, "old")
			before[d] = mysqltest.Fingerprint(t, ts, d)
		}
		if fail {
			swapFault = func(s string) error {
				if s == "objects" {
					return errors.New("fault injected after the rename")
				}
				return nil
			}
		}
		_, err := Restore(context.Background(), RestoreOptions{Threads: 2, MySQL: tgtM, Databases: mapping, Replace: true, Logger: mysqltest.TestLogger(t)}, bytes.NewReader(dumpOut.Bytes()))
		swapFault = nil
		if fail != (err != nil) {
			t.Fatalf("fail=%v: %v", fail, err)
		}
		for _, d := range []string{dstA, dstB} {
			if l := leftovers(t, ts, d); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
			if fail {
				mysqltest.CompareFingerprints(t, "undone "+d, before[d], mysqltest.Fingerprint(t, ts, d))
			} else if got := ts.One("SELECT v FROM " + sqltext.QuoteIdent(d) + ".t WHERE id = 1"); got != "new one" {
				t.Errorf("%s not replaced: %q", d, got)
			}
		}
	}
}
