package restore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"golang.org/x/sync/semaphore"
)

// RestoreOptions configures Restore.
type RestoreOptions struct {
	MySQL conn.Config
	// Databases maps databases of the dump to the names they are restored
	// under (SRC → DST, like --database SRC=DST). When it is not empty, only
	// these databases are restored. CREATE/DROP/ALTER DATABASE and USE of a
	// mapped database are rewritten; names written inside other statements
	// (a view or routine body qualified with another database, a
	// cross-database foreign key) are not. ops dumps read view definitions
	// relative to their own database, so their same-database references are
	// unqualified and follow the rename.
	Databases map[string]string
	// Threads is the number of connections loading the INSERTs of an ops
	// dump in parallel: at least 1 (the job's threads; 1 = a single connection,
	// like the mysql client). Other statements, and every statement of other SQL streams,
	// run in order on one connection.
	Threads int
	Logger  *slog.Logger
	// Progress, if set, is called every 1000 statements and at the end.
	Progress func(RestoreProgress)
	// Replace drops and recreates a target database that exists and is
	// not empty; without it such a target is refused.
	Replace bool
	// DeferSwap (with Replace) leaves the swap to the caller: Restore ends
	// with the new copies complete under their temporary names and returns
	// RestoreResult.Swap and Discard (a point-in-time restore swaps only
	// after its replay into the new copies succeeded).
	DeferSwap bool
	// KeepPartial keeps the databases a failed restore created (for
	// inspection); by default they are dropped.
	KeepPartial bool
	// Compression, when set, is the method the stream must be in (the
	// manifest's): a stream in another format is refused.
	Compression compress.Method
	// Finish, when set, runs after the last statement succeeded; an error
	// fails the restore like a failed statement (the backup pipeline
	// checks the stream's SHA-256 there).
	Finish func() error
	// TrustedObjects are the views, routines, triggers and events that keep
	// the DEFINER (and, events, the ENABLE) their CREATE carries: those an
	// authenticated manifest lists. nil trusts none: every DEFINER becomes
	// CURRENT_USER and every event is created DISABLED (see guard/definer.go).
	TrustedObjects []schema.StoredObject
}

// RestoreProgress reports restore progress.
type RestoreProgress struct {
	Statements int64
	RawBytes   int64 // uncompressed SQL consumed
}

// RestoreResult describes a finished restore.
type RestoreResult struct {
	Compression compress.Method `json:"compression"` // detected: zstd | gzip | none
	Statements  int64           `json:"statements"`
	RawBytes    int64           `json:"raw_bytes"`
	Databases   []string        `json:"databases"` // target names of the databases created or selected
	Created     []string        `json:"created"`   // target databases this restore created (or recreated)
	// DeferredKeys counts the tables whose secondary indexes were added
	// after their data (see deferKeys).
	DeferredKeys int `json:"deferred_keys"`
	// KeysDuringData is how many of those tables were indexed at the end
	// of their own data, while other tables still loaded (see endOfData).
	KeysDuringData int `json:"keys_during_data"`
	// Loaded counts the INSERTs of the dump that were sent as LOAD DATA
	// (see loader); the others ran as written.
	Loaded     int64     `json:"loaded_statements"`
	LoadedAsIs int64     `json:"loaded_as_is"` // of them, without character set conversion
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// With DeferSwap: Written maps each target to the name it was written
	// under (itself, or its temporary name); Swap (nil when no target is
	// to be swapped) swaps the new copies in; Discard drops what the
	// restore created, as a failed restore does (keeps it with
	// KeepPartial). After a successful Swap, Discard does nothing.
	Written map[string]string           `json:"-"`
	Swap    func(context.Context) error `json:"-"`
	Discard func(context.Context) error `json:"-"`
}

// countingReader counts bytes and remembers the first and last bytes of
// the stream (to recognise a truncated ops dump).
type countingReader struct {
	r    io.Reader
	n    atomic.Int64
	head []byte
	tail []byte
}

// headLen is how much of the stream's start isOps looks at: the sandbox
// line (written since it was introduced) and the head line.
var headLen = len(sqltext.SandboxLine) + len(sqltext.OpsDumpHead)

// isOps reports whether the stream is an ops dump (with or without the
// sandbox line, which older ops versions did not write).
func (c *countingReader) isOps() bool {
	h := string(c.head)
	return strings.HasPrefix(h, sqltext.OpsDumpHead) || h == sqltext.SandboxLine+sqltext.OpsDumpHead
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		if len(c.head) < headLen {
			c.head = append(c.head, p[:min(n, headLen-len(c.head))]...)
		}
		c.tail = append(c.tail, p[max(0, n-64):n]...)
		if len(c.tail) > 64 {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-64:]...)
		}
	}
	return n, err
}

// truncated reports an ops dump that lacks its completion marker.
func (c *countingReader) truncated() bool {
	return c.isOps() && !bytes.HasSuffix(c.tail, []byte(sqltext.FooterMarker+"\n"))
}

// openStream starts reading a dump for Restore and Cat: the result to
// fill, the renamer of opts.Databases, and the decompressed stream, whose
// method must be the manifest's (opts.Compression, when set).
func openStream(opts RestoreOptions, r io.Reader) (*RestoreResult, *renamer, io.Reader, func(), error) {
	rn, err := newRenamer(opts.Databases)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	dr, kind, closeDec, err := compress.NewReader(r)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("read stream: %w", err)
	}
	if opts.Compression != "" && kind != opts.Compression.OrDefault() {
		closeDec()
		return nil, nil, nil, nil, fmt.Errorf("the stream is %s, the manifest says %s: %w", kind, opts.Compression.OrDefault(), guard.ErrRefused)
	}
	return &RestoreResult{StartedAt: time.Now().UTC(), Compression: kind}, rn, dr, closeDec, nil
}

// Restore executes the SQL stream read from r (zstd, gzip or plain,
// detected from the first bytes) on one connection, statement by statement
// as the mysql client does; parsing runs ahead of execution. It stops at the
// first failing statement.
func Restore(ctx context.Context, opts RestoreOptions, r io.Reader) (*RestoreResult, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Threads < 1 {
		return nil, fmt.Errorf("restore: %d data connections: at least 1 is needed (the job's threads)", opts.Threads)
	}
	res, rn, dr, closeDec, err := openStream(opts, r)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer closeDec()
	cr := &countingReader{r: dr}

	db, tr, err := conn.ConnectWithVars(ctx, opts.MySQL, log, restoreSessionVars(opts.MySQL.LockWaitSeconds()))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	dbConn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore: open connection: %w", err)
	}
	defer dbConn.Close()
	existing, err := schema.ListDatabases(ctx, dbConn)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	tg, rp, guardMap, err := prepareTargets(ctx, opts, db, rn)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	waitKills := tr.KillOnCancel(ctx, log) // SIGTERM, or a failure: end the statements on the server too
	ch := make(chan restoreItem, 16-lookahead)
	parseErr := make(chan error, 1)
	g := guard.NewGuard(guardMap, existing)
	if g.Sess, err = guard.ReadSession(ctx, dbConn); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defs := guard.NewDefinerRule(opts.TrustedObjects)
	go parseStream(ctx, cr, rn, g, defs, ch, parseErr)
	ex := &restoreExec{ctx: ctx, cancel: cancel, db: db, main: dbConn, threads: opts.Threads, targets: tg, ops: true, loader: newLoader(),
		owner: map[string]*restoreWorker{}, ended: map[string]bool{}}
	ex.drive(ch, cr, opts.Progress)
	ex.finish()
	waitKills() // before the rollback: a statement still running would hold its locks
	res.Statements = ex.done.Load()
	err = restoreOutcome(ctx, ex, <-parseErr, cr, rn, opts.Finish)
	if defs.Definers > 0 || defs.Disabled > 0 {
		log.Warn("restore: objects not vouched for by an authenticated manifest run as the restore account, events created disabled (see docs/restore-security.md)",
			"definers_set_to_current_user", defs.Definers, "events_disabled", defs.Disabled, "trusted_listed", len(opts.TrustedObjects))
	}
	return endRestore(ctx, opts, log, res, ex, cr, rn, tg, rp, db, opts.MySQL.LockWaitSeconds(), err)
}

// restoreOutcome is the error of a restore whose statements have all been
// run or abandoned: the first failure, a refusal, cancellation, truncation,
// a missing database, or the caller's Finish.
func restoreOutcome(ctx context.Context, ex *restoreExec, perr error, cr *countingReader, rn *renamer, finish func() error) error {
	if err := ex.err(); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if cr.truncated() {
		return fmt.Errorf("restore: the stream ends without %q: the backup is truncated (%d statements were applied)", sqltext.FooterMarker, ex.done.Load())
	}
	if missing := rn.missing(); len(missing) > 0 {
		return fmt.Errorf("restore: database(s) %s not found in the backup", strings.Join(missing, ", "))
	}
	if finish != nil {
		return finish()
	}
	return nil
}

// restoreSessionVars are the session variables of a restore's connections:
// every session waits for a lock at most lock_wait_timeout (the server's
// default is a day), so a restore blocked by another session's FLUSH
// TABLES WITH READ LOCK fails instead of hanging.
func restoreSessionVars(lockWaitSecs int) map[string]string {
	return map[string]string{"lock_wait_timeout": strconv.Itoa(lockWaitSecs)}
}

// explainLockWait says what to do about a restore statement that waited
// lock_wait_timeout for a lock (MySQL error 1205), and marks it
// ErrLockWaitTimeout.
func explainLockWait(err error, secs int) error {
	if conn.ErrNo(err) != 1205 {
		return err
	}
	return fmt.Errorf("%w: the restore waited %ds (lock_wait_timeout) for a lock another session holds, such as FLUSH TABLES WITH READ LOCK of a backup running on the target: restore again once it is released, or raise mysql.lock_wait_timeout: %w", conn.ErrLockWaitTimeout, secs, err)
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// parseStream splits the SQL stream into statements, renames databases,
// has the guard check each one, and sends what is to be run to ch (closed
// at the end); the result of the parse goes to parseErr once.
func parseStream(ctx context.Context, cr *countingReader, rn *renamer, g *guard.Guard, dr *guard.DefinerRule, ch chan<- restoreItem, parseErr chan<- error) {
	defer close(ch)
	sp := sqltext.NewSplitter(cr)
	var num int64
	for {
		lex := g.Sess.Lex // the state the statement is read in
		sp.SetLex(lex)
		st, err := sp.Next()
		if errors.Is(err, io.EOF) {
			parseErr <- nil
			return
		}
		if err != nil {
			parseErr <- fmt.Errorf("restore: read SQL stream: %w", err)
			return
		}
		num++
		if num == 1 {
			if !cr.isOps() {
				parseErr <- fmt.Errorf("restore: the stream is not an ops dump (it does not begin with %q): %w", sqltext.OpsDumpHead, guard.ErrRefused)
				return
			}
			st.SQL = strings.TrimPrefix(st.SQL, strings.TrimSuffix(sqltext.SandboxLine, "\n"))
		}
		sqlText, keep, err := rn.rewrite(st.SQL, lex)
		if err != nil {
			parseErr <- fmt.Errorf("restore: line %d: %w", st.Line, err)
			return
		}
		if !keep {
			continue
		}
		// An INSERT of the dumper's form has its rows checked only if they
		// run as SQL: as LOAD DATA they travel as data (see execData).
		var form *insertForm
		if f, ok := parseInsertForm(sqlText, lex); ok {
			form = &f
		}
		var createDB string
		if form != nil {
			_, err = g.CheckInsertHead(sqlText)
		} else {
			var rewritten string
			if rewritten, err = dr.RewriteIn(sqlText, rn.current, lex); err == nil {
				sqlText = rewritten
				createDB, err = g.Check(sqlText)
			}
		}
		if err != nil {
			parseErr <- fmt.Errorf("restore: statement %d at line %d: %w: %s", num, st.Line, err, sqltext.ExcerptIn(sqlText, lex))
			return
		}
		st.SQL = sqlText
		// Only the data of ops dumps (no LOCK TABLES, no session state
		// besides SET/USE) is loaded in parallel.
		it := restoreItem{st: st, num: num, db: rn.current, target: rn.target(), data: sqltext.IsInsert(st.SQL), createDB: createDB, lex: lex}
		if !it.data && it.target != "" {
			if table, ok := endOfData(st.SQL, lex); ok {
				it.endOf = it.target + "\x00" + table
			}
		}
		if form != nil {
			it.form, it.table = form, it.target+"\x00"+form.table
		}
		select {
		case ch <- it:
		case <-ctx.Done():
			parseErr <- nil
			return
		}
	}
}

type restoreItem struct {
	st       sqltext.Statement
	num      int64 // statement number in the stream (from 1)
	db       string
	target   string           // the target name of the current database
	data     bool             // an INSERT of an ops dump: may run on a data connection
	createDB string           // the target a CREATE DATABASE creates
	form     *insertForm      // an INSERT of the dumper's form, split, its rows not checked yet (else nil)
	table    string           // and then its target database and table
	asInsert bool             // run as written, not as LOAD DATA (see alone)
	endOf    string           // an end-of-data marker: the table, as table
	lex      sqltext.LexState // how the server reads the statement (the session's state before it)
}

// restoreExec runs statements in stream order on the main connection,
// except runs of INSERTs (ops dumps only), which are spread over data
// connections. Before any other statement every data connection is idle
// (a barrier), and each data connection replays the session statements
// (SET …, USE …) the main connection ran before its next INSERT, so it
// sees the same settings and default database.
type restoreExec struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	db      *sql.DB
	main    *sql.Conn
	threads int

	session  []string       // SET/USE statements run so far, in order
	ops      bool           // the stream is an ops dump (its CREATE TABLEs may defer keys)
	keys     []deferredKeys // the ALTER TABLEs adding deferred indexes still to run
	deferred int
	early    int                        // of them, run at their table's end-of-data marker
	tables   map[string]*sync.WaitGroup // statements on data connections, by table (see endOfData)
	keyJobs  chan keyJob
	workers  []*restoreWorker
	dmu      sync.Mutex                // guards owner, ended and the workers' pending and tables
	owner    map[string]*restoreWorker // the data connection of each table
	ended    map[string]bool           // tables whose end-of-data marker has come
	loader   *loader
	mainLoad loadSession // the main connection's session, for loads on it
	mainBuf  []byte
	inflight sync.WaitGroup
	done     atomic.Int64
	targets  *targets
	mu       sync.Mutex
	first    error
}

type restoreWorker struct {
	conn    *sql.Conn
	jobs    chan restoreJob
	applied int
	load    loadSession
	buf     []byte
	room    *semaphore.Weighted // queueBytes, less the SQL of its jobs not finished
	pending int                 // jobs sent and not finished (under restoreExec.dmu)
	tables  int                 // tables given to it whose end-of-data marker has not come (under restoreExec.dmu)
}

type restoreJob struct {
	it      restoreItem
	num     int64
	session []string
	table   *sync.WaitGroup // done with the job (see track)
	size    int64           // taken from the worker's room
}

func (e *restoreExec) fail(err error) {
	e.mu.Lock()
	if e.first == nil {
		e.first = err
	}
	e.mu.Unlock()
	e.cancel(err)
}

func (e *restoreExec) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

func (e *restoreExec) failed() bool { return e.err() != nil }

func (e *restoreExec) stmtErr(num int64, it restoreItem, err error) error {
	return fmt.Errorf("restore: statement %d at line %d (database %s): %w; statement: %s",
		num, it.st.Line, sqltext.CommentIdent(it.db), err, sqltext.ExcerptIn(it.st.SQL, it.lex))
}

func isSessionStatement(s string, l sqltext.LexState) bool {
	ref, ok := databaseRef(s, l)
	if ok && ref.kind == "USE" {
		return true
	}
	t := s
	if strings.HasPrefix(t, "/*!") {
		t = strings.TrimLeft(t[3:], "0123456789")
	}
	t = strings.TrimLeft(t, " \t\r\n")
	return len(t) > 4 && strings.EqualFold(t[:4], "SET ")
}

func (e *restoreExec) run(it restoreItem) {
	num := it.num
	if it.data && e.threads > 1 {
		if len(e.workers) == 0 {
			for range e.threads {
				c, err := e.db.Conn(e.ctx)
				if err != nil {
					e.fail(fmt.Errorf("restore: open data connection: %w", err))
					return
				}
				w := &restoreWorker{conn: c, jobs: make(chan restoreJob, workerQueue), room: semaphore.NewWeighted(queueBytes)}
				e.workers = append(e.workers, w)
				go e.work(w)
			}
		}
		w := e.pick(it)
		e.inflight.Add(1)
		tw := e.track(it)
		undo := func() { // cancelled: the job never reaches w
			e.release(w)
			tw.Done()
			e.inflight.Done()
		}
		size := int64(min(len(it.st.SQL), queueBytes))
		if w.room.Acquire(e.ctx, size) != nil {
			undo()
			return
		}
		select {
		case w.jobs <- restoreJob{it: it, num: num, session: e.session, table: tw, size: size}:
		case <-e.ctx.Done():
			w.room.Release(size)
			undo()
		}
		return
	}
	if it.endOf != "" {
		e.tableEnded(it.endOf)
		e.endOfData(it)
		return
	}
	e.inflight.Wait() // barrier: data connections idle
	if e.failed() {
		return
	}
	if len(e.keys) > 0 && !it.data && !keepsKeysDeferred(it.st.SQL, it.lex, e.keys) {
		e.addKeys()
		if e.failed() {
			return
		}
	}
	if e.ops && it.target != "" {
		e.deferKeysOf(&it)
	}
	if it.createDB != "" {
		if err := e.targets.prepare(e.ctx, e.main, it.createDB); err != nil {
			e.fail(err)
			return
		}
	}
	if it.data {
		var err error
		if e.mainBuf, err = e.execData(e.main, &e.mainLoad, e.mainBuf, it); err != nil {
			e.fail(e.stmtErr(num, it, err))
			return
		}
		e.done.Add(1)
		return
	}
	if _, err := e.main.ExecContext(e.ctx, it.st.SQL); err != nil {
		e.fail(e.stmtErr(num, it, err))
		return
	}
	if it.createDB != "" {
		e.targets.confirm(it.createDB)
	}
	e.done.Add(1)
	if isSessionStatement(it.st.SQL, it.lex) {
		e.session = append(e.session, it.st.SQL)
		e.mainLoad.checked = false
	} else {
		e.loader.invalidate()
	}
}

// addKeys runs every deferred ALTER TABLE … ADD KEY still waiting (see
// buildIndexes) and waits for them.
func (e *restoreExec) addKeys() {
	keys := e.keys
	e.keys = nil
	for _, k := range keys {
		e.buildIndexes(k, nil)
	}
	e.inflight.Wait()
}

// finish adds the keys still deferred, waits for the data connections and
// closes them.
func (e *restoreExec) finish() {
	e.inflight.Wait()
	if len(e.keys) > 0 && !e.failed() {
		e.addKeys()
	}
	if e.keyJobs != nil {
		close(e.keyJobs)
	}
	for _, w := range e.workers {
		close(w.jobs)
		w.conn.Close()
	}
}

// renamer selects and renames databases in a statement stream.
type renamer struct {
	m       map[string]string
	current string // database selected by the last USE/CREATE DATABASE (source name)
	active  bool   // statements of the current database are kept
	inDB    bool   // a database context has been entered
	seen    map[string]bool
	targets []string
	// alias, when set, gives the name a target database is written under
	// (--replace builds a non-empty target under a temporary name, see
	// replace.go); aliases remembers its answers.
	alias   func(target string) (string, error)
	aliases map[string]string
}

func newRenamer(m map[string]string) (*renamer, error) {
	for k, v := range m {
		if k == "" || v == "" {
			return nil, fmt.Errorf("database mapping %q=%q: both names are required", k, v)
		}
	}
	return &renamer{m: m, seen: map[string]bool{}, active: true}, nil
}

func (r *renamer) missing() []string {
	var out []string
	for k := range r.m {
		if !r.seen[k] {
			out = append(out, sqltext.QuoteString(k))
		}
	}
	slices.Sort(out)
	return out
}

// target is the name the current database is written under.
func (r *renamer) target() string {
	dst, ok := r.m[r.current]
	if !ok {
		dst = r.current
	}
	if a, ok := r.aliases[dst]; ok {
		return a
	}
	return dst
}

// written is the name target database dst is written under: its alias,
// else dst.
func (r *renamer) written(dst string) (string, error) {
	if r.alias == nil {
		return dst, nil
	}
	if a, ok := r.aliases[dst]; ok {
		return a, nil
	}
	a, err := r.alias(dst)
	if err != nil {
		return "", err
	}
	if r.aliases == nil {
		r.aliases = map[string]string{}
	}
	r.aliases[dst] = a
	return a, nil
}

func (r *renamer) addTarget(name string) {
	if !slices.Contains(r.targets, name) {
		r.targets = append(r.targets, name)
	}
}

// rewrite returns the statement to execute and whether to execute it.
func (r *renamer) rewrite(stmt string, l sqltext.LexState) (string, bool, error) {
	ref, ok := databaseRef(stmt, l)
	if !ok {
		// Statements before any database context (the header) always run.
		return stmt, r.active || !r.inDB, nil
	}
	r.inDB = true
	dst, mapped := r.m[ref.name]
	if len(r.m) == 0 {
		dst, mapped = ref.name, true
	}
	if ref.kind == "USE" || ref.kind == "CREATE" {
		r.current = ref.name
		r.active = mapped
	}
	if !mapped {
		return "", false, nil
	}
	r.seen[ref.name] = true
	if ref.kind == "USE" || ref.kind == "CREATE" {
		r.addTarget(dst)
	}
	w, err := r.written(dst)
	if err != nil {
		return "", false, err
	}
	if len(r.m) == 0 && w == dst {
		return stmt, true, nil
	}
	return stmt[:ref.start] + sqltext.QuoteIdent(w) + stmt[ref.end:], true, nil
}

type dbRef struct {
	kind       string // USE, CREATE, DROP, ALTER
	name       string
	start, end int // byte range of the identifier in the statement
}

// databaseRef recognises USE db, CREATE/DROP/ALTER DATABASE|SCHEMA db
// (IF [NOT] EXISTS, versioned comments and quoting as the server reads
// them in a session in state l).
func databaseRef(s string, l sqltext.LexState) (dbRef, bool) {
	var ref dbRef
	// a cheap look at the first word before reading the statement
	p := 0
	skipSpace := func() {
		for p < len(s) && sqltext.IsSpace(s[p]) {
			p++
		}
	}
	skipSpace()
	if strings.HasPrefix(s[p:], "/*!") || strings.HasPrefix(s[p:], "/*M!") {
		p += strings.IndexByte(s[p:], '!') + 1
		for p < len(s) && s[p] >= '0' && s[p] <= '9' {
			p++
		}
		skipSpace()
	}
	w := p
	for w < len(s) && (s[w] >= 'a' && s[w] <= 'z' || s[w] >= 'A' && s[w] <= 'Z') {
		w++
	}
	switch strings.ToUpper(s[p:w]) {
	case "USE", "CREATE", "DROP", "ALTER":
	default:
		return ref, false
	}
	toks, err := sqltext.TokenizeIn(s, l)
	if err != nil || len(toks) < 2 {
		return ref, false
	}
	i := 1
	switch {
	case toks[0].Is("USE"):
		ref.kind = "USE"
	case toks[0].Is("CREATE", "DROP", "ALTER") && toks[1].Is("DATABASE", "SCHEMA"):
		ref.kind = strings.ToUpper(toks[0].Text)
		i = 2
		if ref.kind == "CREATE" && guard.MatchWords(toks[i:], []string{"IF", "NOT", "EXISTS"}) {
			i += 3
		} else if ref.kind == "DROP" && guard.MatchWords(toks[i:], []string{"IF", "EXISTS"}) {
			i += 2
		}
	default:
		return ref, false
	}
	if i >= len(toks) || !sqltext.IsName(toks[i]) {
		return ref, false
	}
	t := toks[i]
	if ref.kind == "ALTER" && t.Is("DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "ENCRYPTION", "READ", "COMMENT", "UPGRADE") {
		return ref, false // ALTER DATABASE without a name: the current one
	}
	ref.name, ref.start, ref.end = t.Text, t.Off, t.End
	return ref, true
}
