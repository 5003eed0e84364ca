package output

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with everything that could act on a terminal or break
// a line of a table or a log made visible, so that a string a server or a
// peer chose (an SMTP reply, a certificate subject, a VM or database name)
// prints as what it is:
//
//   - a backslash as \\ (so that every escape below is unambiguous);
//   - tab, newline and carriage return as \t, \n and \r;
//   - the other C0 controls (ESC, BEL, ...) and DEL as \xHH (\x1b, \x07, \x7f);
//   - each byte that is not valid UTF-8 as \xHH;
//   - the C1 controls U+0080–U+009F, the line and paragraph separators
//     U+2028/U+2029 and the bidirectional formatting controls (U+061C,
//     U+200E/F, U+202A–U+202E, U+2066–U+2069) as \uHHHH.
//
// Everything else, other scripts included, is kept. Escape is for text
// meant for people (tables, text logs, error lines); JSON and CSV carry the
// exact bytes, escaped by their own rules.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f || c == '\\' {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				b.WriteString(`\\`)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c < 0x20 || c == 0x7f:
				fmt.Fprintf(&b, `\x%02x`, c)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, c)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// EscapeLines is Escape for a message of several lines (errors.Join):
// each line is escaped, the newlines between them are kept. A line in
// which Escape would change nothing but its backslashes is kept as it is:
// with no escape in the line, a backslash is unambiguous, and a statement
// the line quotes for a person to run (config check's GRANT … ON
// `ops\_verify\_%`.*) stays exact.
func EscapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if e := Escape(l); e != strings.ReplaceAll(l, `\`, `\\`) {
			lines[i] = e
		}
	}
	return strings.Join(lines, "\n")
}

// unsafeRune: the non-ASCII runes Escape writes as \uHHHH.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls (CSI U+009B, OSC U+009D, NEL U+0085, ...)
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return true // bidirectional formatting: reorders what the terminal shows
	}
	return false
}

// SafeJSON returns JSON text made by encoding/json with the characters that
// encoding/json leaves raw but Escape would not (DEL, C1 controls, bidi
// formatting controls) written as \u escapes: the text means the same JSON
// and can go to a terminal. encoding/json already escapes the C0 controls,
// U+2028/U+2029 and replaces invalid UTF-8.
func SafeJSON(s string) string {
	clean := true
	for _, r := range s {
		if r == 0x7f || unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == 0x7f || unsafeRune(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
