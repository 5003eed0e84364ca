package mysql

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// The byte-at-a-time scanners that quotedLen, appendQuotedField and
// Splitter.quoted replaced (they jump with IndexByte): the new ones must
// give the same answers on any input.

func quotedLenRef(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
			}
		case '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return i + 1
		}
	}
	return -1
}

func appendQuotedFieldRef(dst []byte, rows string, p int) ([]byte, int, bool) {
	start := p
	for p < len(rows) {
		c := rows[p]
		switch c {
		case '\'':
			dst = append(dst, rows[start:p]...)
			if p+1 < len(rows) && rows[p+1] == '\'' {
				dst = append(dst, '\'')
				p += 2
				start = p
				continue
			}
			return dst, p + 1, true
		case '\\':
			if p+1 >= len(rows) {
				return dst, p, false
			}
			e := tsvEscape[rows[p+1]]
			if e == 0 {
				return dst, p, false
			}
			dst = append(dst, rows[start:p]...)
			if e == '\'' || e == '"' {
				dst = append(dst, e)
			} else {
				dst = append(dst, '\\', e)
			}
			p += 2
			start = p
		case '\t', '\n':
			dst = append(dst, rows[start:p]...)
			if c == '\t' {
				dst = append(dst, '\\', 't')
			} else {
				dst = append(dst, '\\', 'n')
			}
			p++
			start = p
		default:
			p++
		}
	}
	return dst, p, false
}

// randomSQLish returns strings made mostly of the bytes the scanners care
// about, in long and short runs.
func randomSQLish(r *rand.Rand) string {
	const alphabet = "''\\\\\t\n\"`nrZ0xa;-# ,()"
	var b strings.Builder
	for range r.IntN(60) {
		if r.IntN(4) == 0 {
			b.WriteString(strings.Repeat("y", r.IntN(70)))
		}
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func TestScannersMatchTheirReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		s := randomSQLish(r)
		if got, want := quotedLen("'"+s), quotedLenRef("'"+s); got != want {
			t.Fatalf("quotedLen(%q) = %d, reference %d", "'"+s, got, want)
		}
		gd, gp, gok := appendQuotedField(nil, s, 0)
		wd, wp, wok := appendQuotedFieldRef(nil, s, 0)
		if gok != wok || (wok && (gp != wp || !bytes.Equal(gd, wd))) {
			t.Fatalf("appendQuotedField(%q) = %q %d %v, reference %q %d %v", s, gd, gp, gok, wd, wp, wok)
		}
	}
}

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
		s := "INSERT INTO `t` VALUES ('" + randomSQLish(r) + "');\nSELECT \"" + randomSQLish(r) + "\";\n"
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
