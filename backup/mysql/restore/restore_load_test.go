package restore

import (
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"testing"
)

func TestParseInsertForm(t *testing.T) {
	f, ok := parseInsertForm("INSERT INTO `t``x` (`a`,`b c`) VALUES (1,'x'),(2,NULL)", sqltext.LexState{})
	if !ok || f.table != "t`x" || len(f.cols) != 2 || f.cols[1] != "b c" || f.rows != "(1,'x'),(2,NULL)" || f.head != "INSERT INTO `t``x` (`a`,`b c`) VALUES " {
		t.Fatalf("parseInsertForm = %+v, %v", f, ok)
	}
	for _, s := range []string{
		"INSERT INTO t (`a`) VALUES (1)",           // bare table name: not the dumper's form
		"INSERT INTO `t` VALUES (1)",               // no column list
		"INSERT INTO `db`.`t` (`a`) VALUES (1)",    // qualified
		"INSERT INTO `t` (`a`) VALUES ",            // no rows
		"INSERT INTO `t` (`a`) SELECT 1",           // not VALUES
		"INSERT INTO `t` (`a`, `b`) VALUES (1, 2)", // spaces the dumper does not write
		"REPLACE INTO `t` (`a`) VALUES (1)",
		"INSERT INTO `t` (`a) VALUES (1)",
	} {
		if f, ok := parseInsertForm(s, sqltext.LexState{}); ok {
			t.Errorf("parseInsertForm(%q) accepted: %+v", s, f)
		}
	}
}

func TestAppendTSV(t *testing.T) {
	num, str, bin, year := sqltext.KindNumber, sqltext.KindString, sqltext.KindBinary, kindYear
	for _, c := range []struct {
		rows  string
		kinds []sqltext.ValueKind
		want  string
		n     int
	}{
		{"(1,'a')", []sqltext.ValueKind{num, str}, "1\ta\n", 1},
		{"(-1.5e-07,NULL),(2,'')", []sqltext.ValueKind{num, str}, "-1.5e-07\t\\N\n2\t\n", 2},
		{"(1e+300,0.5,-0,18446744073709551615)", []sqltext.ValueKind{num, num, num, num}, "1e+300\t0.5\t-0\t18446744073709551615\n", 1},
		// The dumper's escapes become LOAD DATA's; quotes lose theirs; a
		// raw tab is escaped; a string "\N" stays a string.
		{`('a\0b\nc\rd\\e\'f\"g\Zh','x	y',''''),('\\N',NULL,'it''s')`, []sqltext.ValueKind{str, str, str},
			"a\\0b\\nc\\rd\\\\e'f\"g\\Zh\tx\\ty\t'\n\\\\N\t\\N\tit's\n", 2},
		// Binary columns: hex digits (UNHEX in the statement), '' for empty.
		{"(0xDEADbeef,'',NULL)", []sqltext.ValueKind{bin, bin, bin}, "DEADbeef\t\t\\N\n", 1},
		// YEAR 0 is 0000 (the text "0" would be 2000).
		{"(0,2024,69,NULL)", []sqltext.ValueKind{year, year, year, year}, "0000\t2024\t69\t\\N\n", 1},
		{"('ü€😀')", []sqltext.ValueKind{str}, "ü€😀\n", 1},
	} {
		got, n, ok := appendTSV(nil, c.rows, c.kinds)
		if !ok || string(got) != c.want || n != c.n {
			t.Errorf("appendTSV(%q) = %q, %d, %v; want %q, %d", c.rows, got, n, ok, c.want, c.n)
		}
	}
	// Anything but the dumper's form for the column's kind is not converted
	// (the INSERT runs as written).
	for _, c := range []struct {
		rows  string
		kinds []sqltext.ValueKind
	}{
		{"(1)", []sqltext.ValueKind{num, num}}, // too few values
		{"(1,2)", []sqltext.ValueKind{num}},    // too many
		{"('1')", []sqltext.ValueKind{num}},    // a quoted number
		{"('x')", []sqltext.ValueKind{bin}},    // a quoted non-empty binary value
		{"(0x41)", []sqltext.ValueKind{num}},   // hex into a number column
		{"(0x41)", []sqltext.ValueKind{str}},   // hex into a text column
		{"(0x4)", []sqltext.ValueKind{bin}},    // odd hex
		{"(0x)", []sqltext.ValueKind{bin}},     // empty hex
		{"(1)", []sqltext.ValueKind{str}},      // a bare number into a text column
		{`('a\%b')`, []sqltext.ValueKind{str}}, // an escape the dumper does not write
		{"('abc)", []sqltext.ValueKind{str}},   // unterminated
		{"(1),", []sqltext.ValueKind{num}},     // trailing comma
		{"(1) ,(2)", []sqltext.ValueKind{num}}, // space between rows
		{"(NULLX)", []sqltext.ValueKind{num}},  // not NULL
		{"(null)", []sqltext.ValueKind{num}},   // the dumper writes NULL
		{"(@a)", []sqltext.ValueKind{num}},     // a variable
		{"(1+1)", []sqltext.ValueKind{num}},    // an expression: "1+1" is not a number LOAD DATA reads as 2
		{"(1-1)", []sqltext.ValueKind{num}},
		{"(1.)", []sqltext.ValueKind{num}},
		{"(1e)", []sqltext.ValueKind{num}},
		{"(--1)", []sqltext.ValueKind{num}},
		{"(1e+5e)", []sqltext.ValueKind{num}},
		{"(_binary 'x')", []sqltext.ValueKind{bin}},    // an introducer
		{"(b'101')", []sqltext.ValueKind{bin}},         // a bit literal
		{"(X'41')", []sqltext.ValueKind{bin}},          // the other hex form
		{"(1)(2)", []sqltext.ValueKind{num}},           // rows without a comma
		{"", []sqltext.ValueKind{num}},                 // nothing
		{"(1,'a'),(2)", []sqltext.ValueKind{num, str}}, // a short second row
	} {
		if got, _, ok := appendTSV(nil, c.rows, c.kinds); ok {
			t.Errorf("appendTSV(%q) accepted: %q", c.rows, got)
		}
	}
}

func TestLoadStatement(t *testing.T) {
	f, ok := parseInsertForm("INSERT INTO `t` (`id`,`b`,`s`,`bits`) VALUES (1,0x00,'x',0x01)", sqltext.LexState{})
	if !ok {
		t.Fatal("parseInsertForm refused the dumper's form")
	}
	got := loadStatement("ops-restore-7", f, []sqltext.ValueKind{sqltext.KindNumber, sqltext.KindBinary, sqltext.KindString, sqltext.KindBinary}, "utf8mb4")
	want := "LOAD DATA LOCAL INFILE 'Reader::ops-restore-7' INTO TABLE `t` CHARACTER SET utf8mb4" +
		` FIELDS TERMINATED BY '\t' ENCLOSED BY '' ESCAPED BY '\\' LINES TERMINATED BY '\n' STARTING BY ''` +
		" (`id`,@ops_1,`s`,@ops_3) SET `b` = UNHEX(@ops_1),`bits` = UNHEX(@ops_3)"
	if got != want {
		t.Errorf("loadStatement =\n%s\nwant\n%s", got, want)
	}
}

func TestAlone(t *testing.T) {
	a := restoreItem{data: true, table: "db\x00a"}
	b := restoreItem{data: true, table: "db\x00b"}
	other := restoreItem{st: sqltext.Statement{SQL: "CREATE VIEW v AS SELECT 1"}}
	for _, c := range []struct {
		it   restoreItem
		rest []restoreItem
		want bool
	}{
		{a, []restoreItem{a, a, a}, true},  // a table on its own
		{a, nil, true},                     // the last statement
		{a, []restoreItem{a, other}, true}, // before a barrier
		{a, []restoreItem{a, b, a}, false}, // tables taking turns
		{a, []restoreItem{b}, false},
		{restoreItem{data: true}, []restoreItem{}, false}, // not the dumper's form: no LOAD DATA anyway
		{other, nil, false},
	} {
		if got := alone(c.it, c.rest); got != c.want {
			t.Errorf("alone(%q, %d following) = %v, want %v", c.it.table, len(c.rest), got, c.want)
		}
	}
}

func TestLoadCharset(t *testing.T) {
	num, str, bin := sqltext.KindNumber, sqltext.KindString, sqltext.KindBinary
	for _, c := range []struct {
		session string
		cols    columns
		want    string
	}{
		{"utf8mb4", columns{[]sqltext.ValueKind{num, str, str}, []string{"", "utf8mb4", "utf8mb4"}}, "binary"},
		{"utf8mb4", columns{[]sqltext.ValueKind{num, bin}, []string{"", ""}}, "binary"},
		{"utf8mb4", columns{[]sqltext.ValueKind{num, str, str}, []string{"", "utf8mb4", "latin1"}}, "utf8mb4"},
		{"utf8mb4", columns{[]sqltext.ValueKind{str}, []string{"utf8mb3"}}, "utf8mb4"},
		{"latin1", columns{[]sqltext.ValueKind{str}, []string{"utf8mb4"}}, "latin1"},
		{"latin1", columns{[]sqltext.ValueKind{str, num}, []string{"latin1", ""}}, "binary"},
		{"utf8mb4", columns{[]sqltext.ValueKind{str, str}, []string{"utf8mb4", typeConverted}}, "utf8mb4"},
	} {
		if got := loadCharset(c.session, c.cols); got != c.want {
			t.Errorf("loadCharset(%s, %v) = %s, want %s", c.session, c.cols, got, c.want)
		}
	}
}

func TestColumnCharset(t *testing.T) {
	for _, c := range []struct{ typ, cs, want string }{
		{"varchar", "utf8mb4", "utf8mb4"}, {"LONGTEXT", "utf8mb4", "utf8mb4"}, {"char", "latin1", "latin1"},
		{"int", "", ""}, {"decimal", "", ""}, {"datetime", "", ""}, {"year", "", ""}, {"blob", "", ""}, {"varbinary", "", ""},
		{"enum", "utf8mb4", typeConverted}, {"set", "utf8mb4", typeConverted}, {"inet6", "", typeConverted},
		{"uuid", "", typeConverted}, {"geometry", "", typeConverted}, {"bit", "", typeConverted}, {"vector", "", typeConverted},
	} {
		if got := columnCharset(c.typ, c.cs); got != c.want {
			t.Errorf("columnCharset(%s, %s) = %q, want %q", c.typ, c.cs, got, c.want)
		}
	}
}

// A session whose client character set has multi-byte characters with an
// ASCII byte inside never has its INSERTs loaded: appendTSV escapes every
// 0x5C byte, and in gbk, sjis, big5, cp932 or gb18030 that byte is the trail
// byte of a character (gbk 乗 is 81 5C, sjis 予 is 97 5C). Only the sets
// whose multi-byte sequences are free of ASCII bytes load, and only in a
// session neither strict nor NO_BACKSLASH_ESCAPES.
func TestSessionLoadCharset(t *testing.T) {
	const lax = "NO_AUTO_VALUE_ON_ZERO"
	for _, cs := range []string{"gbk", "sjis", "big5", "cp932", "gb18030", "ucs2", "utf16", "utf32", "", "koi9"} {
		if got := sessionLoadCharset(cs, lax); got != "" {
			t.Errorf("session charset %q: LOAD DATA in %q, want the INSERTs as written", cs, got)
		}
	}
	for _, cs := range []string{"utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary"} {
		if got := sessionLoadCharset(cs, lax); got != cs {
			t.Errorf("session charset %q: %q, want LOAD DATA in %q", cs, got, cs)
		}
		for _, mode := range []string{"STRICT_TRANS_TABLES", "NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES", "NO_BACKSLASH_ESCAPES"} {
			if got := sessionLoadCharset(cs, mode); got != "" {
				t.Errorf("session charset %q, sql_mode %s: LOAD DATA in %q, want the INSERTs as written", cs, mode, got)
			}
		}
	}
	// Why: in a gbk session the row (1,'乗"') is 31 2C 27 81 5C 22 27 29; read
	// byte by byte, 5C 22 is an escaped double quote, and the field loses
	// the trail byte of 乗: 81 22, no gbk character.
	buf, n, ok := appendTSV(nil, "(1,'\x81\x5c\"')", []sqltext.ValueKind{sqltext.KindNumber, sqltext.KindString})
	if !ok || n != 1 || string(buf) != "1\t\x81\"\n" {
		t.Fatalf("appendTSV of a gbk 乗\": %q %d %v; the test's premise (the trail byte is read as an escape) no longer holds", buf, n, ok)
	}
}
