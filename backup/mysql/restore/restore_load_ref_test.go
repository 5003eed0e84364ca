package restore

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/opsteam/ops/backup/mysql/sqltext/sqltexttest"
)

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

// appendQuotedField (LOAD DATA's field writer) agrees with a plain
// byte-by-byte reference on random SQL-ish text (sqltext's QuotedLen has
// the same test in its own package).
func TestAppendQuotedFieldMatchesItsReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		s := sqltexttest.RandomSQLish(r)
		gd, gp, gok := appendQuotedField(nil, s, 0)
		wd, wp, wok := appendQuotedFieldRef(nil, s, 0)
		if gok != wok || (wok && (gp != wp || !bytes.Equal(gd, wd))) {
			t.Fatalf("appendQuotedField(%q) = %q %d %v, reference %q %d %v", s, gd, gp, gok, wd, wp, wok)
		}
	}
}
