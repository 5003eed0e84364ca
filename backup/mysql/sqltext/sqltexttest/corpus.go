package sqltexttest

import (
	"math/rand/v2"
	"strings"
)

// LexerCorpus are select lists that end where a session-blind reader does
// not expect: backslashes before quotes, multi-byte characters whose
// trail byte is 0x5C or 0x60, "…" strings or identifiers, comments of
// every kind, versioned comments run or skipped, high-byte spaces.
var LexerCorpus = []string{
	`'a'`, `'a''b'`, `'a\'b'`, `'x\', 'y'`, `'x\\', 'y'`, `'\%\_\n\t\0\Z\b\r\q\"'`, `'a\'`,
	`"a", 'b'`, `"a\"b"`, `"a""b"`, `'a' "b"`, "'a' -- ',\n'b'", "'a' # ',\n'b'", `'a' /* ', */ 'b'`,
	`'a' /*! , 'c' */`, `'a' /*M!100000 , 'c' */`, `'a' /*!99999 , 'c' */`, `'a' /*!50700 , 'c' */`,
	`'a' /*!40101 , 'c' */`, `'a' /*!99999 /* x */ , 'c' */`, "'a' --\x7f',\n'b'", "'a' --\x01',\n'b'",
	"'\xbf\\', 'y'", "'\xbf\\'', 'y'", "'\x81\\', 'y'", "'\x81\\'', 'y'", "'\xa1\\', 'y'", "'\xa1\\'', 'y'",
	"'\xe0\\', 'y'", "'\xfc\\', 'y'", "'\xf9\\', 'y'", "'\xfe\\', 'y'", "'\x95\\\\', 'y'",
	"'\\\xbf\\', 'y'", "'\\\xbf\\'', 'y'", "'\xbf'", "'\xbf''', 'y'", "'\xbf\x27', 'y'",
	"_binary'\xbf\\', 'y'", "_binary'\xbf\\'', 'y'", "N'a\\'b'", "X'41', 'b'",
	"'a'\xa0, 'b'", "'a' --\xa0',\n'b'", "'a'\xff, 'b'", "'a' --\xff',\n'b'",
	"`\x81`", "`\x81``", "'\x81`', 'y'", "\"\xbf\\\", 'y'", "\"\xbf\\\"\", 'y'", "'\x81\x30\x81\x30\\', 'y'",
}

func QuotedLenRef(s string) int {
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

// RandomSQLish returns strings made mostly of the bytes the scanners care
// about, in long and short runs.
func RandomSQLish(r *rand.Rand) string {
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
