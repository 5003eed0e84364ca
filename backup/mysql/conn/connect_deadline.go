package conn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// Deadlines. A stalled server (SIGSTOPped, a hung VM, a dead middlebox)
// keeps its TCP connections open: the kernel still acknowledges, so TCP
// keepalive never fires and a read waits forever. A plain per-read timeout
// cannot tell that from a busy server: FLUSH TABLES WITH READ LOCK waits
// up to lock_wait_timeout, CHECKSUM TABLE of a large table or a restore's
// index build sends nothing for minutes. So when a read or a write makes
// no progress for the timeout, the session asks the server from a new
// connection (bounded by the same timeout) what it is doing:
//
//   - no answer: the server is stalled or gone; the session fails.
//   - the session is missing, idle ("Sleep": it sent its reply or waits for
//     our request) or blocked sending to us ("Writing to net"): the network
//     path stalled; after a short last read/write the session fails and is
//     KILLed on the server (it may hold the global read lock).
//   - anything else (a running statement, a lock wait): keep waiting and
//     check again after another timeout.
//
// A stalled server is thus noticed after about twice the timeout.

// graceWait is the last read/write after a probe found the session
// stalled: the reply may have arrived while the probe ran.
const graceWait = 2 * time.Second

// transport dials the sessions of one Connect and probes the server.
type transport struct {
	timeout time.Duration
	addr    string // for messages: host:port or "socket PATH"
	log     *slog.Logger
	base    driver.Connector // the driver's connector (its DialFunc is dial)

	track    bool // keep every session in sessions (for killQueries)
	mu       sync.Mutex
	sessions []*deadlineConn
}

type probeKey struct{}

// dial is the driver's DialFunc: every session's connection is wrapped in a
// deadlineConn; a probe's own connection is not (its context bounds it).
func (tr *transport) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{} // keepalive on (15 s), which also notices a vanished peer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if ctx.Value(probeKey{}) != nil {
		return c, nil
	}
	dc := &deadlineConn{Conn: c, tr: tr, done: make(chan struct{})}
	if tr.track {
		tr.mu.Lock()
		tr.sessions = append(tr.sessions, dc)
		tr.mu.Unlock()
	}
	return dc, nil
}

// KillOnCancel runs killQueries once ctx ends; the returned function
// waits for it to be done (at once when ctx has not ended: it no longer
// runs then).
func (tr *transport) KillOnCancel(ctx context.Context, log *slog.Logger) (wait func()) {
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(killed)
		n, err := tr.killQueries()
		if err != nil {
			log.Warn("stopped: could not end the statements still running on the server", "error", err.Error())
		} else if n > 0 {
			log.Info("stopped: ended the statements still running on the server", "statements", n)
		}
	})
	return func() {
		if !stop() {
			<-killed
		}
	}
}

// killQueries ends, with KILL QUERY from a new connection, the statement
// every session of the pool still runs on the server, and returns how many
// it ended. Cancelling a statement's context only makes the driver close
// its socket: the server goes on with the statement (a wait for another
// session's FLUSH TABLES WITH READ LOCK, a LOAD DATA) and would run it to
// its end after the caller gave up, maybe after a rollback. Sessions the
// server shows idle, or no longer has, are left alone. Bounded by the
// transport's timeout.
func (tr *transport) killQueries() (int, error) {
	tr.mu.Lock()
	var ids []string
	for _, c := range tr.sessions {
		if c.killID != 0 {
			ids = append(ids, strconv.FormatUint(uint64(c.killID), 10))
		}
	}
	tr.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tr.timeout)
	defer cancel()
	db := sql.OpenDB(probeConnector{tr})
	defer db.Close()
	db.SetMaxIdleConns(0)
	dbConn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer dbConn.Close()
	rows, err := dbConn.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Sleep' AND ID IN ("+strings.Join(ids, ",")+")")
	if err != nil {
		return 0, err
	}
	var busy []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		busy = append(busy, id)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, id := range busy {
		_, err := dbConn.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id))
		switch {
		case err == nil:
			n++
		case ErrNo(err) == 1094: // ended meanwhile
		case first == nil:
			first = err
		}
	}
	return n, first
}

// connector bounds each new connection (dial, TLS, login, session setup)
// by the timeout.
type connector struct{ tr *transport }

func (k *connector) Connect(ctx context.Context) (driver.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, k.tr.timeout)
	defer cancel()
	c, err := k.tr.base.Connect(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return nil, &StallError{Addr: k.tr.addr, Op: "connect", Waited: k.tr.timeout,
			Reason: "no complete handshake and login within the timeout (mysql.timeout)"}
	}
	return c, err
}

func (k *connector) Driver() driver.Driver { return k.tr.base.Driver() }

// StallError is a connection given up because the server did not answer in
// time (the timeout of Config.Timeout).
type StallError struct {
	Addr   string        // host:port or "socket PATH"
	Op     string        // connect, read, write
	Waited time.Duration // how long nothing moved
	Reason string
}

func (e *StallError) Error() string {
	return fmt.Sprintf("mysql %s: %s stalled for %s: %s", e.Addr, e.Op, e.Waited.Round(time.Millisecond), e.Reason)
}

// Timeout reports true, like a net.Error deadline.
func (e *StallError) Timeout() bool { return true }

// deadlineConn is the connection of one session (see the package notes
// above). Read and Write are called by the driver's goroutine; Close may
// come from another one (context cancellation).
type deadlineConn struct {
	net.Conn
	tr *transport

	id       uint32 // the server's connection id, from the greeting; 0 until then
	killID   uint32 // id, under tr.mu when tr.track (for killQueries)
	greeting []byte // the first bytes read, until the id is known
	sniffed  bool

	closeOnce sync.Once
	done      chan struct{} // closed by Close: stops a running probe

	rbuf       []byte // read ahead (see Read): rbuf[rpos:rend] not yet returned
	rpos, rend int
	rerr       error // the error of the read that filled rbuf, returned when it is drained
}

// readAhead is how much one read from the socket may bring: the driver
// asks for 4 KiB at a time, so a dump's result rows would otherwise cost a
// system call per 4 KiB.
const readAhead = 64 << 10

func (c *deadlineConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// SyscallConn lets the driver check an idle pooled connection for a close
// by the server (CheckConnLiveness).
func (c *deadlineConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Read returns what an earlier read brought, else reads up to readAhead
// bytes from the socket (with the deadlines of readRaw).
func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.rpos == c.rend && c.rerr == nil && len(p) < readAhead {
		if c.rbuf == nil {
			c.rbuf = make([]byte, readAhead)
		}
		c.rend, c.rerr = c.readRaw(c.rbuf)
		c.rpos = 0
	}
	if c.rpos < c.rend {
		n := copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
		return n, nil
	}
	if err := c.rerr; err != nil {
		c.rerr = nil
		return 0, err
	}
	return c.readRaw(p)
}

func (c *deadlineConn) readRaw(p []byte) (int, error) {
	var waited time.Duration
	for {
		wait := c.tr.timeout
		if !c.sniffed {
			// Before the greeting the connector's context bounds the wait;
			// this is a backstop.
			wait *= 2
		}
		n, err := c.readWithin(p, wait)
		if n > 0 || !isTimeout(err) {
			return n, err
		}
		waited += wait
		var got int
		err = c.stalled("read", waited, func() (bool, error) {
			n, err := c.readWithin(p, graceWait)
			got = n
			if n > 0 || !isTimeout(err) {
				return true, err
			}
			return false, nil
		})
		if got > 0 || err != nil {
			return got, err
		}
	}
}

// readWithin is one Read with a deadline; a timeout that brought data is
// no error.
func (c *deadlineConn) readWithin(p []byte, wait time.Duration) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.sniff(p[:n])
		if isTimeout(err) {
			err = nil
		}
	}
	return n, err
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	written := 0
	var waited time.Duration
	for {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.tr.timeout)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[written:])
		written += n
		if err == nil {
			return written, nil
		}
		if !isTimeout(err) {
			return written, err
		}
		if n > 0 {
			waited = 0 // progress: a slow link, not a stall
			continue
		}
		waited += c.tr.timeout
		if err := c.stalled("write", waited, func() (bool, error) {
			if err := c.Conn.SetWriteDeadline(time.Now().Add(graceWait)); err != nil {
				return false, err
			}
			n, err := c.Conn.Write(p[written:])
			written += n
			if n > 0 || err == nil {
				return true, nil
			}
			if isTimeout(err) {
				return false, nil
			}
			return false, err
		}); err != nil {
			return written, err
		}
		if written == len(p) {
			return written, nil
		}
	}
}

// stalled decides what to do after waited without progress: nil = keep
// waiting (the server is busy with the session, or the last try moved), an
// error = give up. last is one short read or write (moved: it did).
func (c *deadlineConn) stalled(op string, waited time.Duration, last func() (moved bool, err error)) error {
	fail := func(reason string) error {
		e := &StallError{Addr: c.tr.addr, Op: op, Waited: waited, Reason: reason}
		c.tr.log.Warn("mysql server stalled: giving up on the connection", "addr", c.tr.addr, "op", op,
			"waited", e.Waited.Round(time.Millisecond), "reason", reason, "connection_id", c.id)
		return e
	}
	if c.id == 0 {
		return fail("no greeting from the server")
	}
	p := c.tr.probe(c.done, c.id)
	defer p.close()
	select {
	case <-c.done: // closed meanwhile (cancelled): nothing to report
		return net.ErrClosed
	default:
	}
	switch p.verdict {
	case serverBusy:
		c.tr.log.Debug("mysql server busy with the session; waiting on", "addr", c.tr.addr, "op", op,
			"waited", waited.Round(time.Millisecond), "connection_id", c.id, "state", p.detail)
		return nil
	case serverDown:
		return fail(p.detail)
	}
	moved, err := last()
	if err != nil {
		return err
	}
	if moved {
		return nil
	}
	p.kill()
	return fail(p.detail)
}

type verdict int

const (
	serverBusy   verdict = iota // keep waiting
	serverDown                  // no answer from a new connection
	sessionStuck                // the server answers but does not work on the session
)

// probeResult is what a probe found; its connection stays open until close
// so that kill can reuse it.
type probeResult struct {
	verdict verdict
	detail  string
	db      *sql.DB
	conn    *sql.Conn
	id      uint32
	timeout time.Duration
	cancel  context.CancelFunc
}

func (p *probeResult) kill() {
	if p.conn == nil || p.detail == sessionGone {
		return
	}
	// The probe's own context may have run out during the last try.
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	p.conn.ExecContext(ctx, fmt.Sprintf("KILL %d", p.id)) //nolint:errcheck // best effort
}

func (p *probeResult) close() {
	if p.conn != nil {
		p.conn.Close()
	}
	if p.db != nil {
		p.db.Close()
	}
	if p.cancel != nil {
		p.cancel()
	}
}

const sessionGone = "the session no longer exists on the server"

// probeConnector opens probe connections: not wrapped, bounded by their
// context.
type probeConnector struct{ tr *transport }

func (k probeConnector) Connect(ctx context.Context) (driver.Conn, error) {
	return k.tr.base.Connect(context.WithValue(ctx, probeKey{}, true))
}

func (k probeConnector) Driver() driver.Driver { return k.tr.base.Driver() }

// probe looks at session id from a new connection (see the notes at the
// top). done aborts it (the session was closed).
func (tr *transport) probe(done <-chan struct{}, id uint32) *probeResult {
	ctx, cancel := context.WithTimeout(context.Background(), tr.timeout)
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	p := &probeResult{cancel: cancel, id: id, timeout: tr.timeout, verdict: serverBusy}
	p.db = sql.OpenDB(probeConnector{tr})
	p.db.SetMaxIdleConns(0)
	dbConn, err := p.db.Conn(ctx)
	if err != nil {
		var me *gomysql.MySQLError
		if errors.As(err, &me) {
			// It answered (too many connections, access denied...): alive.
			p.detail = "a new connection was refused: " + me.Error()
			return p
		}
		p.verdict = serverDown
		p.detail = fmt.Sprintf("the server did not answer a new connection within %s either", tr.timeout)
		if ctx.Err() == nil {
			p.detail = "a new connection failed: " + err.Error()
		}
		return p
	}
	p.conn = dbConn
	var command, state string
	err = dbConn.QueryRowContext(ctx, fmt.Sprintf(
		"SELECT COMMAND, COALESCE(STATE, '') FROM information_schema.PROCESSLIST WHERE ID = %d", id)).Scan(&command, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		p.verdict, p.detail = sessionStuck, sessionGone
	case err != nil:
		if ctx.Err() != nil {
			p.verdict = serverDown
			p.detail = fmt.Sprintf("the server did not answer a query on a new connection within %s", tr.timeout)
		} else {
			p.detail = "cannot read the process list: " + err.Error()
		}
	case strings.EqualFold(command, "Sleep"):
		p.verdict, p.detail = sessionStuck, "the server shows the session idle: the network path to it stalled"
	case strings.EqualFold(state, "Writing to net") || strings.EqualFold(state, "Sending to client"):
		p.verdict, p.detail = sessionStuck, "the server is blocked sending to us: the network path to it stalled"
	default:
		p.detail = command + ": " + state
	}
	return p
}

// sniff takes the connection id from the server's greeting (protocol 10:
// 3-byte length, sequence, 0x0a, NUL-terminated version, 4-byte id).
func (c *deadlineConn) sniff(b []byte) {
	if c.sniffed {
		return
	}
	c.greeting = append(c.greeting, b...)
	g := c.greeting
	if len(g) < 5 {
		return
	}
	if g[4] != 10 { // an error packet or an old protocol: no id
		c.sniffed, c.greeting = true, nil
		return
	}
	end := -1
	for i := 5; i < len(g); i++ {
		if g[i] == 0 {
			end = i
			break
		}
	}
	switch {
	case end >= 0 && len(g) >= end+5:
		c.id = binary.LittleEndian.Uint32(g[end+1 : end+5])
		c.sniffed, c.greeting = true, nil
		if c.tr != nil && c.tr.track {
			c.tr.mu.Lock()
			c.killID = c.id
			c.tr.mu.Unlock()
		}
	case len(g) > 512:
		c.sniffed, c.greeting = true, nil
	}
}
