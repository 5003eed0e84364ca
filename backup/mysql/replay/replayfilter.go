package replay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"sort"
	"strings"
)

// A point-in-time restore replays archived events through the stock
// mariadb-binlog/mysqlbinlog and mysql clients (see Replayer). Everything
// in an archived chunk is input, not trusted code: the ReplayFilter below
// decides, one event group (transaction or standalone statement) at a
// time, which events reach those tools, and refuses what they would print
// in a way that could run something else than the logged change (a
// statement the client would not pass on as logged, read under the
// event's sql_mode and character set as the client reads it: see
// replaytext.go; a name with a line break in a comment line, a session
// variable that would end its own SET statement).

// Row event types (write, update, delete: v1, v2, MariaDB's compressed).
var rowsEvents = map[byte]bool{23: true, 24: true, 25: true, 30: true, 31: true, 32: true, 166: true, 167: true, 168: true}

const (
	eventRowsQuery      = 29
	eventBeginLoadQuery = 17
	eventExecLoadQuery  = 18
	rowsStmtEndFlag     = 0x0001
	replayDelimiter     = "/*!*/;"
)

// ReplayStats counts what a replay applied and left out.
type ReplayStats struct {
	Groups      int `json:"groups"`       // transactions and statements applied
	Events      int `json:"events"`       // events applied
	SkipGroups  int `json:"skip_groups"`  // groups with nothing for the restored databases
	SkipAccount int `json:"skip_account"` // account statements (GRANT, CREATE USER, …), never replayed
}

// ReplayFilter selects the events of the restored databases. Feed it every
// event from the restore's starting point with Add; it returns the raw
// events of each group to apply when the group ends.
type ReplayFilter struct {
	restored map[string]string // SRC → DST
	renamed  bool
	known    map[string]bool // database names: a `x`.`y` with x among them names a database
	fde      *binlog.FormatDescription

	group     []*binlog.BinlogEvent
	keep      []bool
	content   bool            // the group changes a restored database
	change    bool            // the group changes something (a row or a statement that is not transaction control)
	tables    map[uint64]bool // table id → it is in a restored database
	stmtKept  bool
	stmtDrop  bool
	pendingAt int              // index in group of the first Intvar/Rand/User_var before a query (-1: none)
	lex       sqltext.LexState // the session state of the last query event (for one that leaves it out)

	Stats ReplayStats
}

// NewReplayFilter returns a filter for the databases of mapping (SRC →
// DST). known lists every database name the log may refer to (the
// backup's databases, other databases of the server); a qualified name
// whose qualifier is one of them, or any three-part name, counts as
// naming that database.
func NewReplayFilter(mapping map[string]string, known []string) *ReplayFilter {
	f := &ReplayFilter{restored: map[string]string{}, known: map[string]bool{}, tables: map[uint64]bool{}, pendingAt: -1}
	for src, dst := range mapping {
		f.restored[src] = dst
		f.known[src] = true
		if src != dst {
			f.renamed = true
		}
	}
	for _, k := range known {
		f.known[k] = true
	}
	for k := range conn.SystemDatabases {
		f.known[k] = true
	}
	return f
}

// Format sets the format description the following events are laid out by
// (each chunk starts with one).
func (f *ReplayFilter) Format(fde *binlog.FormatDescription) { f.fde = fde }

// Discard drops the open group: the restore point falls inside it.
func (f *ReplayFilter) Discard() { f.reset() }

// Pending reports whether a group is open (events added, no boundary yet).
func (f *ReplayFilter) Pending() bool { return len(f.group) > 0 }

func (f *ReplayFilter) reset() {
	f.group, f.keep, f.content, f.change, f.stmtKept, f.stmtDrop, f.pendingAt = f.group[:0], f.keep[:0], false, false, false, false, -1
}

// Add takes the next event. When it ends a group, Add returns the raw
// events of the group to apply (none when the group has nothing for the
// restored databases). An error stops the replay: the event cannot be
// applied safely to the restored databases only.
func (f *ReplayFilter) Add(ev *binlog.BinlogEvent) ([][]byte, error) {
	keep, err := f.classify(ev)
	if err != nil {
		return nil, fmt.Errorf("%s event at %s:%d: %w", ev.TypeName(), ev.File, ev.Start, err)
	}
	f.group = append(f.group, ev)
	f.keep = append(f.keep, keep)
	if !ev.Boundary {
		return nil, nil
	}
	defer f.reset()
	if !f.content {
		if f.change {
			f.Stats.SkipGroups++
		}
		return nil, nil
	}
	var out [][]byte
	for i, e := range f.group {
		if f.keep[i] {
			out = append(out, e.Raw)
		}
	}
	f.Stats.Groups++
	f.Stats.Events += len(out)
	return out, nil
}

// classify says whether an event is applied (when its group is).
func (f *ReplayFilter) classify(ev *binlog.BinlogEvent) (bool, error) {
	switch {
	case ev.Type == binlog.EventMariaGTID || ev.Type == binlog.EventGTID || ev.Type == binlog.EventAnonymousGTID ||
		ev.Type == binlog.EventXID || ev.Type == binlog.EventXAPrepare:
		return true, nil
	case ev.Type == binlog.EventIntvar || ev.Type == binlog.EventRand:
		f.pend()
		return true, nil
	case ev.Type == binlog.EventUserVar:
		if err := checkUserVar(f.fde, ev.Raw); err != nil {
			return false, err
		}
		f.pend()
		return true, nil
	case ev.Type == binlog.EventTableMap:
		return f.tableMap(ev)
	case rowsEvents[ev.Type]:
		return f.rows(ev)
	case ev.Type == binlog.EventQuery:
		return f.query(ev)
	case ev.Type == binlog.EventAnnotateRows || ev.Type == eventRowsQuery || ev.Type == binlog.EventRotate || ev.Type == binlog.EventGTIDList ||
		ev.Type == binlog.EventBinlogCheckpoint || ev.Type == binlog.EventPreviousGTIDs || ev.Type == binlog.EventStop ||
		ev.Type == binlog.EventHeartbeat || ev.Type == binlog.EventHeartbeatV2 || ev.Type == binlog.EventFormatDesc:
		return false, nil // informational: never applied
	case ev.Type == binlog.EventIncident:
		return false, fmt.Errorf("the server logged an incident here: changes may be missing from the binary log, so no replay can cross this point")
	case ev.Type == eventBeginLoadQuery || ev.Type == eventExecLoadQuery:
		return false, fmt.Errorf("LOAD DATA logged as a statement cannot be replayed (it needs the loaded file); use binlog_format=ROW")
	case ev.Type == binlog.EventQueryCompressed || ev.Type >= 166 && ev.Type <= 168 && !rowsEvents[ev.Type]:
		return false, fmt.Errorf("compressed statements (log_bin_compress=ON) are not supported by the replay")
	}
	return false, fmt.Errorf("event type %d is not supported by the replay", ev.Type)
}

// pend marks the start of the context events (Intvar, Rand, User_var) of
// the statement that follows.
func (f *ReplayFilter) pend() {
	if f.pendingAt < 0 {
		f.pendingAt = len(f.group)
	}
}

// settle applies the decision about a statement to its context events.
func (f *ReplayFilter) settle(keep bool) {
	if f.pendingAt >= 0 {
		for i := f.pendingAt; i < len(f.keep); i++ {
			f.keep[i] = keep
		}
		f.pendingAt = -1
	}
}

func (f *ReplayFilter) tableMap(ev *binlog.BinlogEvent) (bool, error) {
	id, db, table, err := tableMapParts(f.fde, ev.Raw)
	if err != nil {
		return false, err
	}
	if err := printableName("database", db); err != nil {
		return false, err
	}
	if err := printableName("table", table); err != nil {
		return false, err
	}
	_, in := f.restored[db]
	f.tables[id] = in
	f.change = true
	return in, nil
}

func (f *ReplayFilter) rows(ev *binlog.BinlogEvent) (bool, error) {
	id, flags, err := rowsParts(f.fde, ev)
	if err != nil {
		return false, err
	}
	in, ok := f.tables[id]
	if !ok {
		return false, binlog.Corruptf("rows event for table id %d without its table map", id)
	}
	if in {
		f.stmtKept, f.content = true, true
	} else {
		f.stmtDrop = true
	}
	if flags&rowsStmtEndFlag != 0 {
		mixed := f.stmtKept && f.stmtDrop
		f.stmtKept, f.stmtDrop = false, false
		if mixed {
			return false, fmt.Errorf("one statement changed rows of a restored database and of another database (a multi-table statement or a trigger): it cannot be replayed for the restored databases only")
		}
	}
	return in, nil
}

// query decides about a statement: transaction control is applied with
// its group; a statement that changes a restored database is applied when
// it can be (it names no other database, and a renamed database only as
// its default database, which --rewrite-db changes); account statements
// and statements about other databases are left out.
func (f *ReplayFilter) query(ev *binlog.BinlogEvent) (bool, error) {
	db, q, st, err := queryParts(f.fde, ev.Raw)
	if err != nil {
		return false, err
	}
	if err := printableName("default database", db); err != nil {
		return false, err
	}
	for _, name := range []string{db, f.restored[db]} {
		if err := printedNameSafe("use " + sqltext.QuoteIdent(name) + replayDelimiter); name != "" && err != nil {
			return false, fmt.Errorf("default database: %w", err)
		}
	}
	l := eventLexState(st, f.lex)
	f.lex = l
	if err := replayText(q, l); err != nil {
		return false, err
	}
	if tz := st.tz; tz != "" && strings.Trim(tz, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/+-:.") != "" {
		return false, fmt.Errorf("time zone %q in the statement's context is not a time zone name", tz)
	}
	if isControl(q) {
		return true, nil
	}
	f.change = true
	keep, err := f.statement(db, q, l)
	f.settle(keep)
	if keep {
		f.content = true
	}
	return keep, err
}

// statement decides about a statement that is not transaction control.
func (f *ReplayFilter) statement(db, q string, l sqltext.LexState) (bool, error) {
	toks, err := sqltext.TokenizeIn(q, l)
	if err != nil || len(toks) == 0 {
		return false, fmt.Errorf("the statement cannot be read (%v): %s", err, sqltext.Excerpt(q))
	}
	if isAccountStatement(toks) {
		f.Stats.SkipAccount++
		return false, nil
	}
	named := f.namedDatabases(toks)
	_, inDefault := f.restored[db]
	var mine, others []string
	for _, n := range named {
		if _, ok := f.restored[n]; ok {
			mine = append(mine, n)
		} else {
			others = append(others, n)
		}
	}
	if !inDefault && len(mine) == 0 {
		return false, nil // about other databases only
	}
	if len(others) > 0 {
		return false, fmt.Errorf("the statement runs in or names a restored database but also names %s: it cannot be replayed for the restored databases only: %s",
			quoteList(others), sqltext.Excerpt(q))
	}
	if !inDefault && db != "" {
		return false, fmt.Errorf("the statement names restored database %s from default database %s, which is not restored: %s", quoteList(mine), sqltext.QuoteIdent(db), sqltext.Excerpt(q))
	}
	for _, n := range mine {
		if f.restored[n] != n {
			return false, fmt.Errorf("the statement names database %s explicitly, which this restore renames to %s: only the default database of a statement can be mapped (mysqlbinlog --rewrite-db semantics): %s",
				sqltext.QuoteIdent(n), sqltext.QuoteIdent(f.restored[n]), sqltext.Excerpt(q))
		}
	}
	if !allowedReplay(toks) {
		return false, fmt.Errorf("%s statements are not replayed: %s", strings.ToUpper(toks[0].Text), sqltext.Excerpt(q))
	}
	return true, nil
}

// namedDatabases returns the databases a statement names: qualifiers of
// qualified names (three-part names always; two-part names when the
// qualifier is a known database) and the name of CREATE/ALTER/DROP
// DATABASE.
func (f *ReplayFilter) namedDatabases(toks []sqltext.Token) []string {
	set := map[string]bool{}
	for i := 0; i+2 < len(toks); i++ {
		if !sqltext.IsName(toks[i]) || toks[i+1].Kind != sqltext.TOp || toks[i+1].Text != "." || !sqltext.IsName(toks[i+2]) {
			continue
		}
		if i > 0 && toks[i-1].Kind == sqltext.TOp && toks[i-1].Text == "." {
			continue // the middle of a.b.c
		}
		three := i+4 < len(toks) && toks[i+3].Kind == sqltext.TOp && toks[i+3].Text == "." && sqltext.IsName(toks[i+4])
		if three || f.known[toks[i].Text] {
			set[toks[i].Text] = true
		}
	}
	if len(toks) > 2 && toks[0].Is("CREATE", "ALTER", "DROP") && toks[1].Is("DATABASE", "SCHEMA") {
		i := 2
		for i < len(toks) && toks[i].Is("IF", "NOT", "EXISTS") {
			i++
		}
		if i < len(toks) && sqltext.IsName(toks[i]) {
			set[toks[i].Text] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = sqltext.QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// isControl reports whether a statement is transaction control.
func isControl(q string) bool {
	u := strings.ToUpper(strings.TrimSpace(q))
	for _, p := range []string{"BEGIN", "COMMIT", "ROLLBACK", "XA ", "SAVEPOINT ", "RELEASE SAVEPOINT "} {
		if u == strings.TrimSpace(p) || strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// isAccountStatement: statements about accounts and privileges are about
// the server, not the restored databases; they are never replayed.
func isAccountStatement(toks []sqltext.Token) bool {
	t := toks[0]
	if t.Is("GRANT", "REVOKE") {
		return true
	}
	if len(toks) > 1 && t.Is("CREATE", "DROP", "ALTER", "RENAME") && toks[1].Is("USER", "ROLE") {
		return true
	}
	if len(toks) > 3 && t.Is("CREATE") && toks[1].Is("OR") && toks[3].Is("USER", "ROLE") {
		return true
	}
	return len(toks) > 1 && t.Is("SET") && toks[1].Is("PASSWORD", "ROLE", "DEFAULT")
}

// allowedReplay is the allow-list of statements a replay applies: the data
// and schema changes an application makes.
func allowedReplay(toks []sqltext.Token) bool {
	t := toks[0]
	switch {
	case t.Is("INSERT", "REPLACE", "UPDATE", "DELETE", "TRUNCATE", "ALTER", "RENAME", "DROP", "ANALYZE", "OPTIMIZE", "REPAIR", "USE"):
		return true
	case t.Is("CREATE"):
		for _, x := range toks[1:] {
			if x.Is("SONAME") {
				return false // a function loaded from a library on the server
			}
		}
		return true
	case t.Is("SET") && len(toks) > 1 && toks[1].Kind == sqltext.TVar:
		return true // SET @user_var: statement-based logging of a session's variables
	}
	return false
}

// printableName refuses a name that would break out of the comment line
// mysqlbinlog prints it on.
func printableName(what, s string) error {
	if strings.ContainsAny(s, "\n\r\x00") {
		return fmt.Errorf("the %s name %q has a line break or NUL: it cannot be replayed through mysqlbinlog safely", what, s)
	}
	return nil
}

// body returns an event's body without its checksum.
func eventBody(fde *binlog.FormatDescription, raw []byte) []byte {
	b := raw[binlog.HeaderLen:]
	if fde != nil && fde.ChecksumAlg == binlog.ChecksumCRC32 && len(b) >= 4 {
		b = b[:len(b)-4]
	}
	return b
}

// tableMapParts reads a table map event: table id, database and table.
func tableMapParts(fde *binlog.FormatDescription, raw []byte) (id uint64, db, table string, err error) {
	b := eventBody(fde, raw)
	ph := fde.PostHeaderLen(binlog.EventTableMap)
	if ph == 0 {
		ph = 8
	}
	if len(b) < ph+2 {
		return 0, "", "", binlog.Corruptf("table map event too short")
	}
	id = tableID(b, ph)
	rest := b[ph:]
	n := int(rest[0])
	if len(rest) < 1+n+2 {
		return 0, "", "", binlog.Corruptf("table map event: database name overruns the event")
	}
	db = string(rest[1 : 1+n])
	rest = rest[1+n+1:]
	m := int(rest[0])
	if len(rest) < 1+m {
		return 0, "", "", binlog.Corruptf("table map event: table name overruns the event")
	}
	return id, db, string(rest[1 : 1+m]), nil
}

// tableID reads the table id at the start of a post-header of length ph
// (4 bytes in the oldest format, 6 since).
func tableID(b []byte, ph int) uint64 {
	if ph == 6 {
		return uint64(binary.LittleEndian.Uint32(b))
	}
	var x [8]byte
	copy(x[:], b[:6])
	return binary.LittleEndian.Uint64(x[:])
}

// rowsParts reads the table id and flags of a rows event.
func rowsParts(fde *binlog.FormatDescription, ev *binlog.BinlogEvent) (id uint64, flags uint16, err error) {
	b := eventBody(fde, ev.Raw)
	ph := fde.PostHeaderLen(ev.Type)
	if ph == 0 {
		ph = 8
	}
	if len(b) < ph || ph < 6 {
		return 0, 0, binlog.Corruptf("rows event too short")
	}
	id = tableID(b, ph)
	off := 6
	if ph == 6 {
		off = 4
	}
	return id, binary.LittleEndian.Uint16(b[off:]), nil
}

// queryParts reads a query event: its default database, statement and the
// status variables of its context the replay needs.
func queryParts(fde *binlog.FormatDescription, raw []byte) (db, q string, st queryStatus, err error) {
	b := eventBody(fde, raw)
	ph := fde.PostHeaderLen(binlog.EventQuery)
	if ph == 0 {
		ph = 13
	}
	if len(b) < ph || ph < 13 {
		return "", "", st, binlog.Corruptf("query event too short")
	}
	dbLen := int(b[8])
	status := int(binary.LittleEndian.Uint16(b[11:]))
	if ph+status+dbLen+1 > len(b) {
		return "", "", st, binlog.Corruptf("query event: lengths overrun the event")
	}
	if st, err = statusVars(b[ph : ph+status]); err != nil {
		return "", "", st, err
	}
	db = string(b[ph+status : ph+status+dbLen])
	return db, string(b[ph+status+dbLen+1:]), st, nil
}

// statusSizes are the fixed sizes of the query event's status variables
// (MySQL's and MariaDB's log_event.h); -1: a length-prefixed string.
var statusSizes = map[byte]int{
	0: 4, 1: 8, 2: -2, 3: 4, 4: 6, 5: -1, 6: -1, 7: 2, 8: 2, 9: 8, 10: 4, 11: -3, 12: -4, 13: 3,
	16: 1, 17: 8, 18: 2, 19: 1, 20: 1, 128: 3, 129: 8, 130: 1,
}

// statusTimeZone walks the status variables and returns the time zone.
func statusTimeZone(s []byte) (string, error) {
	st, err := statusVars(s)
	return st.tz, err
}

// statusVars walks the status variables and returns the time zone (the
// one printed as a string), the sql_mode and the client's character set.
// An unknown variable stops the walk with an error: what follows cannot
// be checked.
func statusVars(s []byte) (queryStatus, error) {
	var st queryStatus
	for len(s) > 0 {
		code := s[0]
		s = s[1:]
		size, ok := statusSizes[code]
		if !ok {
			return st, fmt.Errorf("unknown status variable %d in a query event: the replay cannot check it", code)
		}
		n := size
		switch size {
		case -1, -2: // length, string (-2: then a NUL)
			if len(s) < 1 {
				return st, binlog.Corruptf("query event: status variable %d truncated", code)
			}
			n = 1 + int(s[0])
			if size == -2 {
				n++
			}
			if code == 5 && len(s) >= n {
				st.tz = string(s[1:n])
			}
		case -3: // invoker: user and host, each length-prefixed
			if len(s) < 1 || len(s) < 1+int(s[0])+1 {
				return st, binlog.Corruptf("query event: invoker truncated")
			}
			n = 1 + int(s[0])
			n += 1 + int(s[n])
		case -4: // updated databases: a count, then NUL-terminated names
			if len(s) < 1 {
				return st, binlog.Corruptf("query event: database list truncated")
			}
			n = 1
			if cnt := int(s[0]); cnt != 254 {
				for i := 0; i < cnt; i++ {
					z := bytes.IndexByte(s[n:], 0)
					if z < 0 {
						return st, binlog.Corruptf("query event: database list truncated")
					}
					n += z + 1
				}
			}
		}
		if len(s) < n {
			return st, binlog.Corruptf("query event: status variable %d truncated", code)
		}
		switch code {
		case 1: // Q_SQL_MODE_CODE
			st.sqlMode, st.hasMode = binary.LittleEndian.Uint64(s), true
		case 4: // Q_CHARSET_CODE: client, connection, server
			st.clientCS, st.hasClient = binary.LittleEndian.Uint16(s), true
		}
		s = s[n:]
	}
	return st, nil
}

// checkUserVar refuses a user variable whose name would end its SET
// statement when mysqlbinlog prints it.
func checkUserVar(fde *binlog.FormatDescription, raw []byte) error {
	b := eventBody(fde, raw)
	if len(b) < 4 {
		return binlog.Corruptf("user variable event too short")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 0 || 4+n > len(b) {
		return binlog.Corruptf("user variable event: name overruns the event")
	}
	name := string(b[4 : 4+n])
	if strings.ContainsAny(name, "`\n\r\x00;") || strings.Contains(name, "/*") ||
		printedNameSafe("SET @"+sqltext.QuoteIdent(name)+":=0"+replayDelimiter) != nil {
		return fmt.Errorf("user variable name %q cannot be printed safely by mysqlbinlog", name)
	}
	return nil
}
