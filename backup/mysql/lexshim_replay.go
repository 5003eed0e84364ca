package mysql

// TEMPORARY: the minimal pieces of helper "lexer"'s session-aware lexer
// (backup/mysql/lexer.go on branch lexer) that the replay needs, with the
// same names and signatures. Delete this file when that branch is merged.

import (
	"fmt"
	"strings"
)

// charsetKind is a connection character set as far as reading SQL goes:
// the multibyte sets whose trail byte can be an ASCII byte (0x5C, a quote)
// and everything else.
type charsetKind uint8

const (
	csPlain charsetKind = iota
	csBig5
	csCP932
	csGBK
	csSJIS
	csGB18030
)

// charsets maps a character set name to its kind (unlisted: plain).
var charsets = map[string]charsetKind{
	"big5": csBig5, "cp932": csCP932, "gbk": csGBK, "sjis": csSJIS, "gb18030": csGB18030,
}

// lexState is the session state that changes how the server reads SQL.
type lexState struct {
	noBackslash, ansiQuotes bool
	cs                      charsetKind
}

func inRange(c byte, lo, hi byte) bool { return c >= lo && c <= hi }

// mbLen is the length of the multibyte character at the start of s in cs
// (the server's ismbchar), 0 when s does not start with one.
func mbLen(cs charsetKind, s string) int {
	if len(s) < 2 {
		return 0
	}
	a, b := s[0], s[1]
	switch cs {
	case csBig5:
		if inRange(a, 0xA1, 0xF9) && (inRange(b, 0x40, 0x7E) || inRange(b, 0xA1, 0xFE)) {
			return 2
		}
	case csGBK:
		if inRange(a, 0x81, 0xFE) && (inRange(b, 0x40, 0x7E) || inRange(b, 0x80, 0xFE)) {
			return 2
		}
	case csCP932, csSJIS:
		if (inRange(a, 0x81, 0x9F) || inRange(a, 0xE0, 0xFC)) && (inRange(b, 0x40, 0x7E) || inRange(b, 0x80, 0xFC)) {
			return 2
		}
	case csGB18030:
		if !inRange(a, 0x81, 0xFE) {
			return 0
		}
		if inRange(b, 0x40, 0x7E) || inRange(b, 0x80, 0xFE) {
			return 2
		}
		if inRange(b, 0x30, 0x39) && len(s) >= 4 && inRange(s[2], 0x81, 0xFE) && inRange(s[3], 0x30, 0x39) {
			return 4
		}
	}
	return 0
}

// tokenizeIn is tokenize under a session state: multibyte characters are
// never split, backslash is no escape under NO_BACKSLASH_ESCAPES, and "…"
// is an identifier under ANSI_QUOTES.
func tokenizeIn(s string, l lexState) ([]token, error) {
	var out []token
	inVersioned := false
	for i := 0; i < len(s); {
		c := s[i]
		if n := mbLen(l.cs, s[i:]); n > 1 {
			j := i
			for j < len(s) {
				if m := mbLen(l.cs, s[j:]); m > 1 {
					j += m
				} else if isWordByte(s[j]) {
					j++
				} else {
					break
				}
			}
			out = append(out, token{tWord, s[i:j]})
			i = j
			continue
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(s[i:], "--") && (i+2 == len(s) || s[i+2] <= ' ')):
			if nl := strings.IndexByte(s[i:], '\n'); nl >= 0 {
				i += nl + 1
			} else {
				i = len(s)
			}
		case strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!"):
			if inVersioned {
				return nil, fmt.Errorf("nested versioned comment")
			}
			i += strings.Index(s[i:], "!") + 1
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			inVersioned = true
		case strings.HasPrefix(s[i:], "*/") && inVersioned:
			inVersioned = false
			i += 2
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment")
			}
			i += end + 4
		case c == '`' || c == '"' && l.ansiQuotes:
			v, n, err := quotedIn(s[i:], c, false, l.cs)
			if err != nil {
				return nil, err
			}
			out = append(out, token{tIdent, v})
			i += n
		case c == '\'' || c == '"':
			v, n, err := quotedIn(s[i:], c, !l.noBackslash, l.cs)
			if err != nil {
				return nil, err
			}
			out = append(out, token{tString, v})
			i += n
		case c == '@':
			j := i + 1
			kind := tVar
			if j < len(s) && s[j] == '@' {
				kind, j = tSysVar, j+1
			}
			if j < len(s) && (s[j] == '`' || s[j] == '\'' || s[j] == '"') {
				v, n, err := quotedIn(s[j:], s[j], s[j] != '`' && !l.noBackslash, l.cs)
				if err != nil {
					return nil, err
				}
				out = append(out, token{kind, v})
				i = j + n
				continue
			}
			k := j
			for k < len(s) && (isWordByte(s[k]) || s[k] == '.') {
				k++
			}
			out = append(out, token{kind, s[j:k]})
			i = k
		case (c == 'x' || c == 'X' || c == 'b' || c == 'B') && i+1 < len(s) && s[i+1] == '\'':
			v, n, err := quotedIn(s[i+1:], '\'', false, l.cs)
			if err != nil {
				return nil, err
			}
			out = append(out, token{tNumber, string(c) + "'" + v + "'"})
			i += 1 + n
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			j := i + 1
			for j < len(s) && (isWordByte(s[j]) || s[j] == '.' || ((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			out = append(out, token{tNumber, s[i:j]})
			i = j
		case isWordByte(c):
			j := i + 1
			for j < len(s) && isWordByte(s[j]) && mbLen(l.cs, s[j:]) < 2 {
				j++
			}
			out = append(out, token{tWord, s[i:j]})
			i = j
		case c == ':' && i+1 < len(s) && s[i+1] == '=':
			out = append(out, token{tOp, ":="})
			i += 2
		default:
			out = append(out, token{tOp, s[i : i+1]})
			i++
		}
	}
	return out, nil
}

// quotedIn is quoted with multibyte characters kept whole.
func quotedIn(s string, q byte, backslash bool, cs charsetKind) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if n := mbLen(cs, s[i:]); n > 1 {
			b.WriteString(s[i : i+n])
			i += n - 1
			continue
		}
		c := s[i]
		switch {
		case backslash && c == '\\' && i+1 < len(s):
			i++
			if n := mbLen(cs, s[i:]); n > 1 {
				b.WriteString(s[i : i+n])
				i += n - 1
				continue
			}
			b.WriteByte(unescape(s[i]))
		case c == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case c == q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated %c", q)
}
