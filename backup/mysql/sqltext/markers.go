package sqltext

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// FooterMarker ends every complete dump.
const FooterMarker = "-- Dump completed"

// CommentText makes s safe on a -- comment line of the stream: control
// characters (newline and carriage return above all), DEL, the C1 range
// and invalid UTF-8 are written as escapes (\n, \r, \t, \xNN), so that no
// byte sequence in a name or server string can end the comment and be read
// as SQL or as a client command.
func CommentText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n':
			b.WriteString("\\n")
		case r == '\r':
			b.WriteString("\\r")
		case r == '\t':
			b.WriteString("\\t")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, "\\x{%x}", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// CommentIdent is a quoted identifier for a -- comment line.
func CommentIdent(name string) string { return CommentText(QuoteIdent(name)) }

var CreateDBRE = regexp.MustCompile(`(?is)^\s*CREATE\s+(DATABASE|SCHEMA)\s+`)

// SandboxLine starts every stream: the MariaDB client (10.5.25, 10.6.18,
// 10.11.8, 11.x and later) then refuses its own commands (\!, system,
// source, …) for the rest of the input, as mariadb-dump's output does.
// Servers and other clients see a comment.
const SandboxLine = "/*M!999999\\- enable the sandbox mode */\n"

const OpsDumpHead = "-- ops backup SQL dump"

func Abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// EndOfDataSQL is the marker after the data of table.
func EndOfDataSQL(table string) string {
	return "\n-- End of data of table " + CommentIdent(table) + "\n" + EndOfDataPrefix + QuoteString(table) + ";\n"
}

func IsName(t Token) bool { return t.Kind == TIdent || t.Kind == TWord }

// Excerpt is what an error may show of a refused statement: its first
// tokens, with string literals and rows left out.
func Excerpt(s string) string { return ExcerptIn(s, LexState{}) }

// ExcerptIn is excerpt of a statement read in a session in state l (so
// that no piece of a literal is taken for a word).
func ExcerptIn(s string, l LexState) string {
	if IsInsert(s) {
		if v := ValuesKeyword(s, l); v > 0 {
			return CommentText(s[:v]) + "VALUES …"
		}
	}
	toks, err := TokenizeIn(s, l)
	if err != nil || len(toks) == 0 {
		return CommentText(Abbreviate(s, 40))
	}
	var parts []string
	for i, t := range toks {
		if i == 12 {
			parts = append(parts, "…")
			break
		}
		switch t.Kind {
		case TString:
			parts = append(parts, "'…'")
		case TIdent:
			parts = append(parts, CommentIdent(t.Text))
		case TVar:
			parts = append(parts, "@"+t.Text)
		case TSysVar:
			parts = append(parts, "@@"+t.Text)
		default:
			parts = append(parts, CommentText(t.Text))
		}
	}
	return strings.Join(parts, " ")
}

// IsInsert reports an INSERT INTO statement (checked by checkInsert
// without tokenizing its rows).
func IsInsert(s string) bool {
	return len(s) > 12 && strings.EqualFold(s[:12], "INSERT INTO ")
}

// ValuesKeyword finds the VALUES keyword after the table name and column
// list of an INSERT read in a session in state l (the lexer's word, with a
// space before it and a space or "(" after it), or -1.
func ValuesKeyword(s string, l LexState) int {
	x := newScanner(s[len("INSERT INTO "):], l, DefaultServerVersion, false)
	for {
		t, ok, err := x.next()
		if err != nil || !ok {
			return -1
		}
		i, e := t.Off+len("INSERT INTO "), t.End+len("INSERT INTO ")
		if t.Is("VALUES") && s[i-1] <= ' ' && (e == len(s) || s[e] <= ' ' || s[e] == '(') {
			return i
		}
	}
}

// The end of a table's data: after the last INSERT of each table an ops
// dump has the statement EndOfDataSQL writes, which sets a user variable
// (the stock client sets it and nothing reads it; a restore by an older
// ops replays it as a session statement). A restore takes it as the sign
// that the table's deferred indexes can be built while the data
// connections go on with the other tables, instead of all at the end. A marker that lies (more rows of the table after it) costs
// time, not correctness: InnoDB adds an index online, with rows arriving.
const EndOfDataPrefix = "SET @ops_end_of_data = "

// UnqualifyTrigger drops the qualifier naming the trigger's own database
// db from its name and its table in the statement SHOW CREATE TRIGGER
// returns (the one the user wrote: CREATE TRIGGER db.trg … ON db.t), so
// that the trigger is created in the current database. Its body stays as
// written.
func UnqualifyTrigger(stmt, db string) string {
	toks, err := Tokenize(stmt)
	if err != nil {
		return stmt
	}
	var cut [][2]int // byte ranges "db." to remove
	qualified := func(i int) bool {
		return i+2 < len(toks) && (toks[i].Kind == TIdent || toks[i].Kind == TWord) && toks[i].Text == db &&
			toks[i+1].Kind == TOp && toks[i+1].Text == "."
	}
	for i := 0; i < len(toks); i++ {
		if !toks[i].Is("TRIGGER") {
			continue
		}
		if qualified(i + 1) {
			cut = append(cut, [2]int{toks[i+1].Off, toks[i+2].End})
		}
		for j := i + 1; j < len(toks); j++ {
			if toks[j].Is("ON") {
				if qualified(j + 1) {
					cut = append(cut, [2]int{toks[j+1].Off, toks[j+2].End})
				}
				break
			}
		}
		break
	}
	for k := len(cut) - 1; k >= 0; k-- {
		stmt = stmt[:cut[k][0]] + stmt[cut[k][1]:]
	}
	return stmt
}
