package guard

import (
	"encoding/hex"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
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

// DefinerRule rewrites the DEFINER clauses and event states of a stream's
// CREATE statements (see above).
type DefinerRule struct {
	trusted map[string]schema.StoredObject
	// Counts, for the log (read after the parse ended).
	Definers, Disabled int
}

func NewDefinerRule(list []schema.StoredObject) *DefinerRule {
	r := &DefinerRule{trusted: map[string]schema.StoredObject{}}
	for _, o := range list {
		r.trusted[schema.ObjectKey(o.Kind, o.Database, o.Name)] = o
	}
	return r
}

// rewrite applies the rule to one statement; db is the database of the
// stream the statement runs in (its name in the dump).
func (r *DefinerRule) rewrite(stmt, db string) (string, error) {
	return r.RewriteIn(stmt, db, sqltext.LexState{})
}

// RewriteIn is rewrite of a statement read in a session in state l.
func (r *DefinerRule) RewriteIn(stmt, db string, l sqltext.LexState) (string, error) {
	if body, intro, ok := executeImmediateBody(stmt, l); ok {
		out, err := r.RewriteIn(body, db, l)
		if err != nil || out == body {
			return stmt, err
		}
		return "EXECUTE IMMEDIATE " + intro + "0x" + strings.ToUpper(hex.EncodeToString([]byte(out))), nil
	}
	h, err := sqltext.ReadCreateHead(stmt, l)
	if err != nil {
		return "", refuse("%v", err)
	}
	if h == nil {
		return stmt, nil
	}
	odb := db
	if h.Db != "" {
		odb = h.Db
	}
	t, listed := r.trusted[schema.ObjectKey(h.Kind, odb, h.Name)]
	keep := listed && t.Definer == h.Definer()
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	if !keep {
		for _, d := range h.Definers {
			if !d.Current {
				edits = append(edits, edit{d.Start, d.End, "DEFINER=CURRENT_USER"})
			}
		}
		if len(edits) > 0 {
			r.Definers++
		}
	}
	if h.Kind == "EVENT" && !(keep && t.Enabled) {
		switch {
		case h.Enable[1] > 0:
			edits = append(edits, edit{h.Enable[0], h.Enable[1], "DISABLE"})
			r.Disabled++
		case !h.Disabled:
			edits = append(edits, edit{h.StatusAt, h.StatusAt, "DISABLE "})
			r.Disabled++
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
func executeImmediateBody(stmt string, l sqltext.LexState) (body, intro string, ok bool) {
	toks, err := sqltext.TokenizeIn(stmt, l)
	if err != nil || len(toks) < 3 || !toks[0].Is("EXECUTE") || !toks[1].Is("IMMEDIATE") {
		return "", "", false
	}
	toks = toks[2:]
	if len(toks) > 0 && toks[0].Kind == sqltext.TWord && strings.HasPrefix(toks[0].Text, "_") {
		intro = toks[0].Text + " "
		toks = toks[1:]
	}
	if len(toks) != 1 {
		return "", "", false
	}
	body = toks[0].Text
	switch {
	case toks[0].Kind == sqltext.TString:
	case toks[0].Kind == sqltext.TNumber && (strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X")):
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
