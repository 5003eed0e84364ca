package sqltext

import (
	"github.com/opsteam/ops/backup/mysql/sqltext/sqltexttest"
	"strings"
	"testing"
)

// refTrail lists, per multi-byte kind, the lead and trail byte ranges of
// a two-byte character (from the server's ctype-*.c, written out again
// here so that the fuzz target does not check MbLen against itself).
var refTwoByte = map[CharsetKind][2][][2]byte{
	csBig5:      {{{0xA1, 0xF9}}, {{0x40, 0x7E}, {0xA1, 0xFE}}},
	CharsetGBK:  {{{0x81, 0xFE}}, {{0x40, 0x7E}, {0x80, 0xFE}}},
	CharsetSJIS: {{{0x81, 0x9F}, {0xE0, 0xFC}}, {{0x40, 0x7E}, {0x80, 0xFC}}},
	csCP932:     {{{0x81, 0x9F}, {0xE0, 0xFC}}, {{0x40, 0x7E}, {0x80, 0xFC}}},
	csGB18030:   {{{0x81, 0xFE}}, {{0x40, 0x7E}, {0x80, 0xFE}}},
}

func inRanges(c byte, rs [][2]byte) bool {
	for _, r := range rs {
		if c >= r[0] && c <= r[1] {
			return true
		}
	}
	return false
}

// refCharLen is the reference length of the character at s[i].
func refCharLen(cs CharsetKind, s string, i int) int {
	t, ok := refTwoByte[cs]
	if !ok || i+1 >= len(s) || !inRanges(s[i], t[0]) {
		return 1
	}
	if inRanges(s[i+1], t[1]) {
		return 2
	}
	if cs == csGB18030 && i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' && s[i+2] >= 0x81 && s[i+2] <= 0xFE && s[i+3] >= '0' && s[i+3] <= '9' {
		return 4
	}
	return 1
}

// refQuotedEnd is where the quoted token opened at s[i] ends (the index
// after its closing quote), or -1.
func refQuotedEnd(s string, i int, esc bool, cs CharsetKind) int {
	q := s[i]
	for j := i + 1; j < len(s); {
		if n := refCharLen(cs, s, j); n > 1 {
			j += n
			continue
		}
		switch {
		case esc && s[j] == '\\':
			j += 2
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j += 2
		case s[j] == q:
			return j + 1
		default:
			j++
		}
	}
	return -1
}

// FuzzTokenizeIn mutates statements and the session state they are read
// in: no panic; tokens in order and inside the text; each token's text
// read alone is that token; the tokens joined by spaces read as the same
// tokens; a string or quoted identifier ends where the reference scanner
// says.
func FuzzTokenizeIn(f *testing.F) {
	for _, s := range sqltexttest.LexerCorpus {
		for m := range 4 {
			f.Add("SELECT "+s, uint8(m), uint8(CharsetGBK))
			f.Add("SELECT "+s, uint8(m), uint8(csSingle))
		}
	}
	f.Add("SET @a = 'x\\', @@global.event_scheduler=ON -- '\n, @b = 'y'", uint8(1), uint8(csSingle))
	f.Add("CREATE TABLE t SELECT * FROM \"mysql\".\"global_priv\"", uint8(2), uint8(CharsetSJIS))
	f.Add("/*!40101 SET NAMES utf8mb4 */", uint8(0), uint8(csSpaceA0))
	f.Fuzz(func(t *testing.T, s string, mode, cs uint8) {
		l := LexState{NoBackslash: mode&1 != 0, AnsiQuotes: mode&2 != 0, Charset: CharsetKind(cs % uint8(numCharsetKinds))}
		toks, err := TokenizeIn(s, l)
		if err != nil {
			return
		}
		prev := 0
		parts := make([]string, 0, len(toks))
		for _, tk := range toks {
			if tk.Off < prev || tk.End <= tk.Off || tk.End > len(s) {
				t.Fatalf("token %+v out of order or bounds (previous end %d, len %d)", tk, prev, len(s))
			}
			prev = tk.End
			src := s[tk.Off:tk.End]
			parts = append(parts, src)
			switch src[0] {
			case '\'', '"', '`':
				esc := src[0] != '`' && !l.NoBackslash && !(src[0] == '"' && l.AnsiQuotes)
				if end := refQuotedEnd(s, tk.Off, esc, l.Charset); end != tk.End {
					t.Fatalf("%q at %d ends at %d, the reference scanner says %d", src, tk.Off, tk.End, end)
				}
			}
			alone, err := TokenizeIn(src, l)
			if err != nil || len(alone) != 1 || alone[0].Kind != tk.Kind || alone[0].Text != tk.Text {
				t.Fatalf("token %q (%+v) read alone: %+v, %v", src, tk, alone, err)
			}
		}
		again, err := TokenizeIn(strings.Join(parts, " "), l)
		if err != nil || len(again) != len(toks) {
			t.Fatalf("the tokens joined read as %d tokens (%v), want %d", len(again), err, len(toks))
		}
		for i := range again {
			if again[i].Kind != toks[i].Kind || again[i].Text != toks[i].Text {
				t.Fatalf("token %d joined: %+v, want %+v", i, again[i], toks[i])
			}
		}
	})
}
