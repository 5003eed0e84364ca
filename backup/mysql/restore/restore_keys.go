package restore

import (
	"fmt"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"slices"
	"strings"
	"sync"
)

// Secondary indexes after the data (myloader's optimize-keys): a restore
// creates an InnoDB table of an ops dump without its plain secondary
// indexes, loads the rows, then adds the indexes in one ALTER TABLE per
// table, which InnoDB builds by sorting instead of maintaining each index
// row by row. Only what leaves the table exactly as dumped is deferred:
// plain KEYs of a table with a primary key, no foreign keys, no FULLTEXT
// or SPATIAL index (their order in SHOW CREATE TABLE would change) and no
// partitioning; a key that the AUTO_INCREMENT column needs stays.

// deferKeys splits an ops dump's CREATE TABLE into the statement to run
// first and the ALTER TABLE (without its table name: "ADD KEY …, ADD KEY …")
// to run after the data; ok is false when nothing is deferred.
func deferKeys(create string, l sqltext.LexState) (table, first, addKeys string, ok bool) {
	lines := strings.Split(create, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "CREATE TABLE `") || !strings.HasSuffix(lines[0], "` (") || !linesOfTokens(create, l) {
		return "", "", "", false
	}
	table = lines[0][len("CREATE TABLE ") : len(lines[0])-2]
	last := len(lines) - 1
	for last > 0 && !strings.HasPrefix(lines[last], ")") {
		last--
	}
	if last < 2 {
		return "", "", "", false
	}
	trailer := strings.Join(lines[last:], "\n")
	if !strings.Contains(trailer, "ENGINE=InnoDB") || strings.Contains(trailer, "PARTITION") {
		return "", "", "", false
	}
	body := lines[1:last]
	autoCol := ""
	hasPK := false
	for _, l := range body {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "PRIMARY KEY "):
			hasPK = true
		case strings.HasPrefix(t, "FULLTEXT "), strings.HasPrefix(t, "SPATIAL "), strings.Contains(t, "FOREIGN KEY"):
			return "", "", "", false
		case strings.HasPrefix(t, "`") && strings.Contains(t, " AUTO_INCREMENT"):
			if end := strings.Index(t[1:], "` "); end >= 0 {
				autoCol = t[:end+2]
			}
		}
	}
	if !hasPK {
		return "", "", "", false
	}
	var keep, keys []string
	for _, l := range body {
		t := strings.TrimSuffix(strings.TrimSpace(l), ",")
		if strings.HasPrefix(t, "KEY `") && !(autoCol != "" && strings.Contains(t, "("+autoCol)) {
			keys = append(keys, "ADD "+t)
			continue
		}
		keep = append(keep, l)
	}
	if len(keys) == 0 {
		return "", "", "", false
	}
	for i := range keep {
		keep[i] = strings.TrimSuffix(keep[i], ",")
		if i < len(keep)-1 {
			keep[i] += ","
		}
	}
	first = lines[0] + "\n" + strings.Join(keep, "\n") + "\n" + trailer
	return table, first, strings.Join(keys, ", "), true
}

// linesOfTokens reports whether every line of s ends between two tokens
// as the server reads s in a session in state l, with nothing but spaces
// between tokens (no comment): moving whole lines then moves whole
// tokens, never a piece of a string literal, identifier or comment.
func linesOfTokens(s string, l sqltext.LexState) bool {
	toks, err := sqltext.TokenizeIn(s, l)
	if err != nil {
		return false
	}
	prev := 0
	for _, t := range toks {
		if strings.TrimLeft(s[prev:t.Off], " \t\r\n") != "" || strings.IndexByte(s[t.Off:t.End], '\n') >= 0 {
			return false
		}
		prev = t.End
	}
	return strings.TrimLeft(s[prev:], " \t\r\n") == ""
}

// endOfData returns the table an end-of-data marker names.
func endOfData(s string, l sqltext.LexState) (table string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), sqltext.EndOfDataPrefix)
	if !ok || rest == "" || rest[0] != '\'' {
		return "", false
	}
	name, n, err := sqltext.LexQuoted(rest, '\'', !l.NoBackslash, l.Charset)
	if err != nil || n != len(rest) {
		return "", false
	}
	return name, true
}

// deferredKeys is the ALTER TABLE that adds a table's deferred indexes.
type deferredKeys struct {
	table string // target database + "\x00" + table, as restoreItem.table
	sql   string
}

// deferKeysOf takes the secondary indexes out of the CREATE TABLE of it
// (see deferKeys), to be added after its data.
func (e *restoreExec) deferKeysOf(it *restoreItem) {
	table, first, add, ok := deferKeys(it.st.SQL, it.lex)
	if !ok {
		return
	}
	name, _, _ := sqltext.LexIdent(table, it.lex)
	it.st.SQL = first
	e.keys = append(e.keys, deferredKeys{table: it.target + "\x00" + name, sql: "ALTER TABLE " + sqltext.QuoteIdent(it.target) + "." + table + " " + add})
	e.deferred++
}

// endOfData handles a table's end-of-data marker: its deferred indexes are
// built once the statements of the table sent to data connections (and any
// of unknown table) are done, while the data connections go on.
func (e *restoreExec) endOfData(it restoreItem) {
	e.done.Add(1)
	i := slices.IndexFunc(e.keys, func(k deferredKeys) bool { return k.table == it.endOf })
	if i < 0 {
		return
	}
	k := e.keys[i]
	e.keys = slices.Delete(e.keys, i, i+1)
	e.early++
	wait := []*sync.WaitGroup{e.tables[it.endOf], e.tables[""]}
	delete(e.tables, it.endOf)
	delete(e.tables, "")
	e.buildIndexes(k, wait)
}

// buildIndexes runs k's ALTER TABLE after the statements of wait: on the
// main connection when the restore has one connection, else on index
// connections of their own (the main one and up to threads-1 more, as
// myloader's index threads), in the background. A barrier (any statement
// that is not data) waits for them.
func (e *restoreExec) buildIndexes(k deferredKeys, wait []*sync.WaitGroup) {
	if e.threads <= 1 {
		if _, err := e.main.ExecContext(e.ctx, k.sql); err != nil {
			e.fail(keysErr(err, k.sql))
		}
		return
	}
	if e.keyJobs == nil {
		e.keyJobs = make(chan keyJob, 16)
		for i := range e.threads {
			go e.keyWorker(i == 0)
		}
	}
	e.inflight.Add(1)
	e.keyJobs <- keyJob{sql: k.sql, wait: wait, session: e.session}
}

type keyJob struct {
	sql     string
	wait    []*sync.WaitGroup
	session []string // the session statements run before it (as restoreJob)
}

// keyWorker runs the ALTER TABLEs of buildIndexes: on the main connection
// (which has run the session), or on one it opens at its first job and
// brings up to date with the session (catchUp).
func (e *restoreExec) keyWorker(main bool) {
	w := &restoreWorker{}
	if main {
		w.conn = e.main
	} else {
		defer func() {
			if w.conn != nil {
				w.conn.Close()
			}
		}()
	}
	for j := range e.keyJobs {
		for _, wg := range j.wait {
			if wg != nil {
				wg.Wait()
			}
		}
		if !e.failed() {
			if err := e.runKeyJob(w, main, j); err != nil {
				e.fail(err)
			}
		}
		e.inflight.Done()
	}
}

func (e *restoreExec) runKeyJob(w *restoreWorker, main bool, j keyJob) error {
	if w.conn == nil {
		c, err := e.db.Conn(e.ctx)
		if err != nil {
			return fmt.Errorf("restore: open a connection for the secondary indexes: %w", err)
		}
		w.conn = c
	}
	if !main {
		if err := w.catchUp(e.ctx, j.session); err != nil {
			return fmt.Errorf("restore: index connection: %w", err)
		}
	}
	if _, err := w.conn.ExecContext(e.ctx, j.sql); err != nil {
		return keysErr(err, j.sql)
	}
	return nil
}

// track counts a statement sent to a data connection against its table;
// the returned group is done when the statement is.
func (e *restoreExec) track(it restoreItem) *sync.WaitGroup {
	if e.tables == nil {
		e.tables = map[string]*sync.WaitGroup{}
	}
	wg := e.tables[it.table]
	if wg == nil {
		wg = new(sync.WaitGroup)
		e.tables[it.table] = wg
	}
	wg.Add(1)
	return wg
}

func keysErr(err error, q string) error {
	return fmt.Errorf("restore: adding the secondary indexes after the data: %w; statement: %s", err, sqltext.Excerpt(q))
}

// keepsKeysDeferred reports whether s, a statement that is not data, may
// run while tables wait for their deferred indexes (pending): the session
// statements and the schema statements of an ops dump, which come before
// its data (sequences, tables, placeholder views), as long as they do not
// name a waiting table: a foreign key that references one needs its
// index. Anything else (CREATE TABLE … LIKE or AS SELECT, a view that
// reads tables, routines, …) runs after the indexes are added.
func keepsKeysDeferred(s string, l sqltext.LexState, pending []deferredKeys) bool {
	if isSessionStatement(s, l) {
		return true
	}
	toks, err := sqltext.TokenizeIn(s, l)
	if err != nil || len(toks) < 2 {
		return false
	}
	waiting := func(toks []sqltext.Token) bool {
		for _, t := range toks {
			if t.Kind != sqltext.TIdent && t.Kind != sqltext.TWord {
				continue
			}
			for _, k := range pending {
				if _, name, _ := strings.Cut(k.table, "\x00"); strings.EqualFold(t.Text, name) {
					return true
				}
			}
		}
		return false
	}
	switch {
	case toks[0].Is("DO") && toks[1].Is("SETVAL"):
		return true
	case toks[0].Is("DROP") && toks[1].Is("TABLE", "VIEW", "SEQUENCE"):
		return !waiting(toks[2:])
	case toks[0].Is("CREATE") && toks[1].Is("DATABASE", "SCHEMA", "SEQUENCE"):
		return true
	case toks[0].Is("CREATE") && toks[1].Is("VIEW"):
		return !slices.ContainsFunc(toks, func(t sqltext.Token) bool { return t.Is("FROM") })
	case toks[0].Is("CREATE") && toks[1].Is("TABLE"):
		for i, t := range toks {
			if t.Is("LIKE", "SELECT") {
				return false
			}
			if t.Is("REFERENCES") && waiting(toks[i+1:min(i+4, len(toks))]) {
				return false
			}
		}
		return true
	}
	return false
}
