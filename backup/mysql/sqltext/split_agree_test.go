package sqltext

import (
	"errors"
	"github.com/opsteam/ops/backup/mysql/sqltext/sqltexttest"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// The Splitter is a byte scanner of its own (it is on the restore's hot
// path), so it is checked against the lexer: for any input and session
// state the Splitter models, the statements it cuts end where the lexer's
// statements end (at the lexer's ";" tokens that close a statement with
// something in it).

// lexerVersionAll is a server version that runs every versioned comment
// outside MySQL's 50700-99999 range (the Splitter treats them all as code).
const lexerVersionAll = 999999

// splitterSkips matches what the Splitter deliberately does not model: the
// client's DELIMITER command (the server never sees it) and versioned
// comments the server skips whatever its version (MySQL's 50700-99999
// range, read by the Splitter as code like the mysql client does).
var splitterSkips = regexp.MustCompile(`(?i)delimiter|/\*!(5[7-9]|[6-9]\d)\d{3}`)

// lexerStatementEnds is where the lexer's statements end: the offsets of
// the ";" tokens closing a statement that holds a token or a versioned
// comment the server runs, and whether text follows the last one.
func lexerStatementEnds(s string, l LexState) (ends []int, tail bool, err error) {
	toks, err := lexComments(s, l, lexerVersionAll)
	if err != nil {
		return nil, false, err
	}
	versioned := false
	for _, t := range toks {
		switch {
		case t.Kind == tCode:
			versioned, tail = !versioned, true
		case t.Kind == TOp && t.Text == ";" && versioned:
			// The server reads each statement alone: both halves of a
			// versioned comment cut by a delimiter are unterminated or
			// unopened comments, which the guard refuses.
			return nil, false, errors.New("a delimiter inside a versioned comment")
		case t.Kind == TOp && t.Text == ";":
			if tail {
				ends = append(ends, t.Off)
			}
			tail = false
		case t.Kind != tComment:
			tail = true
		}
	}
	return ends, tail, nil
}

// splitterStatementEnds is where the Splitter's statements end: the offset
// of the delimiter after each terminated statement, and whether the input
// ends with an unterminated one.
func splitterStatementEnds(t *testing.T, s string, l LexState, r io.Reader) (ends []int, tail bool) {
	t.Helper()
	sp := NewSplitter(r)
	sp.SetLex(l)
	sts, err := sp.all()
	if err != nil {
		t.Fatalf("Splitter: %v", err)
	}
	for i, st := range sts {
		e := int(st.Offset) + len(st.SQL)
		if e > len(s) || s[int(st.Offset):e] != st.SQL {
			t.Fatalf("statement %d (%q) is not the input at offset %d", i, st.SQL, st.Offset)
		}
		if !st.Terminated {
			tail = true
			continue
		}
		for e < len(s) && (IsSpace(s[e]) || (s[e] >= 0x80 && HighSpace[l.Charset][s[e]-0x80])) {
			e++
		}
		if e >= len(s) || s[e] != ';' {
			t.Fatalf("statement %d (%q) is not followed by its delimiter", i, st.SQL)
		}
		ends = append(ends, e)
	}
	return ends, tail
}

// checkSplitterAgrees fails when the Splitter and the lexer end
// statements in different places (whole input at once, and one byte per
// read, which moves every buffer boundary).
func checkSplitterAgrees(t *testing.T, s string, l LexState) {
	t.Helper()
	if splitterSkips.MatchString(s) {
		return
	}
	want, wantTail, err := lexerStatementEnds(s, l)
	if err != nil {
		return // the guard refuses what the lexer cannot read
	}
	for _, r := range []io.Reader{strings.NewReader(s), iotest.OneByteReader(strings.NewReader(s))} {
		got, gotTail := splitterStatementEnds(t, s, l, r)
		if !slices.Equal(got, want) || gotTail != wantTail {
			t.Fatalf("in %+v, %q:\nSplitter ends statements at %v (unterminated tail %v)\nlexer ends them at %v (tail %v)", l, s, got, gotTail, want, wantTail)
		}
	}
}

// splitterAgreementSeeds are the awkward cases of the Splitter's, the
// lexer's and the guard's tests, as whole scripts.
var splitterAgreementSeeds = []string{
	"SELECT 1; SELECT 2;",
	"SELECT 'a;b', \"c\\\";d\", `e``;f`;",
	"-- c\n# c\n/* c; */ SELECT 1 /* x */;",
	"/*!40101 SET NAMES utf8mb4 */;",
	"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n/*M!100000 SELECT 1; */;",
	"INSERT INTO t VALUES ('\\0\\'\\\\',0x00,NULL);",
	"SELECT 'x\\'; DROP DATABASE d; -- ';",
	"SELECT \"mysql\";\"global_priv\"; SELECT \"a\\\";b\";",
	"SELECT 1 --\x7f;\nSELECT 2 --\xa0;\nSELECT 3;",
	"SELECT 1--1;SELECT 2 -- x\n;",
	"SELECT '\xbf\\'; SELECT 2;';",
	"SELECT `\x81\x60`;`;",
	"SELECT @'a;b', @@`x;`, @\"y;\";",
	"SELECT x'41', b'01';",
	"SELECT 1 # x\x00; SELECT 2;",
	";;  ; /* */ ;SELECT 1;;",
	"/*!*/;/*!40101 */;",
	"/*!40101 SELECT 2*/*3; SELECT 4;",
	"SELECT 'open",
	"SELECT 1 /* open",
	"SELECT 1 -- tail",
	"SELECT 1.5e+3;SELECT .5;",
	"CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN SELECT ';'; END;",
}

func TestSplitterAgreesWithLexer(t *testing.T) {
	for _, s := range append(append([]string{}, splitterAgreementSeeds...), sqltexttest.LexerCorpus...) {
		for m := range 4 {
			for _, cs := range []CharsetKind{csSingle, CharsetGBK, CharsetSJIS, csBig5, csSpaceA0, csGB18030} {
				checkSplitterAgrees(t, s, LexState{NoBackslash: m&1 != 0, AnsiQuotes: m&2 != 0, Charset: cs})
			}
		}
	}
}

func FuzzSplitterAgreesWithLexer(f *testing.F) {
	for _, s := range splitterAgreementSeeds {
		for m := range 4 {
			f.Add(s, uint8(m), uint8(csSingle))
			f.Add(s, uint8(m), uint8(CharsetGBK))
		}
	}
	for _, s := range sqltexttest.LexerCorpus {
		f.Add("SELECT "+s+";SELECT 2;", uint8(0), uint8(csBig5))
	}
	f.Fuzz(func(t *testing.T, s string, mode, cs uint8) {
		l := LexState{NoBackslash: mode&1 != 0, AnsiQuotes: mode&2 != 0, Charset: CharsetKind(cs % uint8(numCharsetKinds))}
		checkSplitterAgrees(t, s, l)
	})
}
