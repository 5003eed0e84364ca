package sqltext

import (
	"fmt"
	"strconv"
	"strings"
)

// definerClause is one DEFINER = user clause of a CREATE's head.
type definerClause struct {
	Start, End int // the clause's bytes, from DEFINER to the end of the user
	user, host string
	Current    bool // CURRENT_USER
}

// createHead is what ReadCreateHead found in a CREATE of a view, routine,
// trigger or event.
type createHead struct {
	Kind     string
	Db, Name string
	Definers []definerClause
	// Events: the ENABLE keyword's bytes (zero when absent), whether a
	// DISABLE clause is there, and where a status clause may be inserted
	// (before COMMENT or DO).
	Enable   [2]int
	Disabled bool
	StatusAt int
}

// Definer is the object's effective definer as the manifest records it:
// the last DEFINER clause (`user`@`host`, or CURRENT_USER), "" without one.
func (h *createHead) Definer() string {
	if len(h.Definers) == 0 {
		return ""
	}
	d := h.Definers[len(h.Definers)-1]
	if d.Current {
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
func (r *headReader) next() (Token, error) {
	for {
		t, ok, err := r.x.next()
		if err != nil {
			return Token{}, err
		}
		if !ok {
			return Token{Kind: TOp, Off: len(r.s), End: len(r.s)}, nil
		}
		if err := headRule(t, r.s); err != nil {
			return Token{}, err
		}
		if t.Kind != tComment && t.Kind != tCode {
			return t, nil
		}
	}
}

// headRule refuses, in the head of a CREATE, what the server reads by the
// session: a /*M! comment or a versioned comment other than /*! or
// /*!NNNNN below 80000 (the version), a double quote (sql_mode) and a
// backslash outside a `name` (sql_mode, character set).
func headRule(t Token, s string) error {
	raw := s[t.Off:t.End]
	switch {
	case strings.HasPrefix(raw, "/*M!"):
		return fmt.Errorf("a /*M! comment in the head of a CREATE")
	case strings.HasPrefix(raw, "/*!"):
		d := s[t.Off+3:]
		d = d[:len(d)-len(strings.TrimLeft(d, "0123456789"))]
		if v, err := strconv.Atoi(d); d != "" && (err != nil || len(d) != 5 || v >= 80000) {
			return fmt.Errorf("versioned comment /*!%s in the head of a CREATE", d)
		}
	case t.Kind == tComment || t.Kind == tCode:
	case strings.IndexByte(raw, '"') >= 0:
		return fmt.Errorf("a double quote in the head of a CREATE")
	case t.Kind == TString && strings.IndexByte(raw, '\\') >= 0:
		// In a string a backslash escapes or not by sql_mode; in a `name`
		// it is a plain byte.
		return fmt.Errorf("a backslash in a string in the head of a CREATE")
	case t.Kind != TIdent && strings.IndexByte(raw, '\\') >= 0:
		return fmt.Errorf("a backslash in the head of a CREATE")
	}
	return nil
}

// isHeadWord reports a bare word of the head (a keyword or a name, which
// may start with a digit).
func isHeadWord(t Token) bool {
	return t.Kind == TWord || (t.Kind == TNumber && strings.IndexFunc(t.Text, func(r rune) bool { return r < 0x80 && !isWordByte(byte(r)) }) < 0)
}

func isHeadName(t Token) bool { return isHeadWord(t) || t.Kind == TIdent }

// notHostByte is a byte that cannot be part of an unquoted host.
func notHostByte(r rune) bool {
	return r < 0x80 && !isWordByte(byte(r)) && !strings.ContainsRune(".%-", r)
}

func isOp(t Token, op string) bool { return t.Kind == TOp && t.Text == op }

// ReadCreateHead reads a CREATE statement's head in a session in state ls
// (the head's rules make its reading independent of sql_mode and of the
// version; the character set decides which bytes end a `name`). It returns nil for a
// statement that is not a CREATE, or a CREATE of something without a
// definer (a table, a sequence, a database…), and an error for a head it
// cannot read with certainty.
func ReadCreateHead(stmt string, ls LexState) (*createHead, error) {
	l := &headReader{x: newScanner(stmt, ls, DefaultServerVersion, true), s: stmt}
	t, err := l.next()
	if err != nil || !t.Is("CREATE") {
		return nil, nil //nolint:nilerr // not a CREATE: the guard decides
	}
	h := &createHead{}
	for {
		if t, err = l.next(); err != nil {
			return nil, err
		}
		switch {
		case t.Is("VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"):
			h.Kind = strings.ToUpper(t.Text)
		case t.Is("OR", "REPLACE", "AGGREGATE"):
			continue
		case t.Is("ALGORITHM"):
			if eq, _ := l.next(); !isOp(eq, "=") {
				return nil, fmt.Errorf("CREATE: ALGORITHM without =")
			}
			if w, _ := l.next(); !isHeadWord(w) {
				return nil, fmt.Errorf("CREATE: ALGORITHM = what?")
			}
			continue
		case t.Is("SQL"):
			if w, _ := l.next(); !w.Is("SECURITY") {
				return nil, fmt.Errorf("CREATE: SQL without SECURITY")
			}
			if w, _ := l.next(); !w.Is("DEFINER", "INVOKER") {
				return nil, fmt.Errorf("CREATE: SQL SECURITY what?")
			}
			continue
		case t.Is("DEFINER"):
			d, err := l.definer(t.Off)
			if err != nil {
				return nil, err
			}
			h.Definers = append(h.Definers, d)
			continue
		case isHeadWord(t) && len(h.Definers) == 0:
			return nil, nil // CREATE TABLE, DATABASE…: no definer; the guard decides
		default:
			return nil, fmt.Errorf("CREATE: unexpected %q before the object's kind", t.Text)
		}
		break
	}
	// [IF NOT EXISTS] [db.]name
	t, err = l.next()
	if err != nil {
		return nil, err
	}
	if t.Is("IF") {
		for _, w := range []string{"NOT", "EXISTS"} {
			if x, err := l.next(); err != nil || !x.Is(w) {
				return nil, fmt.Errorf("CREATE %s: IF without NOT EXISTS", h.Kind)
			}
		}
		if t, err = l.next(); err != nil {
			return nil, err
		}
	}
	if !isHeadName(t) {
		return nil, fmt.Errorf("CREATE %s: expected a name", h.Kind)
	}
	h.Name = t.Text
	save := *l.x
	if dot, err := l.next(); err == nil && isOp(dot, ".") {
		n, err := l.next()
		if err != nil || !isHeadName(n) {
			return nil, fmt.Errorf("CREATE %s: expected a name after the dot", h.Kind)
		}
		h.Db, h.Name = h.Name, n.Text
	} else {
		*l.x = save
	}
	if h.Kind == "EVENT" {
		return h, l.eventStatus(h)
	}
	return h, nil
}

// definer reads "= user[@host]" or "= CURRENT_USER[()]" after DEFINER.
func (l *headReader) definer(start int) (definerClause, error) {
	d := definerClause{Start: start}
	if eq, err := l.next(); err != nil || !isOp(eq, "=") {
		return d, fmt.Errorf("CREATE: DEFINER without =")
	}
	u, err := l.next()
	if err != nil {
		return d, err
	}
	switch {
	case u.Is("CURRENT_USER"):
		d.Current, d.End = true, u.End
		save := *l.x
		if p, err := l.next(); err == nil && isOp(p, "(") {
			q, err := l.next()
			if err != nil || !isOp(q, ")") {
				return d, fmt.Errorf("CREATE: DEFINER=CURRENT_USER( without )")
			}
			d.End = q.End
		} else {
			*l.x = save
		}
		return d, nil
	case isHeadWord(u) || u.Kind == TIdent || u.Kind == TString:
		d.user, d.End = u.Text, u.End
	default:
		return d, fmt.Errorf("CREATE: DEFINER = what?")
	}
	d.host = "%"
	save := *l.x
	h, err := l.next()
	if err != nil || h.Off != u.End || (h.Kind != TVar && h.Kind != TSysVar) {
		*l.x = save // no @host: the next token is the head's
		return d, nil
	}
	if h.Kind == TSysVar || h.End == h.Off+1 && !l.hostPart(&h) {
		return d, fmt.Errorf("CREATE: DEFINER user@ without a host")
	}
	if l.s[h.Off:h.End] == "@"+h.Text { // unquoted: a dot may stop it, not the host
		l.hostPart(&h)
	}
	d.host, d.End = h.Text, h.End
	return d, nil
}

// hostPart extends the unquoted host of h (an @host token, which ends at
// a byte other than a word byte or a dot) with the tokens that follow it
// without a space and are made of host bytes (word bytes, . % -), and
// reports whether it did.
func (l *headReader) hostPart(h *Token) bool {
	grew := false
	for {
		save := *l.x
		t, ok, err := l.x.next()
		raw := ""
		if ok && err == nil {
			raw = l.s[t.Off:t.End]
		}
		if !ok || err != nil || t.Off != h.End || raw == "" || strings.IndexFunc(raw, notHostByte) >= 0 {
			*l.x = save
			return grew
		}
		h.Text += raw
		h.End, grew = t.End, true
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
		case t.Off == len(l.s):
			return fmt.Errorf("CREATE EVENT without DO")
		case t.Is("ENABLE"):
			h.Enable = [2]int{t.Off, t.End}
		case t.Is("DISABLE"):
			h.Disabled = true
		case t.Is("COMMENT", "DO"):
			h.StatusAt = t.Off
			return nil
		}
	}
}
