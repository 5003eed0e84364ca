package mysql

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The DEFINER rule: code stored in a backup never runs with more rights
// than the account that restores it, unless the backup's authenticated
// manifest vouches for it.
//
// A view, routine, trigger or event keeps the DEFINER clause of its CREATE
// only when RestoreOptions.TrustedObjects (the objects an authenticated
// manifest lists, as the dump recorded them: kind, database, name,
// definer) holds that object with that same definer. Otherwise each
// DEFINER clause of the statement's head (also inside /*!NNNNN … */
// comments, and inside the literal of an EXECUTE IMMEDIATE) becomes
// DEFINER=CURRENT_USER: the object runs as the restore account. An event
// is created DISABLED (an ENABLE becomes DISABLE, a CREATE EVENT without
// either gets DISABLE) unless the trusted list holds it as enabled; DISABLE
// ON SLAVE is kept. The rewrite runs on the statement text before the guard
// checks it, so the guard checks exactly what is sent.
//
// The head of a CREATE (up to the object's name, and for an event up to
// its DO) is read strictly: a double-quoted string, a backslash outside a
// `name`, or a
// versioned comment other than /*! or /*!NNNNN with NNNNN below 80000
// there is refused, since the server's reading of those depends on the
// session (sql_mode, character set, version) and a misreading could hide a
// DEFINER clause.

// StoredObject is a view, routine, trigger or event as a dump wrote it.
type StoredObject struct {
	Kind     string `json:"kind"` // VIEW, PROCEDURE, FUNCTION, TRIGGER, EVENT
	Database string `json:"database"`
	Name     string `json:"name"`
	// Definer is `user`@`host` (quoted as QuoteIdent does), or "" when the
	// CREATE has no DEFINER clause.
	Definer string `json:"definer,omitempty"`
	// Enabled is set for an event created ENABLE.
	Enabled bool `json:"enabled,omitempty"`
}

func objectKey(kind, db, name string) string {
	return strings.ToUpper(kind) + "\x00" + db + "\x00" + name
}

// definerRule rewrites the DEFINER clauses and event states of a stream's
// CREATE statements (see above).
type definerRule struct {
	trusted map[string]StoredObject
	// Counts, for the log (read after the parse ended).
	definers, disabled int
}

func newDefinerRule(list []StoredObject) *definerRule {
	r := &definerRule{trusted: map[string]StoredObject{}}
	for _, o := range list {
		r.trusted[objectKey(o.Kind, o.Database, o.Name)] = o
	}
	return r
}

// rewrite applies the rule to one statement; db is the database of the
// stream the statement runs in (its name in the dump).
func (r *definerRule) rewrite(stmt, db string) (string, error) {
	return r.rewriteIn(stmt, db, lexState{})
}

// rewriteIn is rewrite of a statement read in a session in state l.
func (r *definerRule) rewriteIn(stmt, db string, l lexState) (string, error) {
	if body, intro, ok := executeImmediateBody(stmt, l); ok {
		out, err := r.rewriteIn(body, db, l)
		if err != nil || out == body {
			return stmt, err
		}
		return "EXECUTE IMMEDIATE " + intro + "0x" + strings.ToUpper(hex.EncodeToString([]byte(out))), nil
	}
	h, err := readCreateHead(stmt, l)
	if err != nil {
		return "", refuse("%v", err)
	}
	if h == nil {
		return stmt, nil
	}
	odb := db
	if h.db != "" {
		odb = h.db
	}
	t, listed := r.trusted[objectKey(h.kind, odb, h.name)]
	keep := listed && t.Definer == h.definer()
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	if !keep {
		for _, d := range h.definers {
			if !d.current {
				edits = append(edits, edit{d.start, d.end, "DEFINER=CURRENT_USER"})
			}
		}
		if len(edits) > 0 {
			r.definers++
		}
	}
	if h.kind == "EVENT" && !(keep && t.Enabled) {
		switch {
		case h.enable[1] > 0:
			edits = append(edits, edit{h.enable[0], h.enable[1], "DISABLE"})
			r.disabled++
		case !h.disabled:
			edits = append(edits, edit{h.statusAt, h.statusAt, "DISABLE "})
			r.disabled++
		}
	}
	if len(edits) == 0 {
		return stmt, nil
	}
	// Edits are in the order of the text (definers come before the
	// event's status).
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(stmt[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(stmt[last:])
	return b.String(), nil
}

// executeImmediateBody returns the statement an EXECUTE IMMEDIATE of one
// literal runs, and the literal's character set introducer (with its
// trailing space), as the guard reads them.
func executeImmediateBody(stmt string, l lexState) (body, intro string, ok bool) {
	toks, err := tokenizeIn(stmt, l)
	if err != nil || len(toks) < 3 || !toks[0].is("EXECUTE") || !toks[1].is("IMMEDIATE") {
		return "", "", false
	}
	toks = toks[2:]
	if len(toks) > 0 && toks[0].kind == tWord && strings.HasPrefix(toks[0].text, "_") {
		intro = toks[0].text + " "
		toks = toks[1:]
	}
	if len(toks) != 1 {
		return "", "", false
	}
	body = toks[0].text
	switch {
	case toks[0].kind == tString:
	case toks[0].kind == tNumber && (strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X")):
		b, err := hex.DecodeString(body[2:])
		if err != nil {
			return "", "", false
		}
		body = string(b)
	default:
		return "", "", false
	}
	return body, intro, true
}

// definerClause is one DEFINER = user clause of a CREATE's head.
type definerClause struct {
	start, end int // the clause's bytes, from DEFINER to the end of the user
	user, host string
	current    bool // CURRENT_USER
}

// createHead is what readCreateHead found in a CREATE of a view, routine,
// trigger or event.
type createHead struct {
	kind     string
	db, name string
	definers []definerClause
	// Events: the ENABLE keyword's bytes (zero when absent), whether a
	// DISABLE clause is there, and where a status clause may be inserted
	// (before COMMENT or DO).
	enable   [2]int
	disabled bool
	statusAt int
}

// definer is the object's effective definer as the manifest records it:
// the last DEFINER clause (`user`@`host`, or CURRENT_USER), "" without one.
func (h *createHead) definer() string {
	if len(h.definers) == 0 {
		return ""
	}
	d := h.definers[len(h.definers)-1]
	if d.current {
		return "CURRENT_USER"
	}
	return QuoteIdent(d.user) + "@" + QuoteIdent(d.host)
}

// headReader reads the head of a CREATE with the lexer's tokens (see the
// rule above), one token at a time: the body after the head is never read
// (its reading depends on the session; the guard reads it).
type headReader struct {
	x *scanner
	s string
}

// next returns the next token of the head, the zero token (kind tOp, no
// text, at the end of the statement) when it ends, or an error for a
// token or comment whose reading would depend on the session.
func (r *headReader) next() (token, error) {
	for {
		t, ok, err := r.x.next()
		if err != nil {
			return token{}, err
		}
		if !ok {
			return token{kind: tOp, off: len(r.s), end: len(r.s)}, nil
		}
		if err := headRule(t, r.s); err != nil {
			return token{}, err
		}
		if t.kind != tComment && t.kind != tCode {
			return t, nil
		}
	}
}

// headRule refuses, in the head of a CREATE, what the server reads by the
// session: a /*M! comment or a versioned comment other than /*! or
// /*!NNNNN below 80000 (the version), a double quote (sql_mode) and a
// backslash outside a `name` (sql_mode, character set).
func headRule(t token, s string) error {
	raw := s[t.off:t.end]
	switch {
	case strings.HasPrefix(raw, "/*M!"):
		return fmt.Errorf("a /*M! comment in the head of a CREATE")
	case strings.HasPrefix(raw, "/*!"):
		d := s[t.off+3:]
		d = d[:len(d)-len(strings.TrimLeft(d, "0123456789"))]
		if v, err := strconv.Atoi(d); d != "" && (err != nil || len(d) != 5 || v >= 80000) {
			return fmt.Errorf("versioned comment /*!%s in the head of a CREATE", d)
		}
	case t.kind == tComment || t.kind == tCode:
	case strings.IndexByte(raw, '"') >= 0:
		return fmt.Errorf("a double quote in the head of a CREATE")
	case t.kind == tString && strings.IndexByte(raw, '\\') >= 0:
		// In a string a backslash escapes or not by sql_mode; in a `name`
		// it is a plain byte.
		return fmt.Errorf("a backslash in a string in the head of a CREATE")
	case t.kind != tIdent && strings.IndexByte(raw, '\\') >= 0:
		return fmt.Errorf("a backslash in the head of a CREATE")
	}
	return nil
}

// isHeadWord reports a bare word of the head (a keyword or a name, which
// may start with a digit).
func isHeadWord(t token) bool {
	return t.kind == tWord || (t.kind == tNumber && strings.IndexFunc(t.text, func(r rune) bool { return r < 0x80 && !isWordByte(byte(r)) }) < 0)
}

func isHeadName(t token) bool { return isHeadWord(t) || t.kind == tIdent }

// notHostByte is a byte that cannot be part of an unquoted host.
func notHostByte(r rune) bool {
	return r < 0x80 && !isWordByte(byte(r)) && !strings.ContainsRune(".%-", r)
}

func isOp(t token, op string) bool { return t.kind == tOp && t.text == op }

// readCreateHead reads a CREATE statement's head in a session in state ls
// (the head's rules make its reading independent of sql_mode and of the
// version; the character set decides which bytes end a `name`). It returns nil for a
// statement that is not a CREATE, or a CREATE of something without a
// definer (a table, a sequence, a database…), and an error for a head it
// cannot read with certainty.
func readCreateHead(stmt string, ls lexState) (*createHead, error) {
	l := &headReader{x: newScanner(stmt, ls, defaultServerVersion, true), s: stmt}
	t, err := l.next()
	if err != nil || !t.is("CREATE") {
		return nil, nil //nolint:nilerr // not a CREATE: the guard decides
	}
	h := &createHead{}
	for {
		if t, err = l.next(); err != nil {
			return nil, err
		}
		switch {
		case t.is("VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"):
			h.kind = strings.ToUpper(t.text)
		case t.is("OR", "REPLACE", "AGGREGATE"):
			continue
		case t.is("ALGORITHM"):
			if eq, _ := l.next(); !isOp(eq, "=") {
				return nil, fmt.Errorf("CREATE: ALGORITHM without =")
			}
			if w, _ := l.next(); !isHeadWord(w) {
				return nil, fmt.Errorf("CREATE: ALGORITHM = what?")
			}
			continue
		case t.is("SQL"):
			if w, _ := l.next(); !w.is("SECURITY") {
				return nil, fmt.Errorf("CREATE: SQL without SECURITY")
			}
			if w, _ := l.next(); !w.is("DEFINER", "INVOKER") {
				return nil, fmt.Errorf("CREATE: SQL SECURITY what?")
			}
			continue
		case t.is("DEFINER"):
			d, err := l.definer(t.off)
			if err != nil {
				return nil, err
			}
			h.definers = append(h.definers, d)
			continue
		case isHeadWord(t) && len(h.definers) == 0:
			return nil, nil // CREATE TABLE, DATABASE…: no definer; the guard decides
		default:
			return nil, fmt.Errorf("CREATE: unexpected %q before the object's kind", t.text)
		}
		break
	}
	// [IF NOT EXISTS] [db.]name
	t, err = l.next()
	if err != nil {
		return nil, err
	}
	if t.is("IF") {
		for _, w := range []string{"NOT", "EXISTS"} {
			if x, err := l.next(); err != nil || !x.is(w) {
				return nil, fmt.Errorf("CREATE %s: IF without NOT EXISTS", h.kind)
			}
		}
		if t, err = l.next(); err != nil {
			return nil, err
		}
	}
	if !isHeadName(t) {
		return nil, fmt.Errorf("CREATE %s: expected a name", h.kind)
	}
	h.name = t.text
	save := *l.x
	if dot, err := l.next(); err == nil && isOp(dot, ".") {
		n, err := l.next()
		if err != nil || !isHeadName(n) {
			return nil, fmt.Errorf("CREATE %s: expected a name after the dot", h.kind)
		}
		h.db, h.name = h.name, n.text
	} else {
		*l.x = save
	}
	if h.kind == "EVENT" {
		return h, l.eventStatus(h)
	}
	return h, nil
}

// definer reads "= user[@host]" or "= CURRENT_USER[()]" after DEFINER.
func (l *headReader) definer(start int) (definerClause, error) {
	d := definerClause{start: start}
	if eq, err := l.next(); err != nil || !isOp(eq, "=") {
		return d, fmt.Errorf("CREATE: DEFINER without =")
	}
	u, err := l.next()
	if err != nil {
		return d, err
	}
	switch {
	case u.is("CURRENT_USER"):
		d.current, d.end = true, u.end
		save := *l.x
		if p, err := l.next(); err == nil && isOp(p, "(") {
			q, err := l.next()
			if err != nil || !isOp(q, ")") {
				return d, fmt.Errorf("CREATE: DEFINER=CURRENT_USER( without )")
			}
			d.end = q.end
		} else {
			*l.x = save
		}
		return d, nil
	case isHeadWord(u) || u.kind == tIdent || u.kind == tString:
		d.user, d.end = u.text, u.end
	default:
		return d, fmt.Errorf("CREATE: DEFINER = what?")
	}
	d.host = "%"
	save := *l.x
	h, err := l.next()
	if err != nil || h.off != u.end || (h.kind != tVar && h.kind != tSysVar) {
		*l.x = save // no @host: the next token is the head's
		return d, nil
	}
	if h.kind == tSysVar || h.end == h.off+1 && !l.hostPart(&h) {
		return d, fmt.Errorf("CREATE: DEFINER user@ without a host")
	}
	if l.s[h.off:h.end] == "@"+h.text { // unquoted: a dot may stop it, not the host
		l.hostPart(&h)
	}
	d.host, d.end = h.text, h.end
	return d, nil
}

// hostPart extends the unquoted host of h (an @host token, which ends at
// a byte other than a word byte or a dot) with the tokens that follow it
// without a space and are made of host bytes (word bytes, . % -), and
// reports whether it did.
func (l *headReader) hostPart(h *token) bool {
	grew := false
	for {
		save := *l.x
		t, ok, err := l.x.next()
		raw := ""
		if ok && err == nil {
			raw = l.s[t.off:t.end]
		}
		if !ok || err != nil || t.off != h.end || raw == "" || strings.IndexFunc(raw, notHostByte) >= 0 {
			*l.x = save
			return grew
		}
		h.text += raw
		h.end, grew = t.end, true
	}
}

// eventStatus finds an event's ENABLE / DISABLE clause, or where one may
// go (before COMMENT or DO).
func (l *headReader) eventStatus(h *createHead) error {
	for {
		t, err := l.next()
		if err != nil {
			return fmt.Errorf("CREATE EVENT: %w", err)
		}
		switch {
		case t.off == len(l.s):
			return fmt.Errorf("CREATE EVENT without DO")
		case t.is("ENABLE"):
			h.enable = [2]int{t.off, t.end}
		case t.is("DISABLE"):
			h.disabled = true
		case t.is("COMMENT", "DO"):
			h.statusAt = t.off
			return nil
		}
	}
}

// storedObjects lists the views, routines, triggers and events of a dumped
// database with their definer and (events) state, read from the CREATE
// text the dump writes by the reading the restore applies. An object whose
// head cannot be read is left out (the restore then trusts it with nothing).
func storedObjects(m *dbMeta) []StoredObject {
	var out []StoredObject
	add := func(kind, name, create string) {
		h, err := readCreateHead(create, lexState{}) // SHOW CREATE's text: utf8mb4
		if err != nil || h == nil {
			return
		}
		o := StoredObject{Kind: kind, Database: m.Name, Name: name, Definer: h.definer()}
		if kind == "EVENT" {
			o.Enabled = h.enable[1] > 0
		}
		out = append(out, o)
	}
	for _, v := range m.Views {
		add("VIEW", v.Name, v.CreateSQL)
	}
	for _, list := range [][]*objDDL{m.Routines, m.Triggers, m.Events} {
		for _, o := range list {
			add(o.Kind, o.Name, o.Body)
		}
	}
	return out
}
