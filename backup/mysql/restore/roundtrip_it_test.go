package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// createNastySchema fills database a (and b, an oddly named second
// database) with every column type and object kind the dumper must carry.
func createNastySchema(t *testing.T, s *mysqltest.Session, a, b string, bigRows int) {
	t.Helper()
	qa, qb := sqltext.QuoteIdent(a), sqltext.QuoteIdent(b)
	s.Exec("SET SESSION sql_mode = ''", "SET SESSION time_zone = '+00:00'", "SET NAMES utf8mb4",
		"CREATE DATABASE "+qa+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
		"CREATE DATABASE "+qb+" CHARACTER SET latin1 COLLATE latin1_swedish_ci",
		"USE "+qa)
	s.Exec(`CREATE TABLE ints (id INT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
		mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED NOT NULL DEFAULT 0)`,
		`INSERT INTO ints VALUES
		(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0),
		(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1),
		(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)`)
	s.Exec(`CREATE TABLE nums (id INT PRIMARY KEY, d DECIMAL(65,30), d0 DECIMAL(10,0) UNSIGNED, f FLOAT, db DOUBLE, f2 FLOAT(7,3), b1 BIT(1), b64 BIT(64), b5 BIT(5))`,
		`INSERT INTO nums VALUES
		(1, 99999999999999999999999999999999999.999999999999999999999999999999, 9999999999, 3.4028234663852886e38, 1.7976931348623157e308, 9999.999, b'1', b'1111111111111111111111111111111111111111111111111111111111111111', b'10101'),
		(2, -99999999999999999999999999999999999.999999999999999999999999999999, 0, 1e-9, 1e-9, -9999.999, b'0', b'0', b'0'),
		(3, 0.000000000000000000000000000001, 1, -0.0, -0.0, 0.001, NULL, NULL, NULL),
		(4, -0.5, NULL, 1.17549435e-38, 2.2250738585072014e-308, 1.5, b'1', b'1000000000000000000000000000000000000000000000000000000000000000', b'11111'),
		(5, NULL, NULL, 0.1, 0.1, NULL, NULL, 1, NULL),
		(6, 1, 1, 16777217, 4.9e-324, 0, NULL, NULL, NULL),
		(7, 2, 2, 0.3333333, 0.1e-300, 0, NULL, NULL, NULL)`)
	s.Exec(`CREATE TABLE strs (id INT PRIMARY KEY, c CHAR(10), vc VARCHAR(100), t TEXT, lt LONGTEXT,
		l1 VARCHAR(50) CHARACTER SET latin1, bn BINARY(4), vb VARBINARY(50), bl BLOB, lb LONGBLOB, j JSON,
		e ENUM('a','b','c d','é'), st SET('x','y','z'), cbin VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin) DEFAULT CHARSET=utf8mb4`,
		`INSERT INTO strs VALUES
		(1, 'abc', 'emoji 😀 🙂 𝄞', 'quote '' double " back \\ slash', 'nl \n cr \r tab \t sub \Z nul \0 end', 'Grüße çà', 0x00010203, 0x00, 0x5C27220D0A1A00, '', '{"a": [1, 2.50, "x\\"y"], "ü": null}', 'c d', 'x,z', 'CaSe'),
		(2, '', '', '', '', '', '', '', '', '', '[]', 'a', '', ''),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(4, 'trail  ', 'trail  ', 'x', REPEAT('long text ', 20000), 'ÿ', 'ab', 0xFF, REPEAT(0xDEADBEEF, 1000), REPEAT(0x00FF, 200000), '"just a string"', 'é', 'x,y,z', 'ß'),
		(5, '\\''', '--;/* */#', 'DELIMITER ;;', ';;', 'x', 0x27, 0x5C, 0x2D2D20, 0x3B, '{}', 'b', 'y', '\\\\')`)
	s.Exec(`CREATE TABLE times (id INT PRIMARY KEY, d DATE, t TIME(6), t0 TIME, dt DATETIME(6), dt0 DATETIME, ts TIMESTAMP(6) NULL DEFAULT NULL, y YEAR)`,
		`INSERT INTO times VALUES
		(1, '0000-00-00', '-838:59:59', '838:59:59', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0),
		(2, '9999-12-31', '838:59:59.000000', '-00:00:01', '9999-12-31 23:59:59.999999', '1000-01-01 00:00:00', '2038-01-19 03:14:07.999999', 2155),
		(3, '2024-02-29', '-00:00:00.000001', '00:00:00', '1970-01-01 00:00:01.000001', '2024-02-29 12:00:00', '1970-01-01 00:00:01.000001', 1901),
		(4, '2024-00-00', '12:34:56.5', NULL, '2024-01-00 00:00:00', NULL, NULL, NULL),
		(5, NULL, NULL, NULL, NULL, NULL, NULL, 2024)`)
	s.Exec(`CREATE TABLE geo (id INT PRIMARY KEY, g GEOMETRY, p POINT, ls LINESTRING)`,
		`INSERT INTO geo VALUES (1, ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'), POINT(1.5, -2.25), ST_GeomFromText('LINESTRING(0 0,1 1,2 2)')),
		(2, ST_GeomFromText('POINT(0 0)', 4326), NULL, NULL), (3, NULL, NULL, NULL)`)
	s.Exec(`CREATE TABLE mdbtypes (id INT PRIMARY KEY, u UUID, ip INET6, ip4 INET4)`,
		`INSERT INTO mdbtypes VALUES (1, '123e4567-e89b-12d3-a456-426655440000', '2001:db8::ff00:42:8329', '192.0.2.1'), (2, NULL, '::ffff:192.0.2.128', '0.0.0.0'), (3, '00000000-0000-0000-0000-000000000000', '::', NULL)`)
	s.Exec(`CREATE TABLE gen (id INT PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL, p INT AS (a + 1) PERSISTENT, h INT INVISIBLE DEFAULT 7, vs VARCHAR(20) AS (CONCAT('x', a)) VIRTUAL, KEY (p))`,
		`INSERT INTO gen (id, a, h) VALUES (1, 1, 1), (2, NULL, NULL), (3, 3, 42)`)
	s.Exec(`CREATE TABLE ai (id INT AUTO_INCREMENT PRIMARY KEY, x INT) AUTO_INCREMENT=100`,
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
		`INSERT INTO ai VALUES (0, 0), (5, 5)`,
		"SET SESSION sql_mode = ''",
		`INSERT INTO ai (x) VALUES (100)`)
	s.Exec("SET FOREIGN_KEY_CHECKS = 0",
		`CREATE TABLE fk_a (id INT PRIMARY KEY, b_id INT, KEY (b_id), CONSTRAINT fa FOREIGN KEY (b_id) REFERENCES fk_b (id))`,
		`CREATE TABLE fk_b (id INT PRIMARY KEY, a_id INT, KEY (a_id), CONSTRAINT fb FOREIGN KEY (a_id) REFERENCES fk_a (id) ON DELETE CASCADE)`,
		`INSERT INTO fk_a VALUES (1, 1), (2, NULL)`, `INSERT INTO fk_b VALUES (1, 2)`,
		"SET FOREIGN_KEY_CHECKS = 1")
	s.Exec("CREATE TABLE `odd ``tick`` name ñ€` (`select` INT PRIMARY KEY, `a b` VARCHAR(10), `ü` TEXT, `from` INT)",
		"INSERT INTO `odd ``tick`` name ñ€` VALUES (1, 'x', 'ü', 2), (2, NULL, '😀', NULL)",
		"CREATE TABLE `order` (`group` INT, `key` VARCHAR(5))",
		"INSERT INTO `order` VALUES (1, 'a'), (1, 'a'), (NULL, NULL)")
	s.Exec(`CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100))`)
	s.Exec(`CREATE SEQUENCE seq1 START WITH 10 INCREMENT BY 5 CACHE 10`,
		`SELECT NEXTVAL(seq1)`, `SELECT NEXTVAL(seq1)`,
		`CREATE TABLE seqdef (id INT PRIMARY KEY DEFAULT NEXT VALUE FOR seq1, x INT)`,
		`INSERT INTO seqdef (x) VALUES (1)`)
	// Big tables: integer and composite primary keys, split into ranges.
	s.Exec(`CREATE TABLE big (id INT PRIMARY KEY, k INT, c CHAR(60), pad VARCHAR(60), KEY (k))`,
		fmt.Sprintf(`INSERT INTO big SELECT seq, seq %% 97, CONCAT('c-', seq, '-', REPEAT('x', seq %% 40)), IF(seq %% 11 = 0, NULL, 'pad') FROM seq_1_to_%d`, bigRows),
		`CREATE TABLE big2 (a INT, b VARCHAR(20), v BLOB, PRIMARY KEY (a, b))`,
		fmt.Sprintf(`INSERT INTO big2 SELECT seq DIV 7, CONCAT('k', seq %% 7, '''"\\'), UNHEX(HEX(seq)) FROM seq_1_to_%d`, bigRows/2),
		`CREATE TABLE big3 (k VARCHAR(20) PRIMARY KEY, v INT, bin VARBINARY(8)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
		fmt.Sprintf(`INSERT INTO big3 SELECT CONCAT('k''\\ü', LPAD(seq, 6, '0')), seq, UNHEX(LPAD(HEX(seq), 8, '0')) FROM seq_1_to_%d`, bigRows/2),
		`CREATE TABLE big4 (b VARBINARY(16) PRIMARY KEY, d DATETIME(6) NOT NULL, KEY (d))`,
		fmt.Sprintf(`INSERT INTO big4 SELECT UNHEX(LPAD(HEX(seq * 7919), 8, '0')), TIMESTAMP('2020-01-01') + INTERVAL seq SECOND FROM seq_1_to_%d`, bigRows/3),
		`CREATE TABLE nopk (a INT, b TEXT)`,
		fmt.Sprintf(`INSERT INTO nopk SELECT seq %% 10, REPEAT('n', seq %% 50) FROM seq_1_to_%d`, bigRows/5))
	// Views on views (one calling a function), odd view name.
	s.Exec("CREATE FUNCTION f_utf() RETURNS VARCHAR(20) CHARSET utf8mb4 DETERMINISTIC RETURN 'ü😀;;'",
		"CREATE VIEW v1 AS SELECT id, vc, j FROM strs WHERE id < 4",
		"CREATE VIEW `v2 on v1` AS SELECT v1.id, UPPER(v1.vc) AS uvc, f_utf() AS f FROM v1",
		"CREATE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW v0 AS SELECT COUNT(*) AS n FROM `v2 on v1`")
	// Triggers: BEFORE and AFTER, two with the same timing in a set order.
	s.Exec("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE'",
		"CREATE TRIGGER ai_bi BEFORE INSERT ON ai FOR EACH ROW SET NEW.x = COALESCE(NEW.x, 0) + 1000",
		"CREATE TRIGGER ai_ai AFTER INSERT ON ai FOR EACH ROW INSERT INTO log (msg) VALUES (CONCAT('ins ', NEW.id, ' ✓'))",
		"CREATE TRIGGER ai_ai2 AFTER INSERT ON ai FOR EACH ROW PRECEDES ai_ai INSERT INTO log (msg) VALUES ('first')",
		"CREATE TRIGGER ints_bu BEFORE UPDATE ON ints FOR EACH ROW BEGIN\n  -- comment; with semicolon\n  IF NEW.i > 0 THEN SET NEW.ti = 1; END IF;\nEND",
		"SET SESSION sql_mode = ''")
	// Routines with utf8mb4 literals, an event in a non-UTC zone.
	s.Exec("CREATE PROCEDURE p_multi(IN n INT, OUT s VARCHAR(100))\nCOMMENT 'proc ; with $$ and //'\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  SET s = '';\n  WHILE i < n DO SET s = CONCAT(s, '😀'); SET i = i + 1; END WHILE;\nEND",
		"SET SESSION time_zone = '+02:00'",
		"CREATE EVENT ev_daily ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' ON COMPLETION PRESERVE DISABLE COMMENT 'é' DO INSERT INTO log (msg) VALUES ('event')",
		"SET SESSION time_zone = '+00:00'")
	// A second database with an odd name and another charset.
	s.Exec("USE "+qb,
		"CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20), l TEXT CHARACTER SET utf8mb4)",
		"INSERT INTO t VALUES (1, 'Grüße', '😀'), (2, '', NULL)",
		"CREATE VIEW vb AS SELECT id, s FROM t",
		"CREATE PROCEDURE pb() SELECT 'é'")
}

func TestRoundTripNasty(t *testing.T) {
	testenv.RequireIT(t)
	ctx := context.Background()
	base := mysqltest.UniqueName("ops_it_rt_")
	a, b := base+"_a", base+"_b `odd` ü"
	src, tgtM, tgt := mysqltest.Servers(t, a, b)
	ss := mysqltest.NewSession(t, src)
	createNastySchema(t, ss, a, b, 6000)
	want := map[string]map[string]string{a: mysqltest.Fingerprint(t, ss, a), b: mysqltest.Fingerprint(t, ss, b)}

	var dumpOut bytes.Buffer
	parts := map[string]int{}
	res, err := dump.Dump(ctx, dump.DumpOptions{MySQL: mysqltest.SrcMySQL(), Databases: []string{b, a}, Threads: 2, ChunkRows: 500,
		MaxStatementBytes: 64 << 10, Compression: "zstd", Logger: mysqltest.TestLogger(t), Checksums: true,
		Progress: func(p dump.Progress) {
			if p.Database == a && p.Table != "" {
				parts[p.Table]++
			}
		}}, &dumpOut)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	t.Logf("dump: mode=%s raw=%d stored=%d tables=%d", res.ConsistencyMode, res.RawBytes, res.StoredBytes, len(res.Tables))
	if res.ConsistencyMode != dump.ModeLock {
		t.Errorf("consistency mode = %q, want %q (root may take FTWRL)", res.ConsistencyMode, dump.ModeLock)
	}
	if int64(dumpOut.Len()) != res.StoredBytes {
		t.Errorf("StoredBytes = %d, sink got %d", res.StoredBytes, dumpOut.Len())
	}
	rows := map[string]int64{}
	for _, ts := range res.Tables {
		rows[ts.Database+"."+ts.Name] = ts.Rows
	}
	if rows[a+".big"] != 6000 || rows[a+".big2"] != 3000 || rows[a+".big3"] != 3000 || rows[a+".big4"] != 2000 || rows[a+".strs"] != 5 {
		t.Errorf("row counts: %v", rows)
	}
	plain := mysqltest.DecompressAll(t, dumpOut.Bytes())
	if !strings.HasSuffix(plain, sqltext.FooterMarker+"\n") {
		t.Errorf("dump does not end with the completion marker")
	}
	if !strings.HasPrefix(plain, sqltext.SandboxLine) {
		t.Errorf("dump does not start with the MariaDB sandbox line")
	}
	// Several primary-key ranges per big table (integer ranges for big and
	// big2, keyset pagination for the string/binary keys of big3/big4).
	for tbl, min := range map[string]int{"big": 6, "big2": 3, "big3": 4, "big4": 3} {
		if n := parts[tbl]; n < min {
			t.Errorf("%s was written in %d parts; expected at least %d chunks", tbl, n, min)
		}
	}
	// The parts of the tables take turns in the stream (two lanes for two
	// connections), so a restore loads two tables side by side.
	var order []string
	for _, l := range strings.Split(plain, "\n") {
		if rest, ok := strings.CutPrefix(l, "INSERT INTO `"); ok {
			order = append(order, rest[:strings.IndexByte(rest, '`')])
		}
	}
	first, last := -1, -1
	for i, tbl := range order {
		if tbl == "big" {
			last = i
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 || !slices.ContainsFunc(order[first:last], func(s string) bool { return s != "big" }) {
		t.Errorf("the INSERTs of big are not interleaved with another table's: %q", order)
	}
	// Each table's end-of-data marker comes after its last INSERT, once.
	lastInsert, marker := map[string]int{}, map[string]int{}
	for i, l := range strings.Split(plain, "\n") {
		if rest, ok := strings.CutPrefix(l, "INSERT INTO "); ok {
			if name, _, ok := sqltext.LexIdent(rest, sqltext.LexState{}); ok {
				lastInsert[name] = i
			}
		}
		if name, ok := endOfData(strings.TrimSuffix(l, ";"), sqltext.LexState{}); ok {
			if _, dup := marker[name]; dup {
				t.Errorf("two end-of-data markers for %s", name)
			}
			marker[name] = i
		}
	}
	for tbl, i := range lastInsert {
		if m, ok := marker[tbl]; !ok || m < i {
			t.Errorf("table %s: last INSERT at line %d, end-of-data marker at %d (present: %v)", tbl, i+1, m+1, ok)
		}
	}
	if parts["nopk"] != 1 {
		t.Errorf("nopk (no primary key) was written in %d parts, want 1", parts["nopk"])
	}

	// digestsDiffer lists the tables whose digest, read afresh on the
	// target, differs from the one the dumper added up.
	digestsDiffer := func() []string {
		got, err := dump.DigestTables(ctx, tgtM, nil, []string{a, b}, 2)
		if err != nil {
			t.Fatalf("DigestTables: %v", err)
		}
		var bad []string
		for _, st := range res.Tables {
			if g := got[dump.TableRef{Database: st.Database, Name: st.Name}]; st.Digest == "" || g.Digest != st.Digest || g.Rows != st.Rows {
				bad = append(bad, fmt.Sprintf("%s.%s (dump %s %d rows, restored %s %d rows)", st.Database, st.Name, st.Digest, st.Rows, g.Digest, g.Rows))
			}
		}
		return bad
	}
	check := func(label string) {
		ts := mysqltest.NewSession(t, tgt)
		for _, db := range []string{a, b} {
			mysqltest.CompareFingerprints(t, label+" "+db, want[db], mysqltest.Fingerprint(t, ts, db))
		}
		if bad := digestsDiffer(); len(bad) > 0 {
			t.Errorf("%s: content digests differ: %s", label, strings.Join(bad, "; "))
		}
	}
	t.Run("mysql-client", func(t *testing.T) {
		mysqltest.DropDatabases(t, tgt, a, b)
		mysqltest.MySQLClientRestore(t, dumpOut.Bytes(), tgtM)
		check("mysql client")
		// One changed value is one table whose digest differs.
		mysqltest.NewSession(t, tgt).Exec("UPDATE " + sqltext.QuoteIdent(a) + ".strs SET vc = CONCAT(vc, 'x') LIMIT 1")
		if bad := digestsDiffer(); len(bad) != 1 || !strings.Contains(bad[0], ".strs ") {
			t.Errorf("after changing one value of strs: tables whose digest differs: %q", bad)
		}
	})
	t.Run("Restore", func(t *testing.T) {
		mysqltest.DropDatabases(t, tgt, a, b)
		rr, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM, Logger: mysqltest.TestLogger(t)}, bytes.NewReader(dumpOut.Bytes()))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if rr.Compression != "zstd" || len(rr.Databases) != 2 || rr.DeferredKeys == 0 {
			t.Errorf("restore result: %+v", rr)
		}
		// The indexes of a table are added at its end-of-data marker, while
		// the other tables load; those of the tables created before the
		// one with a foreign key are added before that CREATE TABLE.
		if rr.KeysDuringData == 0 {
			t.Errorf("%d tables got their indexes after the data, none at its end-of-data marker", rr.DeferredKeys)
		}
		t.Logf("deferred %d, during data %d", rr.DeferredKeys, rr.KeysDuringData)
		// Where two tables take turns, their rows go as LOAD DATA (a table
		// loaded alone, at the end, goes as INSERTs on both connections).
		if inserts := int64(strings.Count(plain, "\nINSERT INTO ")); rr.Loaded == 0 || rr.Loaded == inserts {
			t.Errorf("%d of the dump's %d INSERTs were loaded with LOAD DATA, want some", rr.Loaded, inserts)
		}
		check("Restore")
		// Restoring over existing databases is refused, and leaves them
		// as they were; with Replace they are dropped and recreated.
		_, err = Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM}, bytes.NewReader(dumpOut.Bytes()))
		if !errors.Is(err, ErrTargetExists) {
			t.Fatalf("second Restore over existing databases: err = %v, want ErrTargetExists", err)
		}
		check("refused Restore")
		if _, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM, Replace: true}, bytes.NewReader(dumpOut.Bytes())); err != nil {
			t.Fatalf("Restore with Replace: %v", err)
		}
		check("Restore with Replace")
	})
	t.Run("Restore on one connection", func(t *testing.T) {
		mysqltest.DropDatabases(t, tgt, a, b)
		rr, err := Restore(ctx, RestoreOptions{MySQL: tgtM, Threads: 1}, bytes.NewReader(dumpOut.Bytes()))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		// Every INSERT of the dump has the dumper's form and the session
		// allows the conversion: on one connection all of them are loaded
		// with LOAD DATA.
		if inserts := int64(strings.Count(plain, "\nINSERT INTO ")); rr.Loaded != inserts {
			t.Errorf("%d of the dump's %d INSERTs were loaded with LOAD DATA, want all", rr.Loaded, inserts)
		}
		if rr.KeysDuringData == 0 {
			t.Errorf("on one connection, no table was indexed at its end-of-data marker")
		}
		check("Restore on one connection")
	})
	t.Run("Restore without end-of-data markers", func(t *testing.T) {
		// A dump written before the markers: the indexes are added after
		// all the data.
		var old strings.Builder
		for _, l := range strings.SplitAfter(plain, "\n") {
			if !strings.HasPrefix(l, sqltext.EndOfDataPrefix) {
				old.WriteString(l)
			}
		}
		if old.Len() == len(plain) {
			t.Fatalf("the dump has no end-of-data marker")
		}
		mysqltest.DropDatabases(t, tgt, a, b)
		rr, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM}, strings.NewReader(old.String()))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if rr.DeferredKeys == 0 || rr.KeysDuringData != 0 {
			t.Errorf("without markers: %d tables indexed after the data, %d at a marker; want some, none", rr.DeferredKeys, rr.KeysDuringData)
		}
		check("Restore without end-of-data markers")
	})
	t.Run("Restore with early end-of-data markers", func(t *testing.T) {
		// A marker that comes before the table's last rows (a stream
		// edited by hand): the indexes are built while rows still arrive,
		// and the result is the same.
		lines := strings.SplitAfter(plain, "\n")
		var out []string
		seen := map[string]bool{}
		moved := 0
		for _, l := range lines {
			if strings.HasPrefix(l, sqltext.EndOfDataPrefix) {
				continue
			}
			out = append(out, l)
			if rest, ok := strings.CutPrefix(l, "INSERT INTO "); ok {
				tbl, _, _ := sqltext.LexIdent(rest, sqltext.LexState{})
				if !seen[tbl] && strings.Count(plain, "\nINSERT INTO "+sqltext.QuoteIdent(tbl)+" ") > 1 {
					seen[tbl] = true
					out = append(out, sqltext.EndOfDataPrefix+sqltext.QuoteString(tbl)+";\n")
					moved++
				}
			}
		}
		if moved == 0 {
			t.Fatalf("no table with more than one INSERT")
		}
		mysqltest.DropDatabases(t, tgt, a, b)
		rr, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM}, strings.NewReader(strings.Join(out, "")))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if rr.KeysDuringData == 0 {
			t.Errorf("no table was indexed at its (early) marker")
		}
		check("Restore with early end-of-data markers")
	})
	t.Run("Restore with local_infile off", func(t *testing.T) {
		// A server that refuses LOAD DATA LOCAL gets the INSERTs as written.
		mysqltest.DropDatabases(t, tgt, a, b)
		mysqltest.NewSession(t, tgt).Exec("SET GLOBAL local_infile = 0")
		t.Cleanup(func() { mysqltest.NewSession(t, tgt).Exec("SET GLOBAL local_infile = 1") })
		rr, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM}, bytes.NewReader(dumpOut.Bytes()))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if rr.Loaded != 0 {
			t.Errorf("%d INSERTs were loaded with LOAD DATA although the server refuses it", rr.Loaded)
		}
		check("Restore with local_infile off")
	})
	t.Run("rename", func(t *testing.T) {
		dst := base + "_renamed"
		t.Cleanup(func() { mysqltest.DropDatabases(t, tgt, dst) })
		mysqltest.DropDatabases(t, tgt, a, b, dst)
		rr, err := Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM, Databases: map[string]string{a: dst}}, bytes.NewReader(dumpOut.Bytes()))
		if err != nil {
			t.Fatalf("Restore with rename: %v", err)
		}
		if len(rr.Databases) != 1 || rr.Databases[0] != dst {
			t.Errorf("restored databases = %q, want [%q]", rr.Databases, dst)
		}
		ts := mysqltest.NewSession(t, tgt)
		for _, n := range []string{a, b} {
			if ts.One("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "+sqltext.QuoteString(n)) != "0" {
				t.Errorf("database %q was restored although only %q was selected", n, a)
			}
		}
		got := mysqltest.Fingerprint(t, ts, dst)
		for k, v := range got { // MariaDB qualifies DEFAULT nextval(`db`.`seq`) with the (new) name
			got[k] = strings.ReplaceAll(v, sqltext.QuoteIdent(dst)+".", sqltext.QuoteIdent(a)+".")
		}
		mysqltest.CompareFingerprints(t, "renamed", want[a], got)
		// The views work against the renamed database.
		if n := ts.One("SELECT n FROM " + sqltext.QuoteIdent(dst) + ".v0"); n != "3" {
			t.Errorf("renamed view v0 = %s, want 3", n)
		}
		// Unknown source database → error naming it.
		_, err = Restore(ctx, RestoreOptions{Threads: 2, MySQL: tgtM, Databases: map[string]string{"no_such_db_x": dst + "2"}}, bytes.NewReader(dumpOut.Bytes()))
		if err == nil || !strings.Contains(err.Error(), "no_such_db_x") {
			t.Errorf("rename of a database not in the dump: err = %v", err)
		}
	})
}
