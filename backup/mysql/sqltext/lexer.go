package sqltext

import (
	"fmt"
	"strconv"
	"strings"
)

// The one reading of SQL on the restore path. The server splits a
// statement into tokens according to two parts of the session: sql_mode
// (NO_BACKSLASH_ESCAPES: a backslash in a string is an ordinary byte;
// ANSI_QUOTES: "…" is an identifier, not a string) and the client
// character set (in big5, cp932, gbk, sjis and gb18030 the second byte of
// a character can be 0x5C '\' or 0x60 '`', and it is part of the
// character, not an escape or a quote; in latin1 and some other single-byte
// sets 0xA0 is a space). TokenizeIn reads a statement under a LexState the
// way MariaDB's lexer (sql/sql_lex.cc) does, and the guard (package guard)
// follows the session statements of the stream to keep that state, or
// refuses a stream that moves it somewhere the lexer does not model.

type tokKind uint8

const (
	TWord   tokKind = iota // keyword or bare identifier
	TIdent                 // `quoted identifier`
	TString                // 'string' or "string"
	TNumber                // 12, 1.5e3, 0xFF, x'..', b'..'
	TVar                   // @user_var
	TSysVar                // @@var, @@session.var
	TOp                    // any other single character (or :=)
	// Only from lexComments:
	tComment // a comment the server skips (text: the comment as written)
	tCode    // the opening (/*!NNNNN, /*M!NNNNN) or the closing */ of a versioned comment the server runs
)

type Token struct {
	Kind     tokKind
	Text     string // unquoted value for identifiers and strings
	Off, End int    // where the token is in the statement
}

func (t Token) Is(words ...string) bool {
	if t.Kind != TWord {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.Text, w) {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// QuotedLen is the length of the single-quoted literal (backslash escapes
// on) at the start of s, or -1 when it is not terminated: quoted without
// building the value. It jumps from quote to quote (strings.IndexByte),
// looking for a backslash only in between: most literals have none.
func QuotedLen(s string) int {
	i := 1
	for i <= len(s) {
		q := strings.IndexByte(s[i:], '\'')
		if q < 0 {
			return -1
		}
		q += i
		if b := strings.IndexByte(s[i:q], '\\'); b >= 0 {
			i += b + 2 // the escaped byte, even a quote, is part of the literal
			continue
		}
		if q+1 < len(s) && s[q+1] == '\'' {
			i = q + 2
			continue
		}
		return q + 1
	}
	return -1
}

// LiteralRows reads the rows of an INSERT (after VALUES) in a session in
// state l, byte by byte, and fails at the first byte that is not part of
// a literal: outside string literals only numbers, hex, NULL, signs,
// commas and parentheses may appear, so no subquery, function or variable
// can read anything while the rows load. Literals are jumped over with
// QuotedLen where a backslash and a quote mean what they do in the
// default session, else with LexQuoted.
func LiteralRows(s string, l LexState) error {
	plain := !l.NoBackslash && !l.Charset.MultiByte()
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			n := QuotedLen(s[i:])
			if !plain {
				n = -1
				if _, k, err := LexQuoted(s[i:], '\'', !l.NoBackslash, l.Charset); err == nil {
					n = k
				}
			}
			if n < 0 {
				return fmt.Errorf("unterminated '")
			}
			i += n - 1
		case c == '(' || c == ')' || c == ',' || c == '-' || c == '+' || c == '.' || c <= ' ' ||
			(c >= '0' && c <= '9') || c == 'x' || c == 'X' || c == 'e' || c == 'E' ||
			(c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
		case (c == 'N' || c == 'n') && i+4 <= len(s) && strings.EqualFold(s[i:i+4], "NULL"):
			i += 3
		default:
			return fmt.Errorf("%q in the rows (only literals are loaded)", string(c))
		}
	}
	return nil
}

func unescape(c byte) byte {
	switch c {
	case '0':
		return 0
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'Z':
		return 0x1a
	case 'b':
		return '\b'
	}
	return c
}

// CharsetKind is how a client character set matters to the lexer.
type CharsetKind uint8

const (
	// csSingle: a set in which a byte below 0x80 is always an ASCII
	// character (utf8mb3, utf8mb4, latin1, ascii, binary, the EUC sets…)
	// and no byte from 0x80 is a space or a control character.
	csSingle CharsetKind = iota
	csBig5
	csCP932 // cp932 and sjis have the same lead and trail bytes
	CharsetGBK
	CharsetSJIS
	csGB18030
	// single-byte sets whose ctype makes bytes from 0x80 spaces or control
	// characters (measured on MariaDB 10.11: SELECT 1<b>+1 and 2 --<b>+1)
	csSpaceA0  // latin1, latin2, latin5, greek, dec8, geostd8, armscii8: 0xA0 is a space
	csSpaceFF  // cp852, cp866, keybcs2: 0xFF is a space
	csCP1250   // 0xA0 a space; 0x80 0x81 0x83 0x88 0x90 0x98 control
	csCP850    // 0xFF a control character
	csHebrew   // 0xA0 a space; 0xFD 0xFE control
	csHP8      // 0x80-0xA0 0xB1 0xB2 0xF2-0xF5 0xFF control
	csLatin7   // 0xA0 a space; 0x81 0x83 0x88 0x8A 0x8C 0x90 0x98 0x9A 0x9C 0x9F 0xA1 0xA5 control
	csMacroman // 0x80 0xCB 0xE5 control
	numCharsetKinds
)

// Charsets maps every character set MariaDB accepts as a client character
// set (lower case, with the utf8 alias) to its kind. ucs2, utf16, utf16le
// and utf32 are not client sets; a name missing here is refused.
// gb18030 is not a MariaDB 10.11 set (the server refuses it) but is modelled.
var Charsets = map[string]CharsetKind{
	"utf8mb4": csSingle, "utf8mb3": csSingle, "utf8": csSingle, "ascii": csSingle, "binary": csSingle,
	"cp1251": csSingle, "cp1256": csSingle, "cp1257": csSingle, "koi8r": csSingle, "koi8u": csSingle,
	"macce": csSingle, "swe7": csSingle, "tis620": csSingle,
	"eucjpms": csSingle, "euckr": csSingle, "gb2312": csSingle, "ujis": csSingle, // every trail byte is ≥ 0x41 and no quote, backslash or backquote
	"big5": csBig5, "cp932": csCP932, "gbk": CharsetGBK, "sjis": CharsetSJIS, "gb18030": csGB18030,
	"latin1": csSpaceA0, "latin2": csSpaceA0, "latin5": csSpaceA0, "greek": csSpaceA0, "dec8": csSpaceA0,
	"geostd8": csSpaceA0, "armscii8": csSpaceA0,
	"cp852": csSpaceFF, "cp866": csSpaceFF, "keybcs2": csSpaceFF,
	"cp1250": csCP1250, "cp850": csCP850, "hebrew": csHebrew, "hp8": csHP8, "latin7": csLatin7, "macroman": csMacroman,
}

// MultiByte reports a set whose characters can have a trail byte below
// 0x80 (a quote, a backslash, a backquote…).
func (cs CharsetKind) MultiByte() bool { return cs >= csBig5 && cs <= csGB18030 }

// HighSpace and highDash are, per kind, the bytes from 0x80 that are spaces (skipped
// between tokens) and those after which "--" starts a comment (spaces and
// control characters).
var HighSpace, highDash [numCharsetKinds][128]bool

func init() {
	set := func(t *[128]bool, bs ...int) {
		for _, b := range bs {
			t[b-0x80] = true
		}
	}
	for _, k := range []CharsetKind{csSpaceA0, csCP1250, csHebrew, csLatin7} {
		set(&HighSpace[k], 0xA0)
		set(&highDash[k], 0xA0)
	}
	set(&HighSpace[csSpaceFF], 0xFF)
	set(&highDash[csSpaceFF], 0xFF)
	set(&highDash[csCP1250], 0x80, 0x81, 0x83, 0x88, 0x90, 0x98)
	set(&highDash[csCP850], 0xFF)
	set(&highDash[csHebrew], 0xFD, 0xFE)
	for b := 0x80; b <= 0xA0; b++ {
		set(&highDash[csHP8], b)
	}
	set(&highDash[csHP8], 0xB1, 0xB2, 0xF2, 0xF3, 0xF4, 0xF5, 0xFF)
	set(&highDash[csLatin7], 0x81, 0x83, 0x88, 0x8A, 0x8C, 0x90, 0x98, 0x9A, 0x9C, 0x9F, 0xA1, 0xA5)
	set(&highDash[csMacroman], 0x80, 0xCB, 0xE5)
}

// LexState is the part of a session that changes how the server reads a
// statement.
type LexState struct {
	NoBackslash bool        // sql_mode NO_BACKSLASH_ESCAPES
	AnsiQuotes  bool        // sql_mode ANSI_QUOTES (or a mode that implies it)
	Charset     CharsetKind // character_set_client
}

// MbLen is the length of the multi-byte character at the start of s in a
// set of kind cs, or 1 when s starts with a single-byte character or with
// bytes that are not a valid character (the server's my_ismbchar).
func MbLen(cs CharsetKind, s string) int { return mbLenOf(cs, s) }

// mbLenBytes is MbLen of a byte slice.
func mbLenBytes(cs CharsetKind, s []byte) int { return mbLenOf(cs, s) }

// dashComment reports whether "--" followed by c starts a comment: c is
// a space or a control character in the set (the server's my_isspace,
// my_iscntrl).
func dashComment(cs CharsetKind, c byte) bool {
	return c <= ' ' || c == 0x7F || (c >= 0x80 && highDash[cs][c-0x80])
}

func mbLenOf[T ~string | ~[]byte](cs CharsetKind, s T) int {
	if len(s) < 2 || s[0] < 0x80 {
		return 1
	}
	a, b := s[0], s[1]
	in := func(c, lo, hi byte) bool { return c >= lo && c <= hi }
	switch cs {
	case csBig5:
		if in(a, 0xA1, 0xF9) && (in(b, 0x40, 0x7E) || in(b, 0xA1, 0xFE)) {
			return 2
		}
	case CharsetGBK:
		if in(a, 0x81, 0xFE) && (in(b, 0x40, 0x7E) || in(b, 0x80, 0xFE)) {
			return 2
		}
	case csCP932, CharsetSJIS:
		if (in(a, 0x81, 0x9F) || in(a, 0xE0, 0xFC)) && (in(b, 0x40, 0x7E) || in(b, 0x80, 0xFC)) {
			return 2
		}
	case csGB18030:
		if !in(a, 0x81, 0xFE) {
			return 1
		}
		if in(b, 0x40, 0x7E) || in(b, 0x80, 0xFE) {
			return 2
		}
		if len(s) >= 4 && in(b, 0x30, 0x39) && in(s[2], 0x81, 0xFE) && in(s[3], 0x30, 0x39) {
			return 4
		}
	}
	return 1
}

// sqlModeBits are the names of sql_mode's bits (MariaDB 10.11), in order.
var sqlModeBits = []string{"REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", "IGNORE_BAD_TABLE_OPTIONS",
	"ONLY_FULL_GROUP_BY", "NO_UNSIGNED_SUBTRACTION", "NO_DIR_IN_CREATE", "POSTGRESQL", "ORACLE", "MSSQL", "DB2", "MAXDB",
	"NO_KEY_OPTIONS", "NO_TABLE_OPTIONS", "NO_FIELD_OPTIONS", "MYSQL323", "MYSQL40", "ANSI", "NO_AUTO_VALUE_ON_ZERO",
	"NO_BACKSLASH_ESCAPES", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE", "NO_ZERO_DATE", "INVALID_DATES",
	"ERROR_FOR_DIVISION_BY_ZERO", "TRADITIONAL", "NO_AUTO_CREATE_USER", "HIGH_NOT_PRECEDENCE", "NO_ENGINE_SUBSTITUTION",
	"PAD_CHAR_TO_FULL_LENGTH", "EMPTY_STRING_IS_NULL", "SIMULTANEOUS_ASSIGNMENT", "TIME_ROUND_FRACTIONAL"}

// impliesANSIQuotes are the combination modes that the server expands to
// include ANSI_QUOTES.
var impliesANSIQuotes = map[string]bool{"ANSI_QUOTES": true, "ANSI": true, "POSTGRESQL": true, "DB2": true, "MAXDB": true}

// ParseSQLMode reads a value of sql_mode (a comma-separated list of
// names, or a number) into the two bits the lexer follows. ORACLE and
// MSSQL change more of the parser than those bits and are refused, like
// any name or bit the server does not know.
func ParseSQLMode(v string) (noBackslash, ansiQuotes bool, err error) {
	v = strings.TrimSpace(v)
	var names []string
	if v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n >= 1<<uint(len(sqlModeBits)) {
			return false, false, fmt.Errorf("sql_mode %s: not a value the server accepts", v)
		}
		for i, name := range sqlModeBits {
			if n&(1<<uint(i)) != 0 {
				names = append(names, name)
			}
		}
	} else if v != "" {
		for _, f := range strings.Split(v, ",") {
			names = append(names, strings.ToUpper(strings.TrimSpace(f)))
		}
	}
	for _, name := range names {
		switch {
		case name == "ORACLE" || name == "MSSQL":
			return false, false, fmt.Errorf("sql_mode %s: its grammar is not modelled", name)
		case name == "NO_BACKSLASH_ESCAPES":
			noBackslash = true
		case impliesANSIQuotes[name]:
			ansiQuotes = true
		case !knownSQLMode(name):
			return false, false, fmt.Errorf("sql_mode %q: unknown mode", name)
		}
	}
	return noBackslash, ansiQuotes, nil
}

func knownSQLMode(name string) bool {
	for _, n := range sqlModeBits {
		if n == name {
			return true
		}
	}
	return false
}

// DefaultServerVersion decides the versioned comments of a statement read
// without a known server (the oldest MariaDB a restore targets).
const DefaultServerVersion = 100500

// Tokenize reads s under the server's defaults (backslash escapes, "…"
// strings, a single-byte client set).
func Tokenize(s string) ([]Token, error) { return TokenizeIn(s, LexState{}) }

// TokenizeIn splits a statement into tokens as the server reads it in a
// session in state l: /*! */ and /*M! */ contents are code when the
// server runs them, other comments are dropped. A statement the lexer
// cannot read exactly as the server does is an error.
func TokenizeIn(s string, l LexState) ([]Token, error) {
	return TokenizeVersion(s, l, DefaultServerVersion)
}

// TokenizeVersion is TokenizeIn for a server of this version (as in
// MYSQL_VERSION_ID: 101119 for 10.11.19).
func TokenizeVersion(s string, l LexState, version int) ([]Token, error) {
	return lex(s, l, version, false)
}

// lexComments is TokenizeVersion that also returns the comments, as
// tComment tokens (those the server skips) and tCode tokens (the opening
// and closing of the versioned comments it runs), for readers that have
// rules about them (the CREATE head reader, the Splitter's fuzz target).
func lexComments(s string, l LexState, version int) ([]Token, error) {
	return lex(s, l, version, true)
}

func lex(s string, l LexState, version int, comments bool) ([]Token, error) {
	var out []Token
	x := newScanner(s, l, version, comments)
	for {
		t, ok, err := x.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, t)
	}
}

// scanner reads a statement one token at a time (see TokenizeIn), for
// readers that stop early (the head of a CREATE).
type scanner struct {
	s           string
	l           LexState
	version     int
	comments    bool // return tComment and tCode tokens
	i           int
	inVersioned bool
}

func newScanner(s string, l LexState, version int, comments bool) *scanner {
	return &scanner{s: s, l: l, version: version, comments: comments}
}

// next returns the next token; ok is false at the end of the statement.
func (x *scanner) next() (t Token, ok bool, err error) {
	s, l := x.s, x.l
	space := &HighSpace[l.Charset]
	for x.i < len(s) {
		i := x.i
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || (c >= 0x80 && space[c-0x80]):
			x.i++
			continue
		case c == '#' || (c == '-' && i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || dashComment(l.Charset, s[i+2]))):
			// up to the end of the line, or a NUL (the server's MY_LEX_COMMENT)
			j := i + 1
			for j < len(s) && s[j] != '\n' && s[j] != 0 {
				j++
			}
			if j < len(s) && s[j] == '\n' {
				j++
			}
			x.i, t = j, Token{Kind: tComment, Text: s[i:j], Off: i, End: j}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			n, code, err := comment(s[i:], x.version)
			if err != nil {
				return Token{}, false, err
			}
			t = Token{Kind: tComment, Text: s[i : i+n], Off: i, End: i + n}
			if code {
				if x.inVersioned {
					return Token{}, false, fmt.Errorf("nested versioned comment")
				}
				x.inVersioned, t.Kind = true, tCode
			}
			x.i += n
		case c == '*' && x.inVersioned && i+1 < len(s) && s[i+1] == '/':
			x.inVersioned = false
			x.i, t = i+2, Token{Kind: tCode, Text: "*/", Off: i, End: i + 2}
		default:
			t, err := lexToken(s, i, l)
			if err != nil {
				return Token{}, false, err
			}
			x.i = t.End
			return t, true, nil
		}
		if x.comments {
			return t, true, nil
		}
	}
	if x.inVersioned {
		return Token{}, false, fmt.Errorf("unterminated versioned comment")
	}
	return Token{}, false, nil
}

// lexToken reads the token at s[i] (not a space or a comment).
func lexToken(s string, i int, l LexState) (Token, error) {
	space := &HighSpace[l.Charset]
	c := s[i]
	switch {
	case c == '`' || (c == '"' && l.AnsiQuotes):
		v, n, err := LexQuoted(s[i:], c, false, l.Charset)
		return Token{Kind: TIdent, Text: v, Off: i, End: i + n}, err
	case c == '\'' || c == '"':
		v, n, err := LexQuoted(s[i:], c, !l.NoBackslash, l.Charset)
		return Token{Kind: TString, Text: v, Off: i, End: i + n}, err
	case c == '@':
		return lexVariable(s, i, l)
	case (c == 'x' || c == 'X' || c == 'b' || c == 'B') && i+1 < len(s) && s[i+1] == '\'':
		return lexDigitString(s, i)
	case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
		j := i + 1
		for j < len(s) && ((isWordByte(s[j]) && !(s[j] >= 0x80 && space[s[j]-0x80])) || s[j] == '.' || ((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
			j += wordCharLen(l.Charset, s[j:])
		}
		j = min(j, len(s))
		return Token{Kind: TNumber, Text: s[i:j], Off: i, End: j}, nil
	case isWordByte(c):
		j := i
		for j < len(s) && isWordByte(s[j]) && !(s[j] >= 0x80 && space[s[j]-0x80]) {
			j += wordCharLen(l.Charset, s[j:])
		}
		j = min(j, len(s))
		return Token{Kind: TWord, Text: s[i:j], Off: i, End: j}, nil
	case c == ':' && i+1 < len(s) && s[i+1] == '=':
		return Token{Kind: TOp, Text: ":=", Off: i, End: i + 2}, nil
	}
	return Token{Kind: TOp, Text: s[i : i+1], Off: i, End: i + 1}, nil
}

// LexIdent reads the identifier at the start of s as the lexer does in a
// session in state l: a quoted one (`…`, or "…" under ANSI_QUOTES) or a
// bare one (a word, or a run of word bytes that starts with a digit): its
// name and length.
func LexIdent(s string, l LexState) (name string, n int, ok bool) {
	if s == "" {
		return "", 0, false
	}
	t, err := lexToken(s, 0, l)
	if err != nil {
		return "", 0, false
	}
	switch {
	case t.Kind == TIdent, t.Kind == TWord:
	case t.Kind == TNumber && strings.IndexFunc(t.Text, func(r rune) bool { return r < 0x80 && !isWordByte(byte(r)) }) < 0:
	default:
		return "", 0, false
	}
	return t.Text, t.End, true
}

// lexVariable reads the user (@x) or system (@@x) variable at s[i]: a
// quoted name, or a word that may hold dots.
func lexVariable(s string, i int, l LexState) (Token, error) {
	space := &HighSpace[l.Charset]
	j := i + 1
	kind := TVar
	if j < len(s) && s[j] == '@' {
		kind, j = TSysVar, j+1
	}
	if j < len(s) && (s[j] == '`' || s[j] == '\'' || s[j] == '"') {
		v, n, err := LexQuoted(s[j:], s[j], (s[j] == '\'' || (s[j] == '"' && !l.AnsiQuotes)) && !l.NoBackslash, l.Charset)
		if err != nil {
			return Token{}, err
		}
		return Token{Kind: kind, Text: v, Off: i, End: j + n}, nil
	}
	k := j
	for k < len(s) && ((isWordByte(s[k]) && !(s[k] >= 0x80 && space[s[k]-0x80])) || s[k] == '.') {
		k += wordCharLen(l.Charset, s[k:])
	}
	return Token{Kind: kind, Text: s[j:k], Off: i, End: k}, nil
}

// lexDigitString reads x'…' or b'…' at s[i]: it ends at the next quote,
// and only digits may stand between.
func lexDigitString(s string, i int) (Token, error) {
	c := s[i]
	end := strings.IndexByte(s[i+2:], '\'')
	if end < 0 {
		return Token{}, fmt.Errorf("unterminated %c'", c)
	}
	v := s[i+2 : i+2+end]
	digits := "0123456789abcdefABCDEF"
	if c == 'b' || c == 'B' {
		digits = "01"
	}
	if strings.Trim(v, digits) != "" {
		return Token{}, fmt.Errorf("%c'…' with a byte that is not a digit", c)
	}
	return Token{Kind: TNumber, Text: string(c) + "'" + v + "'", Off: i, End: i + 3 + end}, nil
}

// wordCharLen is the length of the character at the start of s inside a
// word: a whole multi-byte character (whose trail byte may be a quote or
// a backslash in ASCII), else one byte.
func wordCharLen(cs CharsetKind, s string) int {
	if s[0] >= 0x80 {
		return MbLen(cs, s)
	}
	return 1
}

// comment reads the comment at the start of s ("/*…"): its length, and
// whether it is a versioned comment the server runs as code (then only
// its opening, up to the version, is consumed). A versioned comment the
// server skips may hold one level of /* */ inside (consume_comment).
func comment(s string, version int) (n int, code bool, err error) {
	open, maria := 2, false
	switch {
	case strings.HasPrefix(s, "/*!"):
		open = 3
	case strings.HasPrefix(s, "/*M!"):
		open, maria = 4, true
	}
	if open == 2 {
		end := strings.Index(s[2:], "*/")
		if end < 0 {
			return 0, false, fmt.Errorf("unterminated comment")
		}
		return end + 4, false, nil
	}
	d := 0
	for d < 6 && open+d < len(s) && s[open+d] >= '0' && s[open+d] <= '9' {
		d++
	}
	if d < 5 {
		return open, true, nil // not a version: the digits are code
	}
	v, _ := strconv.Atoi(s[open : open+d])
	if v <= version && (v < 50700 || v > 99999 || maria) {
		return open + d, true, nil
	}
	// skipped, with one nested comment allowed
	depth := 0
	for i := open + d; i+1 < len(s); i++ {
		switch {
		case depth == 0 && s[i] == '/' && s[i+1] == '*':
			depth = 1
			i++
		case s[i] == '*' && s[i+1] == '/':
			if depth == 0 {
				return i + 2, false, nil
			}
			depth = 0
			i++
		}
	}
	return 0, false, fmt.Errorf("unterminated versioned comment")
}

// LexQuoted reads a quoted token at the start of s (s[0] is the quote)
// as the server does in a client set of kind cs: its value and length.
// A multi-byte character is taken whole (its trail byte can be the quote
// or a backslash); doubled quotes stand for one; with backslash set, a
// backslash escapes the next byte (\0 \n \r \t \Z \b are control bytes,
// \% and \_ keep their backslash, as the server's unescape does).
func LexQuoted(s string, q byte, backslash bool, cs CharsetKind) (string, int, error) {
	mb := cs.MultiByte()
	if !mb {
		// most literals and names: no escape, no doubled quote, taken as
		// they are written
		if j := strings.IndexByte(s[1:], q) + 1; j > 0 && (j+1 == len(s) || s[j+1] != q) &&
			(!backslash || strings.IndexByte(s[1:j], '\\') < 0) {
			return s[1:j], j + 1, nil
		}
	}
	var b []byte
	for i := 1; i < len(s); {
		c := s[i]
		if mb && c >= 0x80 {
			if n := MbLen(cs, s[i:]); n > 1 {
				b = append(b, s[i:i+n]...)
				i += n
				continue
			}
		}
		switch {
		case backslash && c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated %c", q)
			}
			e := s[i+1]
			if e == '%' || e == '_' {
				b = append(b, '\\')
			}
			b = append(b, unescape(e))
			i += 2
		case c == q && i+1 < len(s) && s[i+1] == q:
			b = append(b, q)
			i += 2
		case c == q:
			return string(b), i + 1, nil
		default:
			b = append(b, c)
			i++
		}
	}
	return "", 0, fmt.Errorf("unterminated %c", q)
}
