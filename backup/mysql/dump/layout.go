package dump

import (
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"slices"
	"strings"
)

// The stream's layout: one section per database, in which everything of
// that database follows one CREATE DATABASE line and one USE line, and no
// other line of the stream names it (statements rely on the current
// database). A stock restore under another name is then one exact,
// line-anchored substitution of those two lines (docs/stock-restore-section.md):
//
//	CREATE DATABASE IF NOT EXISTS `shop` …;
//	USE `shop`;
//	sequences, tables (DROP TABLE IF EXISTS + CREATE), placeholder views,
//	data, routines, views, triggers and events of `shop`
//
// A view (or an event) that names another database needs that database's
// tables: sections are ordered so that the databases a section's views and
// events name come before it. Only views of databases that name each other
// in a cycle cannot be created in their own section: they come at the end
// of the stream after a second USE of their database (cycleUse), the one
// exception to "one USE per database".

// section is one database's part of the stream and the views it leaves to
// the end.
type section struct {
	m        *schema.DBMeta
	deferred []*schema.ViewMeta
}

// layoutSections orders the databases so that every database named by a
// view or event of another one comes first (then by name, as given), and
// defers the views that name a database not yet written when the
// references form a cycle.
func layoutSections(metas []*schema.DBMeta) []section {
	names := map[string]bool{}
	for _, m := range metas {
		names[m.Name] = true
	}
	deps := make(map[*schema.DBMeta]map[string]bool, len(metas))
	for _, m := range metas {
		deps[m] = map[string]bool{}
		for _, v := range m.Views {
			for q := range namedDatabases(v.CreateSQL, m.Name, names) {
				deps[m][q] = true
			}
		}
		for _, e := range m.Events {
			for q := range namedDatabases(e.Body, m.Name, names) {
				deps[m][q] = true
			}
		}
	}
	done := map[string]bool{}
	var out []section
	rest := slices.Clone(metas)
	for len(rest) > 0 {
		i := slices.IndexFunc(rest, func(m *schema.DBMeta) bool {
			for q := range deps[m] {
				if !done[q] {
					return false
				}
			}
			return true
		})
		s := section{}
		if i < 0 { // a cycle: the first waiting database goes now, its views naming those after it wait
			i = 0
			for _, v := range rest[0].Views {
				for q := range namedDatabases(v.CreateSQL, rest[0].Name, names) {
					if !done[q] {
						s.deferred = append(s.deferred, v)
						break
					}
				}
			}
		}
		s.m = rest[i]
		done[s.m.Name] = true
		out = append(out, s)
		rest = slices.Delete(rest, i, i+1)
	}
	return out
}

// namedDatabases returns the databases of names (other than own) that sql
// uses as a qualifier (`db`.x, not the middle of a.b.c). A table or alias
// qualifier that happens to have a database's name counts too: the order
// is then stricter than needed, never wrong.
func namedDatabases(sql, own string, names map[string]bool) map[string]bool {
	out := map[string]bool{}
	toks, err := sqltext.Tokenize(sql)
	if err != nil {
		return out
	}
	for i, t := range toks {
		if t.Kind != sqltext.TIdent && t.Kind != sqltext.TWord {
			continue
		}
		if i+1 < len(toks) && toks[i+1].Kind == sqltext.TOp && toks[i+1].Text == "." && (i == 0 || toks[i-1].Text != ".") {
			for n := range names {
				if n != own && strings.EqualFold(n, t.Text) {
					out[n] = true
				}
			}
		}
	}
	return out
}

// databaseHead is the start of a section: the only two lines of the
// stream that name the database.
func databaseHead(m *schema.DBMeta) string {
	return "\n--\n-- Database: the next two lines name it, what follows uses it\n--\n\n" +
		createDatabaseSQL(m.CreateSQL, m.Name) + ";\n\n" + useLine(m.Name) + "\n"
}

// useLine is the USE statement of a section.
func useLine(name string) string { return "USE " + sqltext.QuoteIdent(name) + ";" }

// createDatabaseSQL turns SHOW CREATE DATABASE output into the section's
// CREATE DATABASE IF NOT EXISTS `name` … statement (the options kept as
// the server printed them).
func createDatabaseSQL(s, name string) string {
	loc := sqltext.CreateDBRE.FindStringIndex(s)
	if loc == nil {
		return "CREATE DATABASE IF NOT EXISTS " + sqltext.QuoteIdent(name)
	}
	rest := strings.TrimLeft(s[loc[1]:], " ")
	for _, p := range []string{"/*!32312 IF NOT EXISTS*/", "IF NOT EXISTS"} {
		if len(rest) >= len(p) && strings.EqualFold(rest[:len(p)], p) {
			rest = strings.TrimLeft(rest[len(p):], " ")
		}
	}
	if _, n, ok := sqltext.LexIdent(rest, sqltext.LexState{}); ok {
		rest = rest[n:]
	}
	return "CREATE DATABASE IF NOT EXISTS " + sqltext.QuoteIdent(name) + rest
}

// sectionLineIn reports whether a line of body after its first begins like
// a section's USE or CREATE DATABASE line (inside a string literal of a
// routine, say): written as it is, it would be a line of the stream that a
// stock rename (a whole-line sed) might rewrite.
func sectionLineIn(body string) bool {
	for _, line := range strings.Split(body, "\n")[1:] {
		for _, p := range []string{"USE", "CREATE DATABASE", "CREATE SCHEMA"} {
			if len(line) >= len(p) && strings.EqualFold(line[:len(p)], p) {
				return true
			}
		}
	}
	return false
}
