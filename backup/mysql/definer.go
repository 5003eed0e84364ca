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
	if body, intro, ok := executeImmediateBody(stmt); ok {
		out, err := r.rewrite(body, db)
		if err != nil || out == body {
			return stmt, err
		}
		return "EXECUTE IMMEDIATE " + intro + "0x" + strings.ToUpper(hex.EncodeToString([]byte(out))), nil
	}
	h, err := readCreateHead(stmt)
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
func executeImmediateBody(stmt string) (body, intro string, ok bool) {
	toks, err := tokenize(stmt)
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

type headTok struct {
	kind       byte // 'w' word, 'i' `ident`, 's' 'string', 'o' operator, 0 end
	text       string
	start, end int
}

// headLexer reads the head of a CREATE (see the rule above).
type headLexer struct {
	s         string
	p         int
	versioned bool
}

func (l *headLexer) next() (headTok, error) {
	s := l.s
	for l.p < len(s) {
		c := s[l.p]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.p++
		case c == '#' || (c == '-' && strings.HasPrefix(s[l.p:], "--") && (l.p+2 == len(s) || s[l.p+2] <= ' ')):
			if nl := strings.IndexByte(s[l.p:], '\n'); nl >= 0 {
				l.p += nl + 1
			} else {
				l.p = len(s)
			}
		case strings.HasPrefix(s[l.p:], "/*M!"):
			return headTok{}, fmt.Errorf("a /*M! comment in the head of a CREATE")
		case strings.HasPrefix(s[l.p:], "/*!"):
			if l.versioned {
				return headTok{}, fmt.Errorf("nested versioned comment")
			}
			q := l.p + 3
			for q < len(s) && s[q] >= '0' && s[q] <= '9' {
				q++
			}
			if d := s[l.p+3 : q]; d != "" {
				v, err := strconv.Atoi(d)
				if err != nil || len(d) != 5 || v >= 80000 {
					return headTok{}, fmt.Errorf("versioned comment /*!%s in the head of a CREATE", d)
				}
			}
			l.p, l.versioned = q, true
		case strings.HasPrefix(s[l.p:], "*/") && l.versioned:
			l.p += 2
			l.versioned = false
		case strings.HasPrefix(s[l.p:], "/*"):
			end := strings.Index(s[l.p+2:], "*/")
			if end < 0 {
				return headTok{}, fmt.Errorf("unterminated comment")
			}
			l.p += end + 4
		case c == '`' || c == '\'':
			start := l.p
			var b strings.Builder
			for q := l.p + 1; q < len(s); q++ {
				if s[q] == '\\' && c == '\'' {
					// In a string a backslash escapes or not by sql_mode;
					// in a `name` it is a plain byte.
					return headTok{}, fmt.Errorf("a backslash in a string in the head of a CREATE")
				}
				if s[q] == c {
					if q+1 < len(s) && s[q+1] == c {
						b.WriteByte(c)
						q++
						continue
					}
					l.p = q + 1
					kind := byte('i')
					if c == '\'' {
						kind = 's'
					}
					return headTok{kind: kind, text: b.String(), start: start, end: l.p}, nil
				}
				b.WriteByte(s[q])
			}
			return headTok{}, fmt.Errorf("unterminated quote")
		case c == '"':
			return headTok{}, fmt.Errorf("a double quote in the head of a CREATE")
		case c == '\\':
			return headTok{}, fmt.Errorf("a backslash in the head of a CREATE")
		case isWordByte(c):
			start := l.p
			for l.p < len(s) && isWordByte(s[l.p]) {
				l.p++
			}
			return headTok{kind: 'w', text: s[start:l.p], start: start, end: l.p}, nil
		default:
			l.p++
			return headTok{kind: 'o', text: s[l.p-1 : l.p], start: l.p - 1, end: l.p}, nil
		}
	}
	return headTok{start: len(s), end: len(s)}, nil
}

// hostPart reads an unquoted host after @ (letters, digits, . % - _).
func (l *headLexer) hostPart() headTok {
	start := l.p
	for l.p < len(l.s) && (isWordByte(l.s[l.p]) || strings.IndexByte(".%-", l.s[l.p]) >= 0) {
		l.p++
	}
	return headTok{kind: 'w', text: l.s[start:l.p], start: start, end: l.p}
}

func isWord(t headTok, words ...string) bool {
	if t.kind != 'w' {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.text, w) {
			return true
		}
	}
	return false
}

// readCreateHead reads a CREATE statement's head. It returns nil for a
// statement that is not a CREATE, or a CREATE of something without a
// definer (a table, a sequence, a database…), and an error for a head it
// cannot read with certainty.
func readCreateHead(stmt string) (*createHead, error) {
	l := &headLexer{s: stmt}
	t, err := l.next()
	if err != nil || !isWord(t, "CREATE") {
		return nil, nil //nolint:nilerr // not a CREATE: the guard decides
	}
	h := &createHead{}
	for {
		if t, err = l.next(); err != nil {
			return nil, err
		}
		switch {
		case isWord(t, "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"):
			h.kind = strings.ToUpper(t.text)
		case isWord(t, "OR", "REPLACE", "AGGREGATE"):
			continue
		case isWord(t, "ALGORITHM"):
			if eq, _ := l.next(); eq.text != "=" {
				return nil, fmt.Errorf("CREATE: ALGORITHM without =")
			}
			if w, _ := l.next(); w.kind != 'w' {
				return nil, fmt.Errorf("CREATE: ALGORITHM = what?")
			}
			continue
		case isWord(t, "SQL"):
			if w, _ := l.next(); !isWord(w, "SECURITY") {
				return nil, fmt.Errorf("CREATE: SQL without SECURITY")
			}
			if w, _ := l.next(); !isWord(w, "DEFINER", "INVOKER") {
				return nil, fmt.Errorf("CREATE: SQL SECURITY what?")
			}
			continue
		case isWord(t, "DEFINER"):
			d, err := l.definer(t.start)
			if err != nil {
				return nil, err
			}
			h.definers = append(h.definers, d)
			continue
		case t.kind == 'w' && len(h.definers) == 0:
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
	if isWord(t, "IF") {
		for _, w := range []string{"NOT", "EXISTS"} {
			if x, err := l.next(); err != nil || !isWord(x, w) {
				return nil, fmt.Errorf("CREATE %s: IF without NOT EXISTS", h.kind)
			}
		}
		if t, err = l.next(); err != nil {
			return nil, err
		}
	}
	if t.kind != 'w' && t.kind != 'i' {
		return nil, fmt.Errorf("CREATE %s: expected a name", h.kind)
	}
	h.name = t.text
	save := l.p
	if dot, err := l.next(); err == nil && dot.text == "." {
		n, err := l.next()
		if err != nil || (n.kind != 'w' && n.kind != 'i') {
			return nil, fmt.Errorf("CREATE %s: expected a name after the dot", h.kind)
		}
		h.db, h.name = h.name, n.text
	} else {
		l.p = save
	}
	if h.kind == "EVENT" {
		return h, l.eventStatus(h)
	}
	return h, nil
}

// definer reads "= user[@host]" or "= CURRENT_USER[()]" after DEFINER.
func (l *headLexer) definer(start int) (definerClause, error) {
	d := definerClause{start: start}
	if eq, err := l.next(); err != nil || eq.text != "=" {
		return d, fmt.Errorf("CREATE: DEFINER without =")
	}
	u, err := l.next()
	if err != nil {
		return d, err
	}
	switch {
	case isWord(u, "CURRENT_USER"):
		d.current, d.end = true, u.end
		save := l.p
		if p, err := l.next(); err == nil && p.text == "(" {
			if q, err := l.next(); err != nil || q.text != ")" {
				return d, fmt.Errorf("CREATE: DEFINER=CURRENT_USER( without )")
			}
			d.end = l.p
		} else {
			l.p = save
		}
		return d, nil
	case u.kind == 'w' || u.kind == 'i' || u.kind == 's':
		d.user, d.end = u.text, u.end
	default:
		return d, fmt.Errorf("CREATE: DEFINER = what?")
	}
	if l.p < len(l.s) && l.s[l.p] == '@' {
		l.p++
		var h headTok
		if l.p < len(l.s) && (l.s[l.p] == '`' || l.s[l.p] == '\'') {
			if h, err = l.next(); err != nil {
				return d, err
			}
		} else {
			h = l.hostPart()
		}
		if h.end == h.start {
			return d, fmt.Errorf("CREATE: DEFINER user@ without a host")
		}
		d.host, d.end = h.text, h.end
	} else {
		d.host = "%"
	}
	return d, nil
}

// eventStatus finds an event's ENABLE / DISABLE clause, or where one may
// go (before COMMENT or DO).
func (l *headLexer) eventStatus(h *createHead) error {
	for {
		t, err := l.next()
		if err != nil {
			return fmt.Errorf("CREATE EVENT: %w", err)
		}
		switch {
		case t.kind == 0:
			return fmt.Errorf("CREATE EVENT without DO")
		case isWord(t, "ENABLE"):
			h.enable = [2]int{t.start, t.end}
		case isWord(t, "DISABLE"):
			h.disabled = true
		case isWord(t, "COMMENT", "DO"):
			h.statusAt = t.start
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
		h, err := readCreateHead(create)
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
