package sqltext

import (
	"strconv"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/sqltext/sqltexttest"
)

// dumpedInsert is an INSERT as the dumper writes one (layout of the dump's
// rows: QuoteIdent for the table, AppendValue for each value) with a string,
// a binary and a number column.
func dumpedInsert(table string, str, bin []byte, n int64) (stmt, rows string) {
	b := []byte("(")
	b = AppendValue(b, str, false, KindString)
	b = append(b, ',')
	b = AppendValue(b, bin, false, KindBinary)
	b = append(b, ',')
	b = AppendValue(b, []byte(strconv.FormatInt(n, 10)), false, KindNumber)
	b = append(b, ",NULL)"...)
	rows = string(b)
	return "INSERT INTO " + QuoteIdent(table) + " VALUES " + rows, rows
}

// FuzzDumpedValuesReadBack: whatever bytes a value or a table name holds,
// what the dumper writes for them reads back through the lexer, in the
// dump's session (utf8mb4, empty sql_mode), as exactly those bytes: the
// table as one identifier, the string as one string token, the binary as
// one hex literal (an empty string when empty), then the number and NULL; VALUES is
// found where the dumper put it, and the rows are literals only.
func FuzzDumpedValuesReadBack(f *testing.F) {
	f.Add("t", []byte("plain"), []byte{0xff, 0, '\''}, int64(-3))
	f.Add("a`b", []byte("x\\'y\n\r\x00\x1a\""), []byte{}, int64(0))
	for _, s := range sqltexttest.LexerCorpus {
		f.Add(s, []byte(s), []byte(s), int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, table string, str, bin []byte, n int64) {
		if table == "" {
			return // no table has an empty name
		}
		l := LexState{} // the dump's session
		stmt, rows := dumpedInsert(table, str, bin, n)
		toks, err := TokenizeIn(stmt, l)
		if err != nil {
			t.Fatalf("%q: %v", stmt, err)
		}
		want := 13 // INSERT INTO t VALUES ( str , bin , n , NULL )
		if n < 0 {
			want++ // the sign is an operator of its own
		}
		if len(toks) != want {
			t.Fatalf("%q: %d tokens, want %d: %+v", stmt, len(toks), want, toks)
		}
		if toks[2].Kind != TIdent || toks[2].Text != table {
			t.Fatalf("table read back as %+v, want identifier %q", toks[2], table)
		}
		if toks[5].Kind != TString || toks[5].Text != string(str) {
			t.Fatalf("string read back as %+v, want %q", toks[5], str)
		}
		wantBin := TNumber
		if len(bin) == 0 {
			wantBin = TString
		}
		if toks[7].Kind != wantBin || (len(bin) == 0 && toks[7].Text != "") {
			t.Fatalf("binary value read back as %+v", toks[7])
		}
		if v := ValuesKeyword(stmt, l); v < 0 || stmt[v:v+len("VALUES")] != "VALUES" || stmt[v+len("VALUES"):] != " "+rows {
			t.Fatalf("%q: VALUES found at %d", stmt, v)
		}
		if err := LiteralRows(rows, l); err != nil {
			t.Fatalf("rows %q refused: %v", rows, err)
		}
		if last := toks[len(toks)-1]; !strings.HasSuffix(stmt, ",NULL)") || last.Text != ")" || last.End != len(stmt) {
			t.Fatalf("%q does not end where the dumper ended it: %+v", stmt, last)
		}
	})
}
