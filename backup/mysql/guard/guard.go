package guard

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// The guard decides, before a statement is sent, whether it is one of the
// forms the dumper writes (see the dump's ddl.go, header.go and stream.go)
// and whether it stays inside the databases the restore may write. A
// stored stream is input, never trusted code: anything else (GRANT, CREATE
// USER, SET GLOBAL, INTO OUTFILE, LOAD DATA, client commands, a statement
// naming another database, …) is refused with the statement number and an
// excerpt that carries no row data.

// ErrRefused is matched (errors.Is) by the error of a refused statement
// or target database.
var ErrRefused = errors.New("refused")

// Guard checks statements against the databases a restore may write.
type Guard struct {
	// targets are the databases this restore writes (after renaming).
	// With open set, a CREATE DATABASE of any non-system database adds
	// it (a restore without a mapping: the stream's own databases).
	targets map[string]bool
	open    bool
	// others are the databases of the server that are not targets (lower
	// case): a qualified name db.x in a statement whose db is one of them
	// (or a system database) is refused.
	others map[string]bool
	// Sess is the lexer's state of the restore's session, moved by the
	// stream's SET statements (see checkSet).
	Sess lexSession
}

// lexSession is what the guard knows of the restore session's state: the
// lexer state, the server's version (for versioned comments) and the user
// variables that hold a saved sql_mode or client character set.
type lexSession struct {
	Lex     sqltext.LexState
	version int // as MYSQL_VERSION_ID; 0: sqltext.DefaultServerVersion
	saved   map[string]savedVar
}

// savedVar is the value of a user variable as far as the lexer cares.
type savedVar struct {
	kind      uint8 // savedMode, savedCharset or savedText
	nbe, ansi bool
	cs        sqltext.CharsetKind
	text      string
}

const (
	savedMode uint8 = iota + 1
	savedCharset
	savedText
)

// ReadSession reads the state a restore's session starts in (the
// server's global sql_mode, the connection's character set).
func ReadSession(ctx context.Context, c *sql.Conn) (lexSession, error) {
	var mode, cs, version string
	if err := c.QueryRowContext(ctx, "SELECT @@session.sql_mode, @@session.character_set_client, VERSION()").Scan(&mode, &cs, &version); err != nil {
		return lexSession{}, fmt.Errorf("read the session's sql_mode and character set: %w", err)
	}
	nbe, ansi, err := sqltext.ParseSQLMode(mode)
	if err != nil {
		return lexSession{}, fmt.Errorf("the session's %w: %w", err, ErrRefused)
	}
	k, ok := sqltext.Charsets[strings.ToLower(cs)]
	if !ok {
		return lexSession{}, fmt.Errorf("the session's character set %s is not one the restore's lexer models: %w", cs, ErrRefused)
	}
	return lexSession{Lex: sqltext.LexState{NoBackslash: nbe, AnsiQuotes: ansi, Charset: k}, version: versionID(version)}, nil
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
func (s *lexSession) tokenize(sqlText string) ([]sqltext.Token, error) {
	v := s.version
	if v == 0 {
		v = sqltext.DefaultServerVersion
	}
	return sqltext.TokenizeVersion(sqlText, s.Lex, v)
}

// NewGuard returns the guard of a restore with this mapping (SRC → DST;
// empty: the stream's own databases) onto a server holding existing.
func NewGuard(mapping map[string]string, existing []string) *Guard {
	g := &Guard{targets: map[string]bool{}, open: len(mapping) == 0, others: map[string]bool{}}
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

// Check decides on one statement (after renaming). For a CREATE
// DATABASE it returns the database's name.
func (g *Guard) Check(sqlText string) (createDB string, err error) {
	if strings.HasPrefix(sqlText, `\`) {
		return "", refuse("a client command")
	}
	if sqltext.IsInsert(sqlText) {
		return "", g.checkInsert(sqlText)
	}
	toks, err := g.Sess.tokenize(sqlText)
	if err != nil {
		return "", refuse("unreadable statement: %v", err)
	}
	if len(toks) == 0 {
		return "", nil // only comments
	}
	if toks[0].Is("CREATE") && len(toks) > 1 && toks[1].Is("DATABASE", "SCHEMA") {
		return g.createDatabase(toks[2:])
	}
	return "", g.checkStatement(toks)
}

func (g *Guard) checkStatement(toks []sqltext.Token) error {
	switch {
	case toks[0].Is("SET"):
		return g.Sess.checkSet(toks[1:])
	case toks[0].Is("USE"):
		if len(toks) != 2 || !sqltext.IsName(toks[1]) {
			return refuse("USE: expected one database name")
		}
		return g.database(toks[1].Text)
	case toks[0].Is("ALTER") && len(toks) > 1 && toks[1].Is("DATABASE", "SCHEMA"):
		return checkDatabaseOptions(toks[2:], "ALTER DATABASE")
	case toks[0].Is("DROP"):
		return g.checkDrop(toks[1:])
	case toks[0].Is("CREATE"):
		return g.checkCreate(toks)
	case toks[0].Is("DO") && len(toks) > 1 && toks[1].Is("SETVAL"):
		return g.checkSetval(toks[2:])
	case toks[0].Is("EXECUTE") && len(toks) > 1 && toks[1].Is("IMMEDIATE"):
		return g.checkExecute(toks[2:])
	}
	return refuse("%s is not a statement ops writes", strings.ToUpper(toks[0].Text))
}

// database checks a database that a statement names.
func (g *Guard) database(name string) error {
	if conn.SystemDatabases[strings.ToLower(name)] {
		return refuse("the system database %s", sqltext.QuoteIdent(name))
	}
	if !g.targets[name] {
		return refuse("database %s is outside the restore", sqltext.QuoteIdent(name))
	}
	return nil
}

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
func (s *lexSession) checkSet(toks []sqltext.Token) error {
	if len(toks) >= 2 && (toks[0].Is("NAMES", "CHARSET") || (toks[0].Is("CHARACTER") && toks[1].Is("SET"))) {
		v := toks[1:]
		if toks[0].Is("CHARACTER") {
			v = toks[2:]
		}
		if len(v) >= 1 && (v[0].Kind == sqltext.TWord || v[0].Kind == sqltext.TString) && (len(v) == 1 || (len(v) == 3 && toks[0].Is("NAMES") && v[1].Is("COLLATE"))) {
			cs, err := s.charsetValue(v[0])
			if err != nil {
				return err
			}
			s.Lex.Charset = cs
			return nil
		}
		return refuse("SET %s: expected a character set name", strings.ToUpper(toks[0].Text))
	}
	var apply []func()
	for len(toks) > 0 {
		t := toks[0]
		name := ""
		switch {
		case t.Kind == sqltext.TVar:
		case t.Kind == sqltext.TSysVar:
			name = strings.ToLower(t.Text)
			name = strings.TrimPrefix(name, "session.")
			if !sessionVars[name] {
				return refuse("SET of @@%s", t.Text)
			}
		case t.Kind == sqltext.TWord && t.Is("SESSION") && len(toks) > 1:
			toks = toks[1:]
			continue
		case t.Kind == sqltext.TWord && sessionVars[strings.ToLower(t.Text)]:
			name = strings.ToLower(t.Text)
		default:
			return refuse("SET of %s", t.Text)
		}
		if len(toks) < 3 || (toks[1].Text != "=" && toks[1].Text != ":=") {
			return refuse("SET: expected NAME = VALUE")
		}
		v := toks[2]
		if v.Kind == sqltext.TSysVar {
			if strings.HasPrefix(strings.ToLower(v.Text), "global.") {
				return refuse("SET from a global variable")
			}
		} else if v.Kind == sqltext.TOp || (v.Kind == sqltext.TWord && len(toks) > 3 && toks[3].Text == "(") {
			return refuse("SET to an expression")
		}
		f, err := s.assignment(t, name, v)
		if err != nil {
			return err
		}
		apply = append(apply, f)
		toks = toks[3:]
		if len(toks) > 0 {
			if toks[0].Text != "," {
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
func (s *lexSession) assignment(t sqltext.Token, name string, v sqltext.Token) (func(), error) {
	sysName := ""
	if v.Kind == sqltext.TSysVar {
		sysName = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(v.Text), "session."), "local.")
	}
	switch {
	case name == "": // a user variable: remember what it holds
		key := strings.ToLower(t.Text)
		var sv savedVar
		switch {
		case sysName == "sql_mode":
			sv = savedVar{kind: savedMode, nbe: s.Lex.NoBackslash, ansi: s.Lex.AnsiQuotes}
		case sysName == "character_set_client":
			sv = savedVar{kind: savedCharset, cs: s.Lex.Charset}
		case v.Kind == sqltext.TString || v.Kind == sqltext.TNumber || (v.Kind == sqltext.TWord && !v.Is("DEFAULT", "NULL")):
			sv = savedVar{kind: savedText, text: v.Text}
		case v.Kind == sqltext.TVar:
			sv = s.saved[strings.ToLower(v.Text)]
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
		nbe, ansi := s.Lex.NoBackslash, s.Lex.AnsiQuotes
		var err error
		switch {
		case sysName == "sql_mode":
		case v.Kind == sqltext.TString || v.Kind == sqltext.TNumber || (v.Kind == sqltext.TWord && !v.Is("DEFAULT")):
			nbe, ansi, err = sqltext.ParseSQLMode(v.Text)
		case v.Kind == sqltext.TVar:
			sv := s.saved[strings.ToLower(v.Text)]
			switch sv.kind {
			case savedMode:
				nbe, ansi = sv.nbe, sv.ansi
			case savedText:
				nbe, ansi, err = sqltext.ParseSQLMode(sv.text)
			default:
				err = fmt.Errorf("@%s does not hold a sql_mode this restore knows", v.Text)
			}
		default:
			err = fmt.Errorf("a value this restore cannot know")
		}
		if err != nil {
			return nil, refuse("SET sql_mode: %v", err)
		}
		return func() { s.Lex.NoBackslash, s.Lex.AnsiQuotes = nbe, ansi }, nil
	case name == "character_set_client":
		cs := s.Lex.Charset
		var err error
		switch {
		case sysName == "character_set_client":
		case v.Kind == sqltext.TVar:
			sv := s.saved[strings.ToLower(v.Text)]
			switch sv.kind {
			case savedCharset:
				cs = sv.cs
			case savedText:
				cs, err = s.charsetValue(sqltext.Token{Kind: sqltext.TString, Text: sv.text})
			default:
				err = refuse("SET character_set_client: @%s does not hold a character set this restore knows", v.Text)
			}
		default:
			cs, err = s.charsetValue(v)
		}
		if err != nil {
			return nil, err
		}
		return func() { s.Lex.Charset = cs }, nil
	}
	return func() {}, nil
}

// charsetValue is the kind of the client character set named by v.
func (s *lexSession) charsetValue(v sqltext.Token) (sqltext.CharsetKind, error) {
	if v.Kind != sqltext.TString && v.Kind != sqltext.TWord && v.Kind != sqltext.TIdent || v.Is("DEFAULT") {
		return 0, refuse("a client character set this restore cannot know (%s)", sqltext.CommentText(v.Text))
	}
	cs, ok := sqltext.Charsets[strings.ToLower(v.Text)]
	if !ok {
		return 0, refuse("the client character set %s is not one the restore's lexer models", sqltext.CommentText(sqltext.QuoteString(v.Text)))
	}
	return cs, nil
}

func (g *Guard) createDatabase(toks []sqltext.Token) (string, error) {
	if len(toks) >= 3 && toks[0].Is("IF") && toks[1].Is("NOT") && toks[2].Is("EXISTS") {
		toks = toks[3:]
	}
	if len(toks) == 0 || !sqltext.IsName(toks[0]) {
		return "", refuse("CREATE DATABASE: expected a name")
	}
	name := toks[0].Text
	if conn.SystemDatabases[strings.ToLower(name)] {
		return "", refuse("the system database %s", sqltext.QuoteIdent(name))
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
func checkDatabaseOptions(toks []sqltext.Token, what string) error {
	for _, t := range toks {
		if t.Kind == sqltext.TString || t.Text == "=" || t.Is("DEFAULT", "CHARACTER", "SET", "CHARSET", "COLLATE", "COMMENT") {
			continue
		}
		if t.Kind == sqltext.TWord && !t.Is("DATA", "DIRECTORY", "INDEX", "ENGINE") {
			continue // a character set or collation name
		}
		return refuse("%s: unexpected %q", what, t.Text)
	}
	return nil
}

var droppable = []string{"TABLE", "VIEW", "SEQUENCE", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"}

func (g *Guard) checkDrop(toks []sqltext.Token) error {
	if len(toks) < 4 || !toks[0].Is(droppable...) || !toks[1].Is("IF") || !toks[2].Is("EXISTS") {
		return refuse("DROP: expected DROP {TABLE|VIEW|…} IF EXISTS name")
	}
	rest := toks[3:]
	if err := g.objectName(rest); err != nil {
		return err
	}
	if n := len(rest); n != 1 && !(n == 3 && rest[1].Text == ".") {
		return refuse("DROP: expected one name")
	}
	return nil
}

// objectName checks a possibly qualified object name at the start of toks.
func (g *Guard) objectName(toks []sqltext.Token) error {
	if len(toks) == 0 || !sqltext.IsName(toks[0]) {
		return refuse("expected an object name")
	}
	if len(toks) >= 2 && toks[1].Kind == sqltext.TOp && toks[1].Text == "." {
		if len(toks) < 3 || !sqltext.IsName(toks[2]) {
			return refuse("expected a name after %s.", sqltext.QuoteIdent(toks[0].Text))
		}
		return g.database(toks[0].Text)
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
func (g *Guard) checkBody(toks []sqltext.Token) error {
	for i, t := range toks {
		if t.Kind == sqltext.TSysVar && strings.HasPrefix(strings.ToLower(t.Text), "global.") {
			return refuse("a global variable (@@%s)", t.Text)
		}
		if t.Kind != sqltext.TWord && t.Kind != sqltext.TIdent {
			continue
		}
		if t.Kind == sqltext.TWord {
			for _, seq := range forbidden {
				if MatchWords(toks[i:], seq) {
					return refuse("%s", strings.Join(seq, " "))
				}
			}
			if t.Is("ENGINE") && i+1 < len(toks) {
				e := toks[i+1]
				if e.Text == "=" && i+2 < len(toks) {
					e = toks[i+2]
				}
				if unsafeEngines[strings.ToLower(e.Text)] {
					return refuse("ENGINE=%s", e.Text)
				}
			}
		}
		// db.x: a qualifier that is a system database or another database
		// of the server (a table or alias qualifier is neither).
		if i+1 < len(toks) && toks[i+1].Kind == sqltext.TOp && toks[i+1].Text == "." && (i == 0 || toks[i-1].Text != ".") {
			if l := strings.ToLower(t.Text); conn.SystemDatabases[l] || g.others[l] {
				return refuse("database %s is outside the restore", sqltext.QuoteIdent(t.Text))
			}
		}
	}
	return nil
}

func MatchWords(toks []sqltext.Token, seq []string) bool {
	if len(toks) < len(seq) {
		return false
	}
	for j, w := range seq {
		if !toks[j].Is(w) {
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

func (g *Guard) checkCreate(toks []sqltext.Token) error {
	i := 1
	for ; i < len(toks) && !toks[i].Is(creatable...); i++ {
		t := toks[i]
		if t.Is("TEMPORARY", "USER", "ROLE", "SERVER", "FUNCTION_SONAME", "DATABASE", "SCHEMA") {
			return refuse("CREATE %s", strings.ToUpper(t.Text))
		}
		if t.Is(preambleOK...) || t.Kind == sqltext.TString || t.Kind == sqltext.TIdent || t.Kind == sqltext.TVar || t.Text == "=" || t.Text == "@" || t.Text == "(" || t.Text == ")" {
			continue // DEFINER=`u`@`h`, ALGORITHM=…
		}
		if t.Kind == sqltext.TWord && i > 1 && (toks[i-1].Text == "@" || toks[i-1].Text == "=") {
			continue // DEFINER=user@host without quotes
		}
		return refuse("CREATE: unexpected %q", t.Text)
	}
	if i >= len(toks) {
		return refuse("CREATE of something ops does not write")
	}
	if toks[i].Is("FUNCTION") && i+1 < len(toks) && toks[i+1].Is("SONAME") {
		return refuse("CREATE FUNCTION … SONAME")
	}
	rest := toks[i+1:]
	if len(rest) > 0 && rest[0].Is("IF") {
		rest = rest[min(3, len(rest)):]
	}
	if err := g.objectName(rest); err != nil {
		return err
	}
	return g.checkBody(toks)
}

func (g *Guard) checkSetval(toks []sqltext.Token) error {
	// SETVAL ( name , number , number )
	if len(toks) < 6 || toks[0].Text != "(" || toks[len(toks)-1].Text != ")" {
		return refuse("DO SETVAL: expected SETVAL(name, value, 0)")
	}
	if err := g.objectName(toks[1:]); err != nil {
		return err
	}
	for _, t := range toks[2 : len(toks)-1] {
		if t.Kind != sqltext.TNumber && t.Text != "," && t.Text != "." && t.Text != "-" && !sqltext.IsName(t) {
			return refuse("DO SETVAL: unexpected %q", t.Text)
		}
	}
	return nil
}

// checkExecute accepts EXECUTE IMMEDIATE of a literal holding the CREATE
// of a stored program (written so because the body has comments), and
// checks that CREATE like any other.
func (g *Guard) checkExecute(toks []sqltext.Token) error {
	if len(toks) > 0 && toks[0].Kind == sqltext.TWord && strings.HasPrefix(toks[0].Text, "_") {
		// _utf8mb4 introducer: the server converts the text from that set
		// to the client's before it reads it, which may add or remove a
		// trail byte 0x5C; the lexer reads the bytes as they are, so the
		// set must be the client's (as ops writes it) unless neither is
		// multi-byte (then ASCII bytes stay as they are)
		intro, ok := sqltext.Charsets[strings.ToLower(toks[0].Text[1:])]
		if !ok || (intro != g.Sess.Lex.Charset && (intro.MultiByte() || g.Sess.Lex.Charset.MultiByte())) {
			return refuse("EXECUTE IMMEDIATE of a literal in another character set (%s)", toks[0].Text)
		}
		toks = toks[1:]
	}
	if len(toks) != 1 {
		return refuse("EXECUTE IMMEDIATE: expected one literal")
	}
	body := toks[0].Text
	switch {
	case toks[0].Kind == sqltext.TString:
	case toks[0].Kind == sqltext.TNumber && (strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X")):
		b, err := hex.DecodeString(body[2:])
		if err != nil {
			return refuse("EXECUTE IMMEDIATE: bad hex literal")
		}
		body = string(b)
	default:
		return refuse("EXECUTE IMMEDIATE: expected a literal")
	}
	inner, err := g.Sess.tokenize(body)
	if err != nil || len(inner) < 2 || !inner[0].Is("CREATE") {
		return refuse("EXECUTE IMMEDIATE of something other than a CREATE")
	}
	return g.checkCreate(inner)
}

// checkInsert accepts INSERT INTO name [(columns)] VALUES (literals), …
// The rows are scanned byte by byte: outside string literals only numbers,
// hex, NULL, signs, commas and parentheses may appear, so no subquery,
// function or variable can read anything while the rows load.
func (g *Guard) checkInsert(s string) error {
	v, err := g.CheckInsertHead(s)
	if err != nil {
		return err
	}
	return CheckRows(s[v+len("VALUES"):], g.Sess.Lex)
}

// CheckInsertHead checks an INSERT up to its VALUES (whose position it
// returns): the rows are for CheckRows.
func (g *Guard) CheckInsertHead(s string) (int, error) {
	v := sqltext.ValuesKeyword(s, g.Sess.Lex)
	if v < 0 {
		return 0, refuse("INSERT: expected INSERT INTO name (columns) VALUES …")
	}
	head, err := g.Sess.tokenize(s[len("INSERT INTO "):v])
	if err != nil {
		return 0, refuse("INSERT: %v", err)
	}
	if err := g.objectName(head); err != nil {
		return 0, err
	}
	for _, t := range head[1:] {
		if !(sqltext.IsName(t) || t.Text == "," || t.Text == "(" || t.Text == ")" || t.Text == ".") {
			return 0, refuse("INSERT: unexpected %q before VALUES", t.Text)
		}
	}
	return v, nil
}

// CheckRows checks the rows of an INSERT read in a session in state l:
// only literals (see sqltext.LiteralRows).
func CheckRows(s string, l sqltext.LexState) error {
	if err := sqltext.LiteralRows(s, l); err != nil {
		return refuse("INSERT: %v", err)
	}
	return nil
}
