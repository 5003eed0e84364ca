package mysql

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The guard decides, before a statement is sent, whether it is one of the
// forms the dumper writes (see sqltext.go, stream.go) and whether it stays
// inside the databases the restore may write. A stored stream is input,
// never trusted code: anything else (GRANT, CREATE USER, SET GLOBAL,
// INTO OUTFILE, LOAD DATA, client commands, a statement naming another
// database, …) is refused with the statement number and an excerpt that
// carries no row data.

// ErrRefused is matched (errors.Is) by the error of a refused statement
// or target database.
var ErrRefused = errors.New("refused")

// ErrTargetExists is matched by the error of a restore into an existing,
// non-empty database without Replace.
var ErrTargetExists = errors.New("target database exists")

// SystemDatabases are never dumped by default and never restored into.
var SystemDatabases = map[string]bool{"mysql": true, "sys": true, "information_schema": true, "performance_schema": true}

// guard checks statements against the databases a restore may write.
type guard struct {
	// targets are the databases this restore writes (after renaming).
	// With open set, a CREATE DATABASE of any non-system database adds
	// it (a restore without a mapping: the stream's own databases).
	targets map[string]bool
	open    bool
	// others are the databases of the server that are not targets (lower
	// case): a qualified name db.x in a statement whose db is one of them
	// (or a system database) is refused.
	others map[string]bool
	// sess is the lexer's state of the restore's session, moved by the
	// stream's SET statements (see checkSet).
	sess lexSession
}

// lexSession is what the guard knows of the restore session's state: the
// lexer state, the server's version (for versioned comments) and the user
// variables that hold a saved sql_mode or client character set.
type lexSession struct {
	lex     lexState
	version int // as MYSQL_VERSION_ID; 0: defaultServerVersion
	saved   map[string]savedVar
}

// savedVar is the value of a user variable as far as the lexer cares.
type savedVar struct {
	kind      uint8 // savedMode, savedCharset or savedText
	nbe, ansi bool
	cs        charsetKind
	text      string
}

const (
	savedMode uint8 = iota + 1
	savedCharset
	savedText
)

// readSession reads the state a restore's session starts in (the
// server's global sql_mode, the connection's character set).
func readSession(ctx context.Context, c *sql.Conn) (lexSession, error) {
	var mode, cs, version string
	if err := c.QueryRowContext(ctx, "SELECT @@session.sql_mode, @@session.character_set_client, VERSION()").Scan(&mode, &cs, &version); err != nil {
		return lexSession{}, fmt.Errorf("read the session's sql_mode and character set: %w", err)
	}
	nbe, ansi, err := parseSQLMode(mode)
	if err != nil {
		return lexSession{}, fmt.Errorf("the session's %w: %w", err, ErrRefused)
	}
	k, ok := charsets[strings.ToLower(cs)]
	if !ok {
		return lexSession{}, fmt.Errorf("the session's character set %s is not one the restore's lexer models: %w", cs, ErrRefused)
	}
	return lexSession{lex: lexState{noBackslash: nbe, ansiQuotes: ansi, cs: k}, version: versionID(version)}, nil
}

// versionID turns "10.11.19-MariaDB…" into 101119 (0 if unreadable).
func versionID(v string) int {
	var major, minor, patch int
	if n, _ := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch); n != 3 {
		return 0
	}
	return major*10000 + minor*100 + patch
}

// tokenize reads s as the server does in this session.
func (s *lexSession) tokenize(sqlText string) ([]token, error) {
	v := s.version
	if v == 0 {
		v = defaultServerVersion
	}
	return tokenizeVersion(sqlText, s.lex, v)
}

// newGuard returns the guard of a restore with this mapping (SRC → DST;
// empty: the stream's own databases) onto a server holding existing.
func newGuard(mapping map[string]string, existing []string) *guard {
	g := &guard{targets: map[string]bool{}, open: len(mapping) == 0, others: map[string]bool{}}
	for _, dst := range mapping {
		g.targets[dst] = true
	}
	for _, db := range existing {
		if !g.targets[db] {
			g.others[strings.ToLower(db)] = true
		}
	}
	return g
}

// refuse is the error of a refused statement.
func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, a...)...)
}

// check decides on one statement (after renaming). For a CREATE
// DATABASE it returns the database's name.
func (g *guard) check(sqlText string) (createDB string, err error) {
	if strings.HasPrefix(sqlText, `\`) {
		return "", refuse("a client command")
	}
	if isInsert(sqlText) {
		return "", g.checkInsert(sqlText)
	}
	toks, err := g.sess.tokenize(sqlText)
	if err != nil {
		return "", refuse("unreadable statement: %v", err)
	}
	if len(toks) == 0 {
		return "", nil // only comments
	}
	if toks[0].is("CREATE") && len(toks) > 1 && toks[1].is("DATABASE", "SCHEMA") {
		return g.createDatabase(toks[2:])
	}
	return "", g.checkStatement(toks)
}

func (g *guard) checkStatement(toks []token) error {
	switch {
	case toks[0].is("SET"):
		return g.sess.checkSet(toks[1:])
	case toks[0].is("USE"):
		if len(toks) != 2 || !isName(toks[1]) {
			return refuse("USE: expected one database name")
		}
		return g.database(toks[1].text)
	case toks[0].is("ALTER") && len(toks) > 1 && toks[1].is("DATABASE", "SCHEMA"):
		return checkDatabaseOptions(toks[2:], "ALTER DATABASE")
	case toks[0].is("DROP"):
		return g.checkDrop(toks[1:])
	case toks[0].is("CREATE"):
		return g.checkCreate(toks)
	case toks[0].is("DO") && len(toks) > 1 && toks[1].is("SETVAL"):
		return g.checkSetval(toks[2:])
	case toks[0].is("EXECUTE") && len(toks) > 1 && toks[1].is("IMMEDIATE"):
		return g.checkExecute(toks[2:])
	}
	return refuse("%s is not a statement ops writes", strings.ToUpper(toks[0].text))
}

// database checks a database that a statement names.
func (g *guard) database(name string) error {
	if SystemDatabases[strings.ToLower(name)] {
		return refuse("the system database %s", QuoteIdent(name))
	}
	if !g.targets[name] {
		return refuse("database %s is outside the restore", QuoteIdent(name))
	}
	return nil
}

func isName(t token) bool { return t.kind == tIdent || t.kind == tWord }

// sessionVars are the variables the dumper sets (per session).
var sessionVars = map[string]bool{
	"character_set_client": true, "character_set_results": true, "collation_connection": true,
	"time_zone": true, "sql_mode": true, "unique_checks": true, "foreign_key_checks": true, "sql_notes": true,
}

// checkSet accepts SET of session variables and user variables to
// literals or other variables, SET NAMES and SET CHARACTER SET, and moves
// the session's lexer state as the server will: a sql_mode or client
// character set the lexer does not model, or a value it cannot know, is
// refused. The values are all read before any is assigned, as the server
// does (SET @saved = @@sql_mode, sql_mode = … saves the old mode).
func (s *lexSession) checkSet(toks []token) error {
	if len(toks) >= 2 && (toks[0].is("NAMES", "CHARSET") || (toks[0].is("CHARACTER") && toks[1].is("SET"))) {
		v := toks[1:]
		if toks[0].is("CHARACTER") {
			v = toks[2:]
		}
		if len(v) >= 1 && (v[0].kind == tWord || v[0].kind == tString) && (len(v) == 1 || (len(v) == 3 && toks[0].is("NAMES") && v[1].is("COLLATE"))) {
			cs, err := s.charsetValue(v[0])
			if err != nil {
				return err
			}
			s.lex.cs = cs
			return nil
		}
		return refuse("SET %s: expected a character set name", strings.ToUpper(toks[0].text))
	}
	var apply []func()
	for len(toks) > 0 {
		t := toks[0]
		name := ""
		switch {
		case t.kind == tVar:
		case t.kind == tSysVar:
			name = strings.ToLower(t.text)
			name = strings.TrimPrefix(name, "session.")
			if !sessionVars[name] {
				return refuse("SET of @@%s", t.text)
			}
		case t.kind == tWord && t.is("SESSION") && len(toks) > 1:
			toks = toks[1:]
			continue
		case t.kind == tWord && sessionVars[strings.ToLower(t.text)]:
			name = strings.ToLower(t.text)
		default:
			return refuse("SET of %s", t.text)
		}
		if len(toks) < 3 || (toks[1].text != "=" && toks[1].text != ":=") {
			return refuse("SET: expected NAME = VALUE")
		}
		v := toks[2]
		if v.kind == tSysVar {
			if strings.HasPrefix(strings.ToLower(v.text), "global.") {
				return refuse("SET from a global variable")
			}
		} else if v.kind == tOp || (v.kind == tWord && len(toks) > 3 && toks[3].text == "(") {
			return refuse("SET to an expression")
		}
		f, err := s.assignment(t, name, v)
		if err != nil {
			return err
		}
		apply = append(apply, f)
		toks = toks[3:]
		if len(toks) > 0 {
			if toks[0].text != "," {
				return refuse("SET: expected a comma between assignments")
			}
			toks = toks[1:]
		}
	}
	for _, f := range apply {
		f()
	}
	return nil
}

// assignment reads one assignment of a SET (to the user variable t, or to
// the session variable name) under the state before the statement and
// returns what it does to the state.
func (s *lexSession) assignment(t token, name string, v token) (func(), error) {
	sysName := ""
	if v.kind == tSysVar {
		sysName = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(v.text), "session."), "local.")
	}
	switch {
	case name == "": // a user variable: remember what it holds
		key := strings.ToLower(t.text)
		var sv savedVar
		switch {
		case sysName == "sql_mode":
			sv = savedVar{kind: savedMode, nbe: s.lex.noBackslash, ansi: s.lex.ansiQuotes}
		case sysName == "character_set_client":
			sv = savedVar{kind: savedCharset, cs: s.lex.cs}
		case v.kind == tString || v.kind == tNumber || (v.kind == tWord && !v.is("DEFAULT", "NULL")):
			sv = savedVar{kind: savedText, text: v.text}
		case v.kind == tVar:
			sv = s.saved[strings.ToLower(v.text)]
		}
		return func() {
			if s.saved == nil {
				s.saved = map[string]savedVar{}
			}
			if sv.kind == 0 {
				delete(s.saved, key)
			} else {
				s.saved[key] = sv
			}
		}, nil
	case name == "sql_mode":
		nbe, ansi := s.lex.noBackslash, s.lex.ansiQuotes
		var err error
		switch {
		case sysName == "sql_mode":
		case v.kind == tString || v.kind == tNumber || (v.kind == tWord && !v.is("DEFAULT")):
			nbe, ansi, err = parseSQLMode(v.text)
		case v.kind == tVar:
			sv := s.saved[strings.ToLower(v.text)]
			switch sv.kind {
			case savedMode:
				nbe, ansi = sv.nbe, sv.ansi
			case savedText:
				nbe, ansi, err = parseSQLMode(sv.text)
			default:
				err = fmt.Errorf("@%s does not hold a sql_mode this restore knows", v.text)
			}
		default:
			err = fmt.Errorf("a value this restore cannot know")
		}
		if err != nil {
			return nil, refuse("SET sql_mode: %v", err)
		}
		return func() { s.lex.noBackslash, s.lex.ansiQuotes = nbe, ansi }, nil
	case name == "character_set_client":
		cs := s.lex.cs
		var err error
		switch {
		case sysName == "character_set_client":
		case v.kind == tVar:
			sv := s.saved[strings.ToLower(v.text)]
			switch sv.kind {
			case savedCharset:
				cs = sv.cs
			case savedText:
				cs, err = s.charsetValue(token{kind: tString, text: sv.text})
			default:
				err = refuse("SET character_set_client: @%s does not hold a character set this restore knows", v.text)
			}
		default:
			cs, err = s.charsetValue(v)
		}
		if err != nil {
			return nil, err
		}
		return func() { s.lex.cs = cs }, nil
	}
	return func() {}, nil
}

// charsetValue is the kind of the client character set named by v.
func (s *lexSession) charsetValue(v token) (charsetKind, error) {
	if v.kind != tString && v.kind != tWord && v.kind != tIdent || v.is("DEFAULT") {
		return 0, refuse("a client character set this restore cannot know (%s)", commentText(v.text))
	}
	cs, ok := charsets[strings.ToLower(v.text)]
	if !ok {
		return 0, refuse("the client character set %s is not one the restore's lexer models", commentText(quoteString(v.text)))
	}
	return cs, nil
}

func (g *guard) createDatabase(toks []token) (string, error) {
	if len(toks) >= 3 && toks[0].is("IF") && toks[1].is("NOT") && toks[2].is("EXISTS") {
		toks = toks[3:]
	}
	if len(toks) == 0 || !isName(toks[0]) {
		return "", refuse("CREATE DATABASE: expected a name")
	}
	name := toks[0].text
	if SystemDatabases[strings.ToLower(name)] {
		return "", refuse("the system database %s", QuoteIdent(name))
	}
	if g.open {
		g.targets[name] = true
		delete(g.others, strings.ToLower(name))
	}
	if err := g.database(name); err != nil {
		return "", err
	}
	return name, checkDatabaseOptions(toks[1:], "CREATE DATABASE")
}

// checkDatabaseOptions accepts [DEFAULT] CHARACTER SET/CHARSET/COLLATE
// [=] name and COMMENT [=] 'text'.
func checkDatabaseOptions(toks []token, what string) error {
	for _, t := range toks {
		if t.kind == tString || t.text == "=" || t.is("DEFAULT", "CHARACTER", "SET", "CHARSET", "COLLATE", "COMMENT") {
			continue
		}
		if t.kind == tWord && !t.is("DATA", "DIRECTORY", "INDEX", "ENGINE") {
			continue // a character set or collation name
		}
		return refuse("%s: unexpected %q", what, t.text)
	}
	return nil
}

var droppable = []string{"TABLE", "VIEW", "SEQUENCE", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"}

func (g *guard) checkDrop(toks []token) error {
	if len(toks) < 4 || !toks[0].is(droppable...) || !toks[1].is("IF") || !toks[2].is("EXISTS") {
		return refuse("DROP: expected DROP {TABLE|VIEW|…} IF EXISTS name")
	}
	rest := toks[3:]
	if err := g.objectName(rest); err != nil {
		return err
	}
	if n := len(rest); n != 1 && !(n == 3 && rest[1].text == ".") {
		return refuse("DROP: expected one name")
	}
	return nil
}

// objectName checks a possibly qualified object name at the start of toks.
func (g *guard) objectName(toks []token) error {
	if len(toks) == 0 || !isName(toks[0]) {
		return refuse("expected an object name")
	}
	if len(toks) >= 2 && toks[1].kind == tOp && toks[1].text == "." {
		if len(toks) < 3 || !isName(toks[2]) {
			return refuse("expected a name after %s.", QuoteIdent(toks[0].text))
		}
		return g.database(toks[0].text)
	}
	return nil
}

// forbidden are word sequences that never appear in a statement ops writes
// outside a string: privileges, accounts, server files and settings.
var forbidden = [][]string{
	{"GRANT"}, {"REVOKE"}, {"CREATE", "USER"}, {"ALTER", "USER"}, {"DROP", "USER"}, {"RENAME", "USER"},
	{"CREATE", "ROLE"}, {"DROP", "ROLE"}, {"SET", "PASSWORD"}, {"SET", "GLOBAL"}, {"SET", "ROLE"},
	{"INTO", "OUTFILE"}, {"INTO", "DUMPFILE"}, {"LOAD", "DATA"}, {"LOAD", "XML"}, {"LOAD_FILE"},
	{"INSTALL"}, {"UNINSTALL"}, {"SONAME"}, {"SHUTDOWN"}, {"KILL"}, {"CHANGE", "MASTER"}, {"CHANGE", "REPLICATION"},
	{"DATA", "DIRECTORY"}, {"INDEX", "DIRECTORY"}, {"FLUSH"}, {"PURGE"}, {"RESET"},
}

// unsafeEngines reach files or other servers.
var unsafeEngines = map[string]bool{"connect": true, "federated": true, "federatedx": true, "spider": true, "csv": false}

// checkBody looks at every token of a CREATE: forbidden sequences, database
// qualifiers outside the restore, and engines that reach outside the server.
func (g *guard) checkBody(toks []token) error {
	for i, t := range toks {
		if t.kind == tSysVar && strings.HasPrefix(strings.ToLower(t.text), "global.") {
			return refuse("a global variable (@@%s)", t.text)
		}
		if t.kind != tWord && t.kind != tIdent {
			continue
		}
		if t.kind == tWord {
			for _, seq := range forbidden {
				if matchWords(toks[i:], seq) {
					return refuse("%s", strings.Join(seq, " "))
				}
			}
			if t.is("ENGINE") && i+1 < len(toks) {
				e := toks[i+1]
				if e.text == "=" && i+2 < len(toks) {
					e = toks[i+2]
				}
				if unsafeEngines[strings.ToLower(e.text)] {
					return refuse("ENGINE=%s", e.text)
				}
			}
		}
		// db.x: a qualifier that is a system database or another database
		// of the server (a table or alias qualifier is neither).
		if i+1 < len(toks) && toks[i+1].kind == tOp && toks[i+1].text == "." && (i == 0 || toks[i-1].text != ".") {
			if l := strings.ToLower(t.text); SystemDatabases[l] || g.others[l] {
				return refuse("database %s is outside the restore", QuoteIdent(t.text))
			}
		}
	}
	return nil
}

func matchWords(toks []token, seq []string) bool {
	if len(toks) < len(seq) {
		return false
	}
	for j, w := range seq {
		if !toks[j].is(w) {
			return false
		}
	}
	return true
}

// creatable are the objects a stream creates, and the words that may stand
// between CREATE and the object keyword (SHOW CREATE's own clauses).
var (
	creatable  = []string{"TABLE", "VIEW", "SEQUENCE", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"}
	preambleOK = []string{"OR", "REPLACE", "ALGORITHM", "UNDEFINED", "MERGE", "TEMPTABLE", "DEFINER", "SQL", "SECURITY", "INVOKER", "AGGREGATE", "CURRENT_USER"}
)

func (g *guard) checkCreate(toks []token) error {
	i := 1
	for ; i < len(toks) && !toks[i].is(creatable...); i++ {
		t := toks[i]
		if t.is("TEMPORARY", "USER", "ROLE", "SERVER", "FUNCTION_SONAME", "DATABASE", "SCHEMA") {
			return refuse("CREATE %s", strings.ToUpper(t.text))
		}
		if t.is(preambleOK...) || t.kind == tString || t.kind == tIdent || t.kind == tVar || t.text == "=" || t.text == "@" || t.text == "(" || t.text == ")" {
			continue // DEFINER=`u`@`h`, ALGORITHM=…
		}
		if t.kind == tWord && i > 1 && (toks[i-1].text == "@" || toks[i-1].text == "=") {
			continue // DEFINER=user@host without quotes
		}
		return refuse("CREATE: unexpected %q", t.text)
	}
	if i >= len(toks) {
		return refuse("CREATE of something ops does not write")
	}
	if toks[i].is("FUNCTION") && i+1 < len(toks) && toks[i+1].is("SONAME") {
		return refuse("CREATE FUNCTION … SONAME")
	}
	rest := toks[i+1:]
	if len(rest) > 0 && rest[0].is("IF") {
		rest = rest[min(3, len(rest)):]
	}
	if err := g.objectName(rest); err != nil {
		return err
	}
	return g.checkBody(toks)
}

func (g *guard) checkSetval(toks []token) error {
	// SETVAL ( name , number , number )
	if len(toks) < 6 || toks[0].text != "(" || toks[len(toks)-1].text != ")" {
		return refuse("DO SETVAL: expected SETVAL(name, value, 0)")
	}
	if err := g.objectName(toks[1:]); err != nil {
		return err
	}
	for _, t := range toks[2 : len(toks)-1] {
		if t.kind != tNumber && t.text != "," && t.text != "." && t.text != "-" && !isName(t) {
			return refuse("DO SETVAL: unexpected %q", t.text)
		}
	}
	return nil
}

// checkExecute accepts EXECUTE IMMEDIATE of a literal holding the CREATE
// of a stored program (written so because the body has comments), and
// checks that CREATE like any other.
func (g *guard) checkExecute(toks []token) error {
	if len(toks) > 0 && toks[0].kind == tWord && strings.HasPrefix(toks[0].text, "_") {
		// _utf8mb4 introducer: the server converts the text from that set
		// to the client's before it reads it, which may add or remove a
		// trail byte 0x5C; the lexer reads the bytes as they are, so the
		// set must be the client's (as ops writes it) unless neither is
		// multi-byte (then ASCII bytes stay as they are)
		intro, ok := charsets[strings.ToLower(toks[0].text[1:])]
		if !ok || (intro != g.sess.lex.cs && (intro.multiByte() || g.sess.lex.cs.multiByte())) {
			return refuse("EXECUTE IMMEDIATE of a literal in another character set (%s)", toks[0].text)
		}
		toks = toks[1:]
	}
	if len(toks) != 1 {
		return refuse("EXECUTE IMMEDIATE: expected one literal")
	}
	body := toks[0].text
	switch {
	case toks[0].kind == tString:
	case toks[0].kind == tNumber && (strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X")):
		b, err := hex.DecodeString(body[2:])
		if err != nil {
			return refuse("EXECUTE IMMEDIATE: bad hex literal")
		}
		body = string(b)
	default:
		return refuse("EXECUTE IMMEDIATE: expected a literal")
	}
	inner, err := g.sess.tokenize(body)
	if err != nil || len(inner) < 2 || !inner[0].is("CREATE") {
		return refuse("EXECUTE IMMEDIATE of something other than a CREATE")
	}
	return g.checkCreate(inner)
}

// isInsert reports an INSERT INTO statement (checked by checkInsert
// without tokenizing its rows).
func isInsert(s string) bool {
	return len(s) > 12 && strings.EqualFold(s[:12], "INSERT INTO ")
}

// checkInsert accepts INSERT INTO name [(columns)] VALUES (literals), …
// The rows are scanned byte by byte: outside string literals only numbers,
// hex, NULL, signs, commas and parentheses may appear, so no subquery,
// function or variable can read anything while the rows load.
func (g *guard) checkInsert(s string) error {
	v, err := g.checkInsertHead(s)
	if err != nil {
		return err
	}
	return checkRows(s[v+len("VALUES"):], g.sess.lex)
}

// checkInsertHead checks an INSERT up to its VALUES (whose position it
// returns): the rows are for checkRows.
func (g *guard) checkInsertHead(s string) (int, error) {
	v := valuesKeyword(s, g.sess.lex)
	if v < 0 {
		return 0, refuse("INSERT: expected INSERT INTO name (columns) VALUES …")
	}
	head, err := g.sess.tokenize(s[len("INSERT INTO "):v])
	if err != nil {
		return 0, refuse("INSERT: %v", err)
	}
	if err := g.objectName(head); err != nil {
		return 0, err
	}
	for _, t := range head[1:] {
		if !(isName(t) || t.text == "," || t.text == "(" || t.text == ")" || t.text == ".") {
			return 0, refuse("INSERT: unexpected %q before VALUES", t.text)
		}
	}
	return v, nil
}

// valuesKeyword finds the VALUES keyword after the table name and column
// list of an INSERT read in a session in state l (the lexer's word, with a
// space before it and a space or "(" after it), or -1.
func valuesKeyword(s string, l lexState) int {
	x := newScanner(s[len("INSERT INTO "):], l, defaultServerVersion, false)
	for {
		t, ok, err := x.next()
		if err != nil || !ok {
			return -1
		}
		i, e := t.off+len("INSERT INTO "), t.end+len("INSERT INTO ")
		if t.is("VALUES") && s[i-1] <= ' ' && (e == len(s) || s[e] <= ' ' || s[e] == '(') {
			return i
		}
	}
}

// checkRows checks the rows of an INSERT read in a session in state l:
// only literals (see literalRows).
func checkRows(s string, l lexState) error {
	if err := literalRows(s, l); err != nil {
		return refuse("INSERT: %v", err)
	}
	return nil
}

// excerpt is what an error may show of a refused statement: its first
// tokens, with string literals and rows left out.
func excerpt(s string) string { return excerptIn(s, lexState{}) }

// excerptIn is excerpt of a statement read in a session in state l (so
// that no piece of a literal is taken for a word).
func excerptIn(s string, l lexState) string {
	if isInsert(s) {
		if v := valuesKeyword(s, l); v > 0 {
			return commentText(s[:v]) + "VALUES …"
		}
	}
	toks, err := tokenizeIn(s, l)
	if err != nil || len(toks) == 0 {
		return commentText(abbreviate(s, 40))
	}
	var parts []string
	for i, t := range toks {
		if i == 12 {
			parts = append(parts, "…")
			break
		}
		switch t.kind {
		case tString:
			parts = append(parts, "'…'")
		case tIdent:
			parts = append(parts, commentIdent(t.text))
		case tVar:
			parts = append(parts, "@"+t.text)
		case tSysVar:
			parts = append(parts, "@@"+t.text)
		default:
			parts = append(parts, commentText(t.text))
		}
	}
	return strings.Join(parts, " ")
}
