package replay

import (
	"bytes"
	"encoding/binary"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"io"
	"strings"
	"testing"
)

var (
	lexPlain = sqltext.LexState{}
	lexNBE   = sqltext.LexState{NoBackslash: true}
	lexANSI  = sqltext.LexState{AnsiQuotes: true}
	lexGBK   = sqltext.LexState{Charset: sqltext.Charsets["gbk"]}
)

// replayText accepts what the stock client passes on as the logged
// statement and refuses what it would cut, join, alter or run as a
// client command.
func TestReplayText(t *testing.T) {
	for _, c := range []struct {
		name string
		q    string
		l    sqltext.LexState
		want string // "" accepted, else a part of the error
	}{
		{"delimiter in a literal", "INSERT INTO t VALUES ('a/*!*/;b')", lexPlain, ""},
		{"delimiter and DELIMITER lines in a literal", "INSERT INTO t VALUES ('x\n/*!*/;\nDELIMITER ;;\n')", lexPlain, ""},
		{"GTID line in a literal", "INSERT INTO t VALUES ('\n/*M!100001 SET @@session.gtid_seq_no=9*//*!*/;\n')", lexPlain, ""},
		{"comment holding a delimiter", "INSERT INTO t VALUES (1) /* ; x */", lexPlain, ""},
		{"comment holding mysqlbinlog's delimiter", "INSERT INTO t VALUES (1) /* /*!*/; */", lexPlain, "altered"},
		{"comment", "INSERT INTO t VALUES (1) # note", lexPlain, ""},
		{"NBE literal ending in a backslash", `INSERT INTO t VALUES ('C:\')`, lexNBE, ""},
		{"NBE literal read with escapes", `INSERT INTO t VALUES ('C:\')`, lexPlain, "one statement"},
		{"NBE literal then the delimiter", `INSERT INTO t VALUES ('C:\', '/*!*/;')`, lexNBE, ""},
		{"escaped quote", `INSERT INTO t VALUES ('it\'s /*!*/;')`, lexPlain, ""},
		{"ANSI identifier ending in a backslash", `CREATE TABLE "a\" (x INT)`, lexANSI, ""},
		{"the same without ANSI_QUOTES", `CREATE TABLE "a\" (x INT)`, lexPlain, "one statement"},
		{"backslash in backticks", "CREATE TABLE `a\\` (x INT)", lexPlain, ""},
		{"gbk character with a 0x5C trail byte", "INSERT INTO t VALUES ('\xbf\\')", lexGBK, ""},
		{"the same bytes in latin1", "INSERT INTO t VALUES ('\xbf\\')", lexPlain, "one statement"},
		{"gbk: the literal closes before the delimiter", "INSERT INTO t VALUES ('\xbf\\' /*!*/; GRANT ALL ON *.* TO x; -- ')", lexGBK, "delimiter"},
		{"the same bytes in latin1: one literal", "INSERT INTO t VALUES ('\xbf\\' /*!*/; GRANT ALL ON *.* TO x; -- ')", lexPlain, ""},
		{"delimiter outside a literal", "UPDATE t SET n = 1 /*!*/; GRANT ALL ON *.* TO x", lexPlain, "delimiter"},
		{"delimiter in an executable comment", "UPDATE t SET n = 1 /*!99999 /*!*/; */", lexPlain, "delimiter"},
		{"charset command", `UPDATE t SET n = 1 \C gbk`, lexPlain, "client command"},
		{"other client command", `UPDATE t SET n = 1 \! id`, lexPlain, `\!`},
		{"DELIMITER at the start", "DELIMITER ;\nSELECT 1", lexPlain, "client command"},
		{"backslash at the end of a line", "INSERT INTO t VALUES ('a\\\nb')", lexPlain, "end of a line"},
		{"backslash before NUL", "INSERT INTO t VALUES ('a\\\x00b')", lexPlain, "NUL"},
		{"--x inside a statement", "SELECT 1 --x\n, 2", lexPlain, ""},
		{"--x at the start, dropped by the client", "--x\nSELECT 1", lexPlain, "altered"},
	} {
		err := replayText(c.q, c.l)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// The session state of a query event: NO_BACKSLASH_ESCAPES and
// ANSI_QUOTES from its sql_mode, the multibyte kind from its client
// character set (every collation of gbk, big5, sjis, cp932).
func TestEventLexState(t *testing.T) {
	status := func(mode uint64, cs uint16) []byte {
		b := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 45, 0, 45, 0}
		binary.LittleEndian.PutUint64(b[1:], mode)
		binary.LittleEndian.PutUint16(b[10:], cs)
		return b
	}
	for _, c := range []struct {
		mode uint64
		cs   uint16
		want sqltext.LexState
	}{
		{0, 45, lexPlain},
		{sqlModeNoBackslash | 1<<21, 45, lexNBE},
		{sqlModeANSIQuotes, 8, lexANSI},
		{0, 28, lexGBK},
		{0, 1111, lexGBK},
		{0, 1, sqltext.LexState{Charset: sqltext.Charsets["big5"]}},
		{0, 1120, sqltext.LexState{Charset: sqltext.Charsets["cp932"]}},
		{0, 88, sqltext.LexState{Charset: sqltext.Charsets["sjis"]}},
		{sqlModeNoBackslash, 87, sqltext.LexState{NoBackslash: true, Charset: sqltext.Charsets["gbk"]}},
	} {
		st, err := statusVars(status(c.mode, c.cs))
		if err != nil {
			t.Fatal(err)
		}
		if got := eventLexState(st, lexANSI); got != c.want {
			t.Errorf("sql_mode %d, charset %d: %+v, want %+v", c.mode, c.cs, got, c.want)
		}
	}
	st, _ := statusVars([]byte{5, 3, 'U', 'T', 'C'})
	if got := eventLexState(st, lexNBE); got != lexNBE {
		t.Errorf("an event without sql_mode or charset: %+v, want the previous state", got)
	}
}

// The GTID lines are left out only where the client is at the start of a
// statement: one inside a literal is data, under every session state the
// output sets (sql_mode lines, \C lines).
func TestCopyWithoutGTIDsKeepsLiterals(t *testing.T) {
	gtid := "/*M!100001 SET @@session.gtid_seq_no=7*//*!*/;\n"
	in := "DELIMITER /*!*/;\n" +
		gtid +
		"INSERT INTO t VALUES ('x\n" + gtid + "')\n/*!*/;\n" + // in a literal: kept
		"SET @@session.sql_mode=1048576/*!*/;\n" +
		"INSERT INTO t VALUES ('C:\\')\n/*!*/;\n" + // NBE: the literal is closed
		gtid +
		"SET @@session.sql_mode=0/*!*/;\n" +
		"/*!\\C gbk *//*!*/;\n" +
		"INSERT INTO t VALUES ('\xbf\\')\n/*!*/;\n" + // gbk: closed
		gtid +
		"/*!\\C latin1 *//*!*/;\n" +
		"INSERT INTO t VALUES ('it\\'s\n" + gtid + "')\n/*!*/;\n" +
		"COMMIT/*!*/;\nDELIMITER ;\n"
	var out bytes.Buffer
	if err := copyWithoutGTIDs(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, "DELIMITER /*!*/;\n"+gtid, "DELIMITER /*!*/;\n", 1)
	want = strings.Replace(want, "/*!*/;\n"+gtid+"SET", "/*!*/;\nSET", 1)
	want = strings.Replace(want, "/*!*/;\n"+gtid+"/*!\\C latin1", "/*!*/;\n/*!\\C latin1", 1)
	if strings.Count(want, gtid) != 2 {
		t.Fatalf("test: %d GTID lines left in want", strings.Count(want, gtid))
	}
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
	// Output that ends inside a statement (as the client reads it) fails.
	if err := copyWithoutGTIDs(&out, strings.NewReader("INSERT INTO t VALUES ('x\n/*!*/;\n")); err == nil {
		t.Error("output ending inside a literal was passed as complete")
	}
}

// The names mariadb-binlog prints (use `db`, SET @`var`) are read as one
// statement in every character set.
func TestPrintedNameSafe(t *testing.T) {
	if err := printedNameSafe("use `caf\xc3\xa9`/*!*/;"); err != nil {
		t.Error(err)
	}
	// U+20AC is E2 82 AC: in gbk, AC 60 is one character, eating the backtick.
	if err := printedNameSafe("use `\xe2\x82\xac`/*!*/;"); err == nil {
		t.Error("a name whose last byte pairs with the backtick in gbk was accepted")
	}
}

// BenchmarkCopyWithoutGTIDs: mysqlbinlog's output of row events (base64
// lines) and statements, as the client model follows it.
func BenchmarkCopyWithoutGTIDs(b *testing.B) {
	var in strings.Builder
	in.WriteString("DELIMITER /*!*/;\n")
	for in.Len() < 8<<20 {
		in.WriteString("# at 4242\n#261207 12:00:00 server id 3308  end_log_pos 4300 CRC32 0x1234abcd \tGTID 0-3308-77 trans\n")
		in.WriteString("/*M!100001 SET @@session.gtid_seq_no=77*//*!*/;\nSTART TRANSACTION\n/*!*/;\n")
		in.WriteString("SET TIMESTAMP=1796644800/*!*/;\nINSERT INTO t VALUES (1, 'a/*!*/;b', 'some text of a row')\n/*!*/;\n")
		in.WriteString("BINLOG '\n")
		for i := 0; i < 20; i++ {
			in.WriteString("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
		}
		in.WriteString("'/*!*/;\nCOMMIT/*!*/;\n")
	}
	s := in.String()
	b.SetBytes(int64(len(s)))
	for i := 0; i < b.N; i++ {
		if err := copyWithoutGTIDs(io.Discard, strings.NewReader(s)); err != nil {
			b.Fatal(err)
		}
	}
}

// The filter reads each query event under its own sql_mode and client
// character set: a NO_BACKSLASH_ESCAPES literal ending in a backslash and
// a gbk literal ending in 0xBF5C are replayed, the same bytes logged
// under the defaults are refused (the client would join them with what
// follows).
func TestReplayFilterFollowsEventState(t *testing.T) {
	event := func(mode uint64, cs uint16, q string) []byte {
		status := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 45, 0, 45, 0}
		binary.LittleEndian.PutUint64(status[1:], mode)
		binary.LittleEndian.PutUint16(status[10:], cs)
		body := make([]byte, 13)
		body[8] = byte(len(fxShop))
		body[11] = byte(len(status))
		body = append(append(append(append(body, status...), fxShop...), 0), q...)
		raw := make([]byte, binlog.HeaderLen, binlog.HeaderLen+len(body))
		raw[4] = binlog.EventQuery
		return append(raw, body...)
	}
	for _, c := range []struct {
		mode uint64
		cs   uint16
		q    string
		ok   bool
	}{
		{sqlModeNoBackslash, 45, `INSERT INTO t VALUES ('C:\', '/*!*/;')`, true},
		{0, 45, `INSERT INTO t VALUES ('C:\', '/*!*/;')`, false},
		{0, 28, "INSERT INTO t VALUES ('\xbf\\', '/*!*/;')", true},
		{0, 45, "INSERT INTO t VALUES ('\xbf\\', '/*!*/;')", false},
		{sqlModeANSIQuotes, 45, `INSERT INTO "t" VALUES ('/*!*/;')`, true},
	} {
		f := NewReplayFilter(map[string]string{fxShop: fxShop}, nil)
		keep, err := f.query(&binlog.BinlogEvent{Type: binlog.EventQuery, Raw: event(c.mode, c.cs, c.q)})
		if c.ok && (err != nil || !keep) {
			t.Errorf("sql_mode %d, charset %d, %q: keep %v, %v", c.mode, c.cs, c.q, keep, err)
		}
		if !c.ok && err == nil {
			t.Errorf("sql_mode %d, charset %d, %q: accepted", c.mode, c.cs, c.q)
		}
	}
}
