package replay

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/sqltext"
)

// The batched replay (ModeBatched) is `mariadb-binlog | mariadb
// --binary-mode` with ops as the client, for two savings the stock pipe
// cannot make:
//
//   - Commits: the restored databases are new and private until the
//     restore ends, so consecutive source transactions may share one
//     commit of the target (up to BatchGroups, DefaultBatchBytes) when
//     they are transactional: a MariaDB GTID event flagged transactional,
//     not standalone, DDL or XA, ending with an Xid. The batch's
//     transactions are written to mariadb-binlog as one: the GTID event
//     (BEGIN) of the first, the Xid event (COMMIT) of the last. Anything
//     else (DDL, a statement on a non-transactional table, XA) closes the
//     batch and is applied alone, exactly as the stock pipe does. Batch
//     edges are source transaction edges: a failure rolls the open batch
//     back, and what stays committed is a state the source had.
//   - Round trips: the statements of a batch go to the server in
//     multi-statement packets, as split by clientReader (the stock
//     client's own reading of that text, which the replay filter checked
//     every logged statement against); statements outside a batch go one
//     to a packet, as the client sends them.
//
// Which source event a piece of text belongs to comes from the "# at N"
// lines mariadb-binlog prints before each event, N being the event's
// offset in what ops wrote to it: the replay filter refuses a logged
// statement starting with such a line, so the lines read between
// statements are mariadb-binlog's own. The server's global settings are
// never changed: everything sent is mariadb-binlog's output (session
// settings) and the \C lines' SET NAMES.

// GTID event flags (MariaDB's Gtid_log_event flags2).
const (
	gtidStandalone    = 0x01
	gtidTransactional = 0x04
	gtidDDL           = 0x20
	gtidPreparedXA    = 0x40
	gtidCompletedXA   = 0x80
)

// batchable reports whether a group may share its commit with its
// neighbours: a MariaDB transaction that the source logged as
// transactional (InnoDB only), ending with its Xid event.
func batchable(events [][]byte) bool {
	if len(events) < 2 {
		return false
	}
	first, last := events[0], events[len(events)-1]
	const flags2 = binlog.HeaderLen + 8 + 4 // after seq_no and domain_id
	if len(first) <= flags2 || first[4] != binlog.EventMariaGTID || len(last) < binlog.HeaderLen || last[4] != binlog.EventXID {
		return false
	}
	f := first[flags2]
	if f&gtidTransactional == 0 || f&(gtidStandalone|gtidDDL|gtidPreparedXA|gtidCompletedXA) != 0 {
		return false
	}
	for _, e := range events[1 : len(events)-1] {
		if len(e) < binlog.HeaderLen {
			return false
		}
		switch e[4] {
		case binlog.EventMariaGTID, binlog.EventGTID, binlog.EventAnonymousGTID, binlog.EventXID, binlog.EventXAPrepare:
			return false
		}
	}
	return true
}

// A mark says what the event written at an offset is: part of a batch
// (its statements may share packets), and whether it ends a group (once
// its statements have run, commit is applied on the target).
type mark struct {
	pack   bool
	commit *Applied
	logged bool // (the current event) its ledger row is written
}

// marks are the events written to one file's mysqlbinlog that its output
// has not reached yet, in order.
type marks struct {
	mu sync.Mutex
	q  []markAt
}

type markAt struct {
	off int64
	m   mark
}

func newMarks() *marks { return &marks{} }

func (m *marks) put(off int64, mk mark) {
	m.mu.Lock()
	m.q = append(m.q, markAt{off, mk})
	m.mu.Unlock()
}

// upTo takes the marks before off (passed: mysqlbinlog printed no line
// for them) and the one at off, if any.
func (m *marks) upTo(off int64) (passed []markAt, at *markAt) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := 0
	for i < len(m.q) && m.q[i].off < off {
		i++
	}
	passed = append(passed, m.q[:i]...)
	if i < len(m.q) && m.q[i].off == off {
		a := m.q[i]
		at = &a
		i++
	}
	m.q = m.q[i:]
	if len(m.q) == 0 {
		m.q = nil // let the backing array go
	}
	return passed, at
}

// batch is the Replayer's open batch: its commit event is held until the
// batch closes.
type batch struct {
	open          bool
	groups, bytes int
	commit        []byte
	done          Applied
}

// execer sends statements.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// batchedClient runs mariadb-binlog's output on one session of the
// target.
type batchedClient struct {
	ctx      context.Context
	cancel   context.CancelFunc
	db       *sql.DB
	c        *sql.Conn
	x        execer // c (tests: a recorder)
	text     *binlogText
	max      int // the largest multi-statement packet
	progress func(Applied)
	log      *slog.Logger
	mysql    conn.Config
	ledger   string // the scratch database of the ledger (ops_verify_<tag>_replay)
	connID   int64  // the replay session's
	finished sync.Once

	// the reading goroutine's (one file's output at a time)
	cur   mark
	pack  []byte
	packN int
	first []byte // the pack's first statement (errors)
	// the pack ends with a BINLOG statement: of the plain form (another
	// may join it), of any form (nothing else may follow it)
	packPlain, packRows bool
	err                 error

	mu   sync.Mutex
	done Applied
	fail error
}

// charsetName is what a \C line may name (the client sends SET NAMES cs).
var charsetName = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

func startBatched(ctx context.Context, o ReplayOptions, text *binlogText) (*batchedClient, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := conn.ConnectMultiStatements(ctx, o.MySQL, log)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	cctx, cancel := context.WithCancel(ctx)
	c, err := db.Conn(cctx)
	if err != nil {
		cancel()
		db.Close()
		return nil, err
	}
	var maxPacket int
	var connID int64
	if err := c.QueryRowContext(cctx, "SELECT @@max_allowed_packet, CONNECTION_ID()").Scan(&maxPacket, &connID); err != nil {
		cancel()
		db.Close()
		return nil, fmt.Errorf("replay: reading max_allowed_packet: %w", err)
	}
	b := &batchedClient{ctx: cctx, cancel: cancel, db: db, c: c, x: c, text: text, progress: o.Progress, log: log,
		max: min(4<<20, max(64<<10, maxPacket/2)), mysql: o.MySQL, ledger: "ops_verify_" + conn.ScratchTag() + "_replay", connID: connID}
	if err := b.createLedger(); err != nil {
		cancel()
		db.Close()
		return nil, err
	}
	text.r.onSend, text.r.onCommand = b.statement, b.command
	return b, nil
}

// The ledger is how the batched replay knows, after any failure, which
// source transactions the target committed: each commit of the replay
// writes a row (the groups applied, the source position after them) into
// a scratch database, in the same transaction as the source's changes,
// as MariaDB's replication keeps mysql.gtid_slave_pos. A lost connection
// cannot say whether its last COMMIT happened; the ledger can, once the
// old session is gone. It lives in ops_verify_<tag>_replay (the restore
// account's grants on ops\_verify\_% cover it) and is dropped at the end.

func (b *batchedClient) createLedger() error {
	q := sqltext.QuoteIdent(b.ledger)
	for _, s := range []string{"CREATE DATABASE " + q,
		"CREATE TABLE " + q + ".applied (grp BIGINT UNSIGNED PRIMARY KEY, file VARCHAR(512) NOT NULL, pos BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB"} {
		if _, err := b.c.ExecContext(b.ctx, s); err != nil {
			b.dropLedger(b.c)
			return fmt.Errorf("the batched replay keeps a ledger of its commits in the scratch database %s (grant CREATE, DROP, INSERT, SELECT ON `ops\\_verify\\_%%`.*, or use --replay stock): %w", b.ledger, err)
		}
	}
	return nil
}

// ledgerRow is the statement that records a commit.
func (b *batchedClient) ledgerRow(a *Applied) []byte {
	return fmt.Appendf(nil, "INSERT INTO %s.applied VALUES (%d, %s, %d)", sqltext.QuoteIdent(b.ledger), a.Groups, sqltext.QuoteString(a.End.File), a.End.Pos)
}

func (b *batchedClient) dropLedger(c *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 30*time.Second)
	defer cancel()
	if _, err := c.ExecContext(ctx, "DROP DATABASE IF EXISTS "+sqltext.QuoteIdent(b.ledger)); err != nil {
		b.log.Warn("replay: cannot drop the ledger's scratch database", "database", b.ledger, "err", err)
	}
}

// finish ends the session, once. After a failure it learns from the
// ledger, on a new session once the replay's is gone, what the target
// committed. The ledger is dropped either way.
func (b *batchedClient) finish() {
	b.finished.Do(func() {
		if b.failure() == nil {
			b.dropLedger(b.c)
			b.cancel()
			_ = b.c.Close()
			_ = b.db.Close()
			return
		}
		b.cancel()
		_ = b.c.Close()
		_ = b.db.Close()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 30*time.Second)
		defer cancel()
		db, err := reconnect(ctx, b.mysql, b.log)
		if err != nil {
			b.uncertain(fmt.Errorf("reading the ledger: %w", err))
			b.log.Warn("replay: the ledger's scratch database stays on the target: drop it once it is back", "database", b.ledger)
			return
		}
		defer db.Close()
		c, err := db.Conn(ctx)
		if err != nil {
			b.uncertain(fmt.Errorf("reading the ledger: %w", err))
			return
		}
		defer c.Close()
		defer b.dropLedger(c)
		if err := waitGone(ctx, c, b.connID); err != nil {
			b.uncertain(err)
			return
		}
		var a Applied
		err = c.QueryRowContext(ctx, "SELECT grp, file, pos FROM "+sqltext.QuoteIdent(b.ledger)+".applied ORDER BY grp DESC LIMIT 1").Scan(&a.Groups, &a.End.File, &a.End.Pos)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			a = Applied{}
		case err != nil:
			b.uncertain(fmt.Errorf("reading the ledger: %w", err))
			return
		}
		b.mu.Lock()
		b.done = a
		b.mu.Unlock()
	})
}

// reconnect connects to the target again after a failure, trying for a
// while: the failure may have been the network's.
func reconnect(ctx context.Context, m conn.Config, log *slog.Logger) (*sql.DB, error) {
	wait := 250 * time.Millisecond
	for {
		db, err := conn.Connect(ctx, m, log)
		if err == nil {
			return db, nil
		}
		log.Warn("replay: reconnecting to read the ledger", "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// waitGone ends the replay's old session (KILL) and waits until the
// server has let it go: a COMMIT it was running is then done or undone.
func waitGone(ctx context.Context, c *sql.Conn, id int64) error {
	_, _ = c.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)) // "unknown thread": gone already
	for {
		var n int
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
			return fmt.Errorf("waiting for the replay's session %d to end: %w", id, err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the replay's session %d is still on the server: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// uncertain records why the ledger could not be read: the last batch
// sent may or may not be committed.
func (b *batchedClient) uncertain(err error) {
	b.mu.Lock()
	b.done.Uncertain = err.Error()
	b.mu.Unlock()
}

// run reads one file's mysqlbinlog output and runs it; m are the marks of
// the events written to that mysqlbinlog. After a failure it reads the
// rest without running it (mysqlbinlog must not block on a full pipe).
func (b *batchedClient) run(out io.Reader, m *marks) error {
	b.cur = mark{}
	t := &b.text.r
	err := eachLine(out, func(line []byte) error {
		if b.err != nil {
			return nil
		}
		body := bytes.TrimSuffix(line, []byte("\n"))
		if t.atStart() {
			if at, ok := atOffset(body); ok {
				b.event(at, m)
			} else if bytes.Equal(body, endOfLog) {
				b.endEvent()
				b.cur = mark{}
			} else if len(body) < 80 && gtidLine.Match(bytes.TrimSuffix(body, []byte("\r"))) {
				return nil
			}
		}
		t.line(body)
		if len(t.problems) > 0 {
			b.setErr(fmt.Errorf("the mysql client would misread mysqlbinlog's output: %s", t.problems[0]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if b.err == nil && !t.atStart() {
		b.setErr(fmt.Errorf("mysqlbinlog's output ends inside a statement as the mysql client reads it"))
	}
	b.endEvent()
	b.flush()
	b.cur = mark{}
	return b.err
}

// event starts the text of the event at offset at (a "# at" line).
func (b *batchedClient) event(at int64, m *marks) {
	passed, mk := m.upTo(at)
	if mk == nil {
		return // not an event ops wrote
	}
	for _, p := range passed { // events mysqlbinlog printed no line for: their text (if any) is done
		b.endEvent()
		b.cur = p.m
	}
	b.endEvent()
	b.cur = mk.m
}

// endEvent ends the current event's text: when it ends a group, its
// statements are sent and the group is applied.
func (b *batchedClient) endEvent() {
	if b.cur.commit == nil || b.err != nil {
		return
	}
	if !b.cur.logged { // a statement that commits itself (DDL): its row follows it
		b.cur.logged = true
		b.flush()
		b.exec(string(b.ledgerRow(b.cur.commit)), 1, []byte("the ledger"))
	}
	b.flush()
	if b.err != nil {
		return
	}
	a := *b.cur.commit
	b.cur.commit = nil
	b.mu.Lock()
	b.done = a
	b.mu.Unlock()
	if b.progress != nil {
		b.progress(a)
	}
}

// statement is a statement the client would send. In a batch it waits
// for a packet, with two rules the server imposes:
//
//   - a BINLOG statement that applies rows ends its packet: the server
//     then answers without "more results" for the statements after it
//     (MariaDB 10.11), and the session would be out of step; consecutive
//     BINLOG statements of mariadb-binlog's plain form (BINLOG '…' with
//     base64 only) are joined into one, as the server reads several
//     events from one base64 string;
//   - a statement that is empty to the server (mariadb-binlog's
//     "/*!\C cs *//*!*/;" leaves "/*!*/") is sent alone, as the client
//     sends it: in a packet it would be a syntax error.
func (b *batchedClient) statement(s []byte) {
	if b.err != nil {
		return
	}
	if b.cur.commit != nil && !b.cur.logged && string(s) == "COMMIT" {
		b.cur.logged = true // in the transaction it commits
		b.statement(b.ledgerRow(b.cur.commit))
	}
	if b.cur.pack && len(s) <= b.max/2 && !emptyStatement(s) {
		body, plain := binlogBody(s)
		if plain && b.packPlain && len(b.pack)+len(body) <= b.max {
			b.pack = append(b.pack[:len(b.pack)-1], body...) // before the closing quote
			b.pack = append(b.pack, '\'')
			b.packN++
			return
		}
		if b.packRows || len(b.pack)+len(s)+2 > b.max {
			b.flush()
		}
		if len(b.pack) > 0 {
			b.pack = append(b.pack, ";\n"...)
		} else {
			b.first = append(b.first[:0], s[:min(len(s), 200)]...)
		}
		b.pack = append(b.pack, s...)
		b.packN++
		b.packPlain, b.packRows = plain, plain || mayApplyRows(s)
		return
	}
	b.flush()
	b.exec(string(s), 1, s)
}

var binlogPrefix = []byte("BINLOG '")

// binlogBody is the base64 text of a BINLOG statement in mariadb-binlog's
// plain form (BINLOG '…', base64 and line feeds only between the quotes).
func binlogBody(s []byte) ([]byte, bool) {
	if len(s) < len(binlogPrefix)+1 || !bytes.HasPrefix(s, binlogPrefix) || s[len(s)-1] != '\'' {
		return nil, false
	}
	body := s[len(binlogPrefix) : len(s)-1]
	for _, c := range body {
		if !base64Char[c] {
			return nil, false
		}
	}
	return body, true
}

var base64Char = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n") {
		t[c] = true
	}
	return t
}()

// mayApplyRows reports whether a statement is a BINLOG statement of any
// form ("BINLOG @binlog_fragment_0, …" too). Only mariadb-binlog writes
// them: the replay filter lets no logged statement starting with BINLOG
// through.
func mayApplyRows(s []byte) bool {
	s = bytes.TrimLeft(s, " \t\r\n")
	return len(s) >= 6 && strings.EqualFold(string(s[:6]), "binlog") && (len(s) == 6 || !identChar[s[6]])
}

var identChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
	}
	return t
}()

// emptyStatement reports whether the server reads nothing in s but
// comments (a conditional comment with nothing in it).
func emptyStatement(s []byte) bool {
	if len(s) > 256 || !bytes.HasPrefix(s, []byte("/*")) {
		return false
	}
	toks, err := sqltext.TokenizeIn(string(s), sqltext.LexState{})
	return err == nil && len(toks) == 0
}

// command is a client command the client would run: \C cs is SET NAMES.
func (b *batchedClient) command(cmd string) {
	cs, ok := strings.CutPrefix(cmd, `\C `)
	if !ok || b.err != nil {
		return
	}
	if !charsetName.MatchString(cs) {
		b.setErr(fmt.Errorf("mysqlbinlog's output sets the client character set to %q, which is not a character set name", cs))
		return
	}
	b.flush()
	b.exec("SET NAMES "+cs, 1, []byte(cmd))
}

// flush sends the statements waiting for a packet.
func (b *batchedClient) flush() {
	if len(b.pack) == 0 || b.err != nil {
		return
	}
	b.exec(string(b.pack), b.packN, b.first)
	b.pack, b.packN, b.packPlain, b.packRows = b.pack[:0], 0, false, false
}

func (b *batchedClient) exec(q string, n int, first []byte) {
	_, err := b.x.ExecContext(b.ctx, q)
	if err != nil {
		what := "a replayed statement"
		if n > 1 {
			what = fmt.Sprintf("one of %d replayed statements sent together (the first: %s)", n, sqltext.Excerpt(string(first)))
		} else {
			what += " (" + sqltext.Excerpt(string(first)) + ")"
		}
		b.setErr(fmt.Errorf("the target server refused %s: %w", what, err))
	}
}

func (b *batchedClient) setErr(err error) {
	if b.err != nil {
		return
	}
	b.err = err
	b.mu.Lock()
	b.fail = err
	b.mu.Unlock()
}

// failure is the error that stopped the client (nil while it runs).
func (b *batchedClient) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fail
}

// applied is the last group committed on the target (after a failure,
// as the ledger says).
func (b *batchedClient) applied() Applied {
	b.finish()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// close ends the session after a complete replay.
func (b *batchedClient) close() error {
	b.finish()
	return b.failure()
}

// abort ends the session at once: the server rolls back the open batch.
func (b *batchedClient) abort() {
	b.mu.Lock()
	if b.fail == nil {
		b.fail = errors.New("the replay was stopped")
	}
	b.mu.Unlock()
	b.cancel() // the reading goroutine may be waiting for the server
}
