package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// LOAD DATA LOCAL turns a duplicate key into a skipped row; the restore
// counts the rows the server took and fails where the INSERT (and the stock
// client) would have, instead of restoring a table with a row missing.
func TestLoadDataFailsWhereTheInsertWould(t *testing.T) {
	testenv.RequireIT(t)
	ctx := context.Background()
	db := mysqltest.UniqueName("ops_it_dup_")
	src, tgtM, tgt := mysqltest.Servers(t, db)
	s := mysqltest.NewSession(t, src)
	s.Exec("CREATE DATABASE "+sqltext.QuoteIdent(db),
		"CREATE TABLE "+sqltext.QuoteIdent(db)+".t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10), b VARBINARY(4))",
		"INSERT INTO "+sqltext.QuoteIdent(db)+".t (v, b) VALUES ('a', 0x00), ('b', NULL), ('c', 0xFF)")
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(ctx, dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Compression: "none"}, &dumpOut); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	plain := dumpOut.String()
	insert := "INSERT INTO `t` (`id`,`v`,`b`) VALUES (1,'a',0x00),(2,'b',NULL),(3,'c',0xFF);\n"
	if !strings.Contains(plain, insert) {
		t.Fatalf("the dump lacks %q:\n%s", insert, plain)
	}
	// A stream whose second INSERT repeats key 2 (the rows are otherwise new).
	tampered := strings.Replace(plain, insert, insert+"INSERT INTO `t` (`id`,`v`,`b`) VALUES (4,'d',0x01),(2,'x',0x02),(5,'e',NULL);\n", 1)

	cmd := exec.Command("mysql", "--no-defaults", "-h"+tgtM.Host, fmt.Sprintf("-P%d", tgtM.Port), "-uroot")
	cmd.Stdin = strings.NewReader(tampered)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Duplicate entry") {
		t.Fatalf("the stock client took the duplicate key: %v\n%s", err, out)
	}
	mysqltest.DropDatabases(t, tgt, db)

	// On one connection every INSERT goes as LOAD DATA; on two, this table,
	// alone in its database, goes as INSERTs (see alone).
	for threads, want := range map[int]string{1: "1 of its 3 rows were not inserted", 2: "Duplicate entry"} {
		_, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: threads}, strings.NewReader(tampered))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "INSERT INTO `t`") {
			t.Errorf("threads %d: Restore of a stream with a duplicate key: err = %v, want %q naming the statement", threads, err, want)
		}
		if n := mysqltest.NewSession(t, tgt).One("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " + sqltext.QuoteString(db)); n != "0" {
			t.Errorf("threads %d: the failed restore left the database behind", threads)
		}
	}
	// A stream whose session is strict: the INSERT of a value too long for
	// its column fails (LOAD DATA LOCAL would only warn and truncate), so
	// the restore sends the INSERT and fails with it, as the stock client.
	strict := strings.Replace(strings.Replace(plain, "SQL_MODE='NO_AUTO_VALUE_ON_ZERO'", "SQL_MODE='STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO'", 1),
		"(1,'a',0x00)", "(1,'abcdefghijklmnop',0x00)", 1)
	if strict == plain || strings.Count(strict, "abcdefghijklmnop") != 1 || !strings.Contains(strict, "STRICT_ALL_TABLES") {
		t.Fatalf("could not make the strict stream from:\n%s", plain)
	}
	_, err = Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: 1}, strings.NewReader(strict))
	if err == nil || !strings.Contains(err.Error(), "Data too long") {
		t.Errorf("Restore of a too-long value in a strict session: err = %v, want the INSERT's Data too long", err)
	}
	// The untampered stream restores, through LOAD DATA.
	rr, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: 1}, strings.NewReader(plain))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rr.Loaded != 1 {
		t.Errorf("loaded %d INSERTs with LOAD DATA, want 1", rr.Loaded)
	}
	if got := mysqltest.NewSession(t, tgt).One("SELECT GROUP_CONCAT(id, v, IFNULL(HEX(b), 'N') ORDER BY id) FROM " + sqltext.QuoteIdent(db) + ".t"); got != "1a00,2bN,3cFF" {
		t.Errorf("restored rows = %s", got)
	}
}

// A table whose character columns all store the stream's character set
// loads its rows as they are (CHARACTER SET binary); a table with a column
// in another set has them converted as before. Both restore to the same
// data: multi-byte and four-byte characters, text, JSON, numbers, dates
// and binary values; ENUM, SET, INET6 and UUID columns, latin1 and utf8mb3
// columns (all converted).
func TestLoadDataAsIsOnlyWhereCharsetsMatch(t *testing.T) {
	testenv.RequireIT(t)
	ctx := context.Background()
	db := mysqltest.UniqueName("ops_it_cs_")
	src, tgtM, tgt := mysqltest.Servers(t, db)
	q := sqltext.QuoteIdent(db)
	s := mysqltest.NewSession(t, src)
	s.Exec("SET NAMES utf8mb4", "SET SESSION sql_mode = ''", "SET SESSION time_zone = '+00:00'", "CREATE DATABASE "+q+" CHARACTER SET utf8mb4", "USE "+q,
		`CREATE TABLE u (id INT PRIMARY KEY, v VARCHAR(40), t TEXT, tt TINYTEXT, lt LONGTEXT, j JSON, b VARBINARY(8), bl BLOB,
			c CHAR(3) COLLATE utf8mb4_bin, n BIGINT UNSIGNED, d DECIMAL(20,6), f FLOAT, db DOUBLE, dt DATE, ts DATETIME(6),
			tm TIME(3), y YEAR, tsp TIMESTAMP NULL) DEFAULT CHARSET=utf8mb4`,
		`INSERT INTO u VALUES (1, 'Grüße 😀 𝄞 tab\there', 'nl\nback\\slash ''q''', 'ü', '中文', '{"ü": "😀"}', 0x00FF5C27, 0x0A0D09,
			'ÄÖÜ', 18446744073709551615, -12345678901234.5, 1.5e-7, -2.25e300, '2024-02-29', '1999-12-31 23:59:59.999999',
			'-838:59:59.000', 1901, '2038-01-19 03:14:07'),
			(2, '', NULL, '', '', '[]', '', '', 'a', 0, 0, 0, 0, '0000-00-00', '0000-00-00 00:00:00', '00:00:00', 0, NULL),
			(3, 'ǅ ∑ 中文', 'Ω', NULL, NULL, NULL, NULL, NULL, '😀', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		`CREATE TABLE e (id INT PRIMARY KEY, e ENUM('a','é','中'), st SET('x','ü','中')) DEFAULT CHARSET=utf8mb4`,
		`INSERT INTO e VALUES (1, 'é', 'x,ü'), (2, '中', '中,x'), (3, NULL, '')`,
		`CREATE TABLE x (id INT PRIMARY KEY, i INET6, u UUID, v VARCHAR(10)) DEFAULT CHARSET=utf8mb4`,
		`INSERT INTO x VALUES (1, '::1', '123e4567-e89b-12d3-a456-426614174000', 'ü'), (2, '2001:db8::ff00:42:8329', NULL, '😀')`,
		`CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(40), l VARCHAR(40) CHARACTER SET latin1, m3 VARCHAR(40) CHARACTER SET utf8mb3) DEFAULT CHARSET=utf8mb4`,
		`INSERT INTO m VALUES (1, 'Grüße 😀', 'Grüße çà', 'ǅ ∑ 中文'), (2, '𝄞', 'é', 'é')`,
		`CREATE TABLE l (id INT PRIMARY KEY, v VARCHAR(40)) DEFAULT CHARSET=latin1`,
		`INSERT INTO l VALUES (1, 'Grüße çà ÿ'), (2, '')`)
	want := mysqltest.Fingerprint(t, s, db)
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(ctx, dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Compression: "none"}, &dumpOut); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	rr, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: 1}, bytes.NewReader(dumpOut.Bytes()))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rr.Loaded != 5 || rr.LoadedAsIs != 1 {
		t.Errorf("loaded %d INSERTs with LOAD DATA, %d of them as they are; want 5 and 1 (table u)", rr.Loaded, rr.LoadedAsIs)
	}
	mysqltest.CompareFingerprints(t, "Restore", want, mysqltest.Fingerprint(t, mysqltest.NewSession(t, tgt), db))
	for tb, cols := range map[string]string{"u": "id, v, t, tt, lt, j, HEX(b), HEX(bl), c, n, d, f, db, dt, ts, tm, y, tsp",
		"e": "id, e, st", "x": "id, i, u, v", "m": "id, v, l, m3", "l": "id, v"} {
		qs := "SELECT GROUP_CONCAT(HEX(CONCAT_WS('|', " + cols + ")) ORDER BY id) FROM " + q + "." + tb
		if a, b := mysqltest.NewSession(t, src).One(qs), mysqltest.NewSession(t, tgt).One(qs); a != b {
			t.Errorf("table %s: restored bytes %s, want %s", tb, b, a)
		}
	}
}

// An INSERT of the dumper's form has its rows checked by the guard only
// when they run as SQL (LOAD DATA takes them apart as data): a tampered row
// with an expression is refused on every path that would send it, before
// it is sent.
func TestRowsThatRunAsSQLAreChecked(t *testing.T) {
	testenv.RequireIT(t)
	ctx := context.Background()
	db := mysqltest.UniqueName("ops_it_rows_")
	src, tgtM, tgt := mysqltest.Servers(t, db)
	mysqltest.NewSession(t, src).Exec("CREATE DATABASE "+sqltext.QuoteIdent(db),
		"CREATE TABLE "+sqltext.QuoteIdent(db)+".t (id INT PRIMARY KEY, v VARCHAR(200))",
		"INSERT INTO "+sqltext.QuoteIdent(db)+".t VALUES (1, 'a'), (2, 'b')")
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(ctx, dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Compression: "none"}, &dumpOut); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	plain := dumpOut.String()
	insert := "INSERT INTO `t` (`id`,`v`) VALUES (1,'a'),(2,'b');\n"
	evil := "INSERT INTO `t` (`id`,`v`) VALUES (1,'a'),(2,(SELECT CURRENT_USER()));\n"
	strict := strings.Replace(plain, "SQL_MODE='NO_AUTO_VALUE_ON_ZERO'", "SQL_MODE='STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO'", 1)
	for name, c := range map[string]struct {
		stream  string
		threads int
	}{
		"load data, falls back": {plain, 1},  // the conversion fails, the INSERT would run
		"alone, as INSERT":      {plain, 2},  // a table alone goes as INSERTs
		"strict session":        {strict, 1}, // the session rules LOAD DATA out
		"strict, two":           {strict, 2},
	} {
		if !strings.Contains(c.stream, insert) {
			t.Fatalf("the dump lacks %q:\n%s", insert, c.stream)
		}
		_, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: c.threads}, strings.NewReader(strings.Replace(c.stream, insert, evil, 1)))
		if !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "only literals are loaded") || strings.Contains(err.Error(), "CURRENT_USER") {
			t.Errorf("%s: Restore of a row with a subquery: err = %v, want it refused by the guard, without the row in the message", name, err)
		}
		if n := mysqltest.NewSession(t, tgt).One("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " + sqltext.QuoteString(db)); n != "0" {
			t.Errorf("%s: the refused restore left the database behind", name)
		}
		// The same stream untampered restores on that path.
		if _, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: c.threads}, strings.NewReader(c.stream)); err != nil {
			t.Errorf("%s: Restore of the untampered stream: %v", name, err)
		}
		mysqltest.DropDatabases(t, tgt, db)
	}
}

// The driver's registry of LOAD DATA readers is global: restores running
// side by side in one process (ops serve) must each read their own rows.
func TestConcurrentRestoresLoadTheirOwnRows(t *testing.T) {
	testenv.RequireIT(t)
	ctx := context.Background()
	base := mysqltest.UniqueName("ops_it_par_")
	dbs := []string{base + "_a", base + "_b"}
	src, tgtM, tgt := mysqltest.Servers(t, dbs...)
	dumps := make([]string, len(dbs))
	for i, db := range dbs {
		mysqltest.NewSession(t, src).Exec("CREATE DATABASE "+sqltext.QuoteIdent(db),
			"CREATE TABLE "+sqltext.QuoteIdent(db)+".t (id INT PRIMARY KEY, v VARCHAR(40))",
			"INSERT INTO "+sqltext.QuoteIdent(db)+".t SELECT seq, CONCAT("+sqltext.QuoteString(db)+", '-', seq) FROM "+sqltext.QuoteIdent(db)+".seq_1_to_3000")
		var b bytes.Buffer
		if _, err := dump.Dump(ctx, dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Compression: "none", MaxStatementBytes: 2 << 10}, &b); err != nil {
			t.Fatalf("Dump %s: %v", db, err)
		}
		dumps[i] = b.String()
	}
	errs := make(chan error, len(dbs))
	for _, d := range dumps {
		go func() {
			rr, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: 1}, strings.NewReader(d))
			if err == nil && rr.Loaded < 10 {
				err = fmt.Errorf("only %d statements loaded with LOAD DATA", rr.Loaded)
			}
			errs <- err
		}()
	}
	for range dbs {
		if err := <-errs; err != nil {
			t.Errorf("Restore: %v", err)
		}
	}
	for _, db := range dbs {
		q := "SELECT CONCAT(COUNT(*), '/', SUM(v = CONCAT(" + sqltext.QuoteString(db) + ", '-', id))) FROM " + sqltext.QuoteIdent(db) + ".t"
		if got := mysqltest.NewSession(t, tgt).One(q); got != "3000/3000" {
			t.Errorf("%s after concurrent restores: rows/own rows = %s, want 3000/3000", db, got)
		}
	}
}

// A stream whose session is gbk (another tool's dump, or the dumper's
// stream converted) holds characters whose trail byte is 0x5C: the restore
// runs its INSERTs as written, never as LOAD DATA, and the table comes back
// byte for byte (CHECKSUM TABLE and HEX of every value).
func TestLoadDataRefusedInGbkSession(t *testing.T) {
	testenv.RequireIT(t)
	ctx := context.Background()
	db := mysqltest.UniqueName("bite_gbk_")
	src, tgtM, tgt := mysqltest.Servers(t, db)
	q := sqltext.QuoteIdent(db)
	// 乗 81 5C, 俓 82 5C, 僜 83 5C; each followed by what a backslash
	// would escape: read byte by byte, the INSERT still parses, into
	// other values (82 5C 6E would become 82 0A).
	texts := []string{`乗"`, "俓n", "僜0", "中文"}
	s := mysqltest.NewSession(t, src)
	s.Exec("SET NAMES utf8mb4", "SET SESSION sql_mode = ''", "CREATE DATABASE "+q+" CHARACTER SET gbk", "USE "+q,
		"CREATE TABLE g (id INT PRIMARY KEY, v VARCHAR(20)) DEFAULT CHARSET=gbk")
	for i, v := range texts {
		s.Exec(fmt.Sprintf("INSERT INTO g VALUES (%d, %s)", i+1, sqltext.QuoteString(v)))
	}
	hexes := "SELECT GROUP_CONCAT(id, ':', HEX(v) ORDER BY id) FROM " + q + ".g"
	want, wantHex := mysqltest.Fingerprint(t, s, db), mysqltest.NewSession(t, src).One(hexes)
	if !strings.Contains(wantHex, "815C22") || !strings.Contains(wantHex, "825C6E") {
		t.Fatalf("source rows %s lack the gbk 0x5C trail bytes", wantHex)
	}
	var dumpOut bytes.Buffer
	if _, err := dump.Dump(ctx, dump.DumpOptions{Threads: 2, MySQL: mysqltest.SrcMySQL(), Databases: []string{db}, Compression: "none"}, &dumpOut); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	// The same stream in gbk: the session's SET NAMES and every character.
	gbk := strings.NewReplacer("乗", "\x81\x5c", "俓", "\x82\x5c", "僜", "\x83\x5c", "中", "\xd6\xd0", "文", "\xce\xc4")
	plain := dumpOut.String()
	stream := gbk.Replace(strings.ReplaceAll(plain, "utf8mb4", "gbk"))
	if !strings.Contains(plain, "SET NAMES utf8mb4") || !strings.Contains(stream, "INSERT INTO `g` (`id`,`v`) VALUES (1,'\x81\x5c") {
		t.Fatalf("could not make the gbk stream from:\n%s", plain)
	}
	rr, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: 1}, strings.NewReader(stream))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rr.Loaded != 0 {
		t.Errorf("loaded %d INSERTs of a gbk session with LOAD DATA, want 0", rr.Loaded)
	}
	mysqltest.CompareFingerprints(t, "Restore", want, mysqltest.Fingerprint(t, mysqltest.NewSession(t, tgt), db))
	if got := mysqltest.NewSession(t, tgt).One(hexes); got != wantHex {
		t.Errorf("restored rows %s, want %s", got, wantHex)
	}
}
