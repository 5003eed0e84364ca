package restore

import (
	"context"
	"errors"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDatabaseRef(t *testing.T) {
	cases := []struct {
		in         string
		kind, name string
		ok         bool
	}{
		{"USE `a``b`", "USE", "a`b", true},
		{"use plain_db", "USE", "plain_db", true},
		{"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `x` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", "CREATE", "x", true},
		{"CREATE SCHEMA IF NOT EXISTS y", "CREATE", "y", true},
		{"/*!40000 DROP DATABASE IF EXISTS `z`*/", "DROP", "z", true},
		{"ALTER DATABASE `w` CHARACTER SET latin1", "ALTER", "w", true},
		{"ALTER DATABASE COLLATE utf8mb4_bin", "", "", false},
		{"CREATE TABLE `x` (a int)", "", "", false},
		{"USER()", "", "", false},
		{"SELECT 1", "", "", false},
	}
	for _, c := range cases {
		ref, ok := databaseRef(c.in, sqltext.LexState{})
		if ok != c.ok || ok && (ref.kind != c.kind || ref.name != c.name) {
			t.Errorf("databaseRef(%q) = %+v, %v", c.in, ref, ok)
		}
	}
}

func TestRenamer(t *testing.T) {
	r, err := newRenamer(map[string]string{"src": "dst`x"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		in, out string
		keep    bool
	}{
		{"SET NAMES utf8mb4", "SET NAMES utf8mb4", true},
		{"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `other`", "", false},
		{"USE `other`", "", false},
		{"CREATE TABLE t (a int)", "", false},
		{"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `src` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `dst``x` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", true},
		{"USE `src`", "USE `dst``x`", true},
		{"CREATE TABLE t (a int)", "CREATE TABLE t (a int)", true},
		{"USE other", "", false},
		{"INSERT INTO t VALUES (1)", "", false},
		{"USE src", "USE `dst``x`", true},
		{"INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)", true},
	}
	for i, s := range steps {
		out, keep, err := r.rewrite(s.in, sqltext.LexState{})
		if err != nil || keep != s.keep || (keep && out != s.out) {
			t.Errorf("step %d %q: got %q keep=%v err=%v; want %q keep=%v", i, s.in, out, keep, err, s.out, s.keep)
		}
	}
	if m := r.missing(); len(m) != 0 {
		t.Errorf("missing = %v", m)
	}
	r2, _ := newRenamer(map[string]string{"nope": "x"})
	r2.rewrite("USE a", sqltext.LexState{})
	if m := r2.missing(); len(m) != 1 {
		t.Errorf("missing = %v", m)
	}
	if _, err := newRenamer(map[string]string{"a": ""}); err == nil {
		t.Errorf("empty target accepted")
	}
}

func TestTruncationDetection(t *testing.T) {
	full := sqltext.OpsDumpHead + "\nSELECT 1;\n" + strings.Repeat("x", 100000) + "\n" + sqltext.FooterMarker + "\n"
	for _, c := range []struct {
		in        string
		truncated bool
	}{
		{full, false},
		{full[:len(full)-1], true},
		{full[:len(full)/2], true},
		{"-- mysqldump output\nSELECT 1;\n", false}, // not ours: no marker expected
	} {
		cr := &countingReader{r: iotest.HalfReader(strings.NewReader(c.in))}
		if _, err := io.Copy(io.Discard, cr); err != nil {
			t.Fatal(err)
		}
		if cr.truncated() != c.truncated || cr.n.Load() != int64(len(c.in)) {
			t.Errorf("%d bytes: truncated = %v, want %v", len(c.in), cr.truncated(), c.truncated)
		}
	}
}

func TestIsGeneratedColumn(t *testing.T) {
	for _, c := range []struct {
		extra, gen string
		want       bool
	}{
		{"", "", false},
		{"auto_increment", "", false},
		{"INVISIBLE", "", false},
		{"DEFAULT_GENERATED", "", false},
		{"DEFAULT_GENERATED on update CURRENT_TIMESTAMP", "", false},
		{"VIRTUAL GENERATED", "`a` * 2", true},
		{"STORED GENERATED", "", true},
		{"PERSISTENT", "", true},
		{"ROW START INVISIBLE", "", true},
	} {
		if got := schema.IsGeneratedColumn(c.extra, c.gen); got != c.want {
			t.Errorf("isGeneratedColumn(%q, %q) = %v", c.extra, c.gen, got)
		}
	}
}

func TestIsSessionStatement(t *testing.T) {
	for s, want := range map[string]bool{
		"/*!40101 SET NAMES utf8mb4 */":                 true,
		"SET character_set_client = utf8mb4":            true,
		"set @a = 1":                                    true,
		"USE `db`":                                      true,
		"INSERT INTO t VALUES (1)":                      false,
		"SETTINGS":                                      false,
		"CREATE TABLE `SET ` (a int)":                   false,
		"/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */":      true,
		"DO SETVAL(`s`, 1, 0)":                          false,
		"EXECUTE IMMEDIATE _utf8mb4 'CREATE TRIGGER …'": false,
	} {
		if got := isSessionStatement(s, sqltext.LexState{}); got != want {
			t.Errorf("isSessionStatement(%q) = %v, want %v", s, got, want)
		}
	}
}

// parseStream leaves the rows of an INSERT of the dumper's form unchecked
// (LOAD DATA takes them apart as data); whatever would run them as SQL
// goes through asWritten, which refuses rows that are not literals.
func TestRowsCheckedWhenTheyRunAsWritten(t *testing.T) {
	script := sqltext.SandboxLine + sqltext.OpsDumpHead + "\nCREATE DATABASE `app`;\nUSE `app`;\n" +
		"INSERT INTO `t` (`id`,`c`) VALUES (1,'a;b'),(2,NULL),(-3,0x00);\n" +
		"INSERT INTO `t` (`id`,`c`) VALUES (1,'a'),(2,(SELECT CURRENT_USER()));\n" +
		"INSERT INTO `t` VALUES (3,(SELECT 1));\n"
	rn, _ := newRenamer(nil)
	ch := make(chan restoreItem, 10)
	perr := make(chan error, 1)
	parseStream(context.Background(), &countingReader{r: strings.NewReader(script)}, rn, guard.NewGuard(nil, []string{"app"}), guard.NewDefinerRule(nil), ch, perr)
	var items []restoreItem
	for it := range ch {
		if it.data {
			items = append(items, it)
		}
	}
	// The INSERT without a column list is not of the dumper's form: the
	// guard refuses it while parsing, as before.
	if err := <-perr; !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "statement 5 ") {
		t.Fatalf("parseStream: %v, want statement 5 refused", err)
	}
	if len(items) != 2 || items[0].form == nil || items[1].form == nil {
		t.Fatalf("data items %+v, want the two INSERTs of the dumper's form", items)
	}
	if q, err := asWritten(items[0]); err != nil || q != items[0].st.SQL {
		t.Errorf("asWritten(good rows) = %q, %v", q, err)
	}
	if q, err := asWritten(items[1]); !errors.Is(err, guard.ErrRefused) || q != "" {
		t.Errorf("asWritten(rows with a subquery) = %q, %v; want refused", q, err)
	}
}

// The engine takes the threads it is given: the one default is the job's
// (backup.DefaultThreads), and no connection count below 1 is made up here.
func TestRestoreRefusesNoDataConnections(t *testing.T) {
	_, err := Restore(context.Background(), RestoreOptions{}, strings.NewReader("SELECT 1;\n"))
	if err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("Restore with Threads 0 = %v, want an error asking for at least 1", err)
	}
}
