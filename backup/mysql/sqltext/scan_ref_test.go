package sqltext

import (
	"fmt"
	"github.com/opsteam/ops/backup/mysql/sqltext/sqltexttest"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// The byte-at-a-time scanners that QuotedLen, appendQuotedField (restore) and
// Splitter.quoted replaced (they jump with IndexByte): the new ones must
// give the same answers on any input.

// splitAll cuts s into statements by the splitter on input that arrives a
// few bytes at a time, so that literals straddle buffer refills.
func splitAll(t *testing.T, s string, chunk int) []string {
	sp := NewSplitter(&trickle{s: s, n: chunk})
	var out []string
	for {
		st, err := sp.Next()
		if err != nil {
			return append(out, "ERR "+err.Error())
		}
		out = append(out, st.SQL+"|"+strings.Repeat("+", st.Line))
	}
}

type trickle struct {
	s string
	n int
}

func (r *trickle) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[n:]
	return n, nil
}

func TestSplitterQuotedStraddlingReads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 20000; n++ {
		s := "INSERT INTO `t` VALUES ('" + sqltexttest.RandomSQLish(r) + "');\nSELECT \"" + sqltexttest.RandomSQLish(r) + "\";\n"
		whole := splitAll(t, s, len(s)+1)
		for _, c := range []int{1, 2, 3, 7} {
			if got := splitAll(t, s, c); strings.Join(got, "\x00") != strings.Join(whole, "\x00") {
				t.Fatalf("input %q read %d bytes at a time: %q, read whole: %q", s, c, got, whole)
			}
		}
	}
}

// splitStatements cuts s into statements read chunk bytes at a time, by the
// splitter as it is or (exact) taking every byte through its state machine.
func splitStatements(s string, chunk int, exact bool) ([]Statement, error) {
	sp := &Splitter{r: &trickle{s: s, n: chunk}, buf: make([]byte, 16), line: 1, exact: exact}
	sp.setDelimiter(";")
	return sp.all()
}

// checkSplitFast fails when the splitter's runs of plain bytes give other
// statements (text, line, offset, delimiter, end, tail comment) than the
// byte-by-byte state machine, for whole and trickled reads.
func checkSplitFast(t *testing.T, s string) {
	want, werr := splitStatements(s, len(s)+1, true)
	for _, chunk := range []int{len(s) + 1, 1, 3, 17} {
		got, gerr := splitStatements(s, chunk, false)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q read %d bytes at a time:\n got %+v %v\nwant %+v %v", s, chunk, got, gerr, want, werr)
		}
	}
}

func TestSplitterPlainRunsMatchByteByByte(t *testing.T) {
	const alphabet = "''\\\"`;;-- #/**!M\n\t\r ,()01xyzDELIMITER$$"
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 50000; n++ {
		var b strings.Builder
		if n%5 == 0 {
			b.WriteString("DELIMITER $$\n")
		}
		for range r.IntN(80) {
			if r.IntN(3) == 0 {
				b.WriteString(strings.Repeat("(12,", r.IntN(9)))
			}
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		checkSplitFast(t, b.String())
	}
}

// QuotedLen agrees with a plain byte-by-byte reference on random SQL-ish
// text: an escaped quote, a doubled quote and a backslash at the end.
func TestQuotedLenMatchesItsReference(t *testing.T) {
	for _, s := range []string{`'a\'b'`, `'a''b'`, `'a\\'`, `'\'`, `'x`, `''`} {
		if got, want := QuotedLen(s), sqltexttest.QuotedLenRef(s); got != want {
			t.Errorf("QuotedLen(%q) = %d, reference %d", s, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		s := "'" + sqltexttest.RandomSQLish(r)
		if got, want := QuotedLen(s), sqltexttest.QuotedLenRef(s); got != want {
			t.Fatalf("QuotedLen(%q) = %d, reference %d", s, got, want)
		}
	}
}
