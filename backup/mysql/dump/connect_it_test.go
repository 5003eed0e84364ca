package dump

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/mysqltest"
	"github.com/opsteam/ops/backup/mysql/sqltext"
	"github.com/opsteam/ops/internal/testenv"
)

// stallProxy forwards loopback TCP connections to a server. Once limit
// bytes came from the server (over all connections) it stalls: it stops
// forwarding in both directions but keeps every connection open, like a
// SIGSTOPped server or a hung middlebox. With freezeNew, connections
// accepted after that get no byte either (the whole server looks stopped);
// without it they are forwarded normally (only the old paths are stuck).
type stallProxy struct {
	ln        net.Listener
	target    string
	limit     int64
	freezeNew bool

	fromServer atomic.Int64
	stalled    chan struct{}
	stallOnce  sync.Once
	mu         sync.Mutex
	conns      []net.Conn
	stalledAt  time.Time
}

func newStallProxy(t *testing.T, target string, limit int64, freezeNew bool) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, limit: limit, freezeNew: freezeNew, stalled: make(chan struct{})}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

func (p *stallProxy) addr() (string, int) {
	a := p.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

func (p *stallProxy) isStalled() bool {
	select {
	case <-p.stalled:
		return true
	default:
		return false
	}
}

func (p *stallProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *stallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *stallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		if p.freezeNew && p.isStalled() {
			continue // accepted, never answered
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(s)
		// Connections made after the stall (without freezeNew) are not
		// affected by it.
		fresh := p.isStalled()
		go p.pipe(s, c, false, fresh) // client → server
		go p.pipe(c, s, true, fresh)  // server → client
	}
}

// pipe copies src to dst until the proxy stalls; then it stops reading
// (unless fresh: a connection made after the stall).
func (p *stallProxy) pipe(dst, src net.Conn, fromServer, fresh bool) {
	if fresh {
		io.Copy(dst, src)
		return
	}
	buf := make([]byte, 16<<10)
	for {
		if p.isStalled() {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			if fromServer && p.fromServer.Add(int64(n)) > p.limit {
				p.stallOnce.Do(func() {
					p.mu.Lock()
					p.stalledAt = time.Now()
					p.mu.Unlock()
					close(p.stalled)
				})
				return // these bytes are never delivered
			}
			if p.isStalled() {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func sourceTCP(t *testing.T) string {
	return testenv.Getenv("OPS_IT_MYSQL_ADDR", "127.0.0.1:3306")
}

// syncBuffer is a log sink for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDumpStalledServer: a dump through a proxy that freezes mid-dump
// (server and new connections: a stopped server) fails instead of hanging,
// after about twice the timeout; and one whose old connections freeze while
// the server still answers (a stuck network path) fails too, and the
// stuck sessions are killed on the server.
func TestDumpStalledServer(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.FaultDB(t, 60000) // ~7 MB of SQL
	for _, tc := range []struct {
		name      string
		freezeNew bool
		wantLog   string
	}{
		{"stopped server", true, "did not answer a new connection"},
		{"stuck path", false, "network path to it stalled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newStallProxy(t, sourceTCP(t), 1<<20, tc.freezeNew)
			host, port := p.addr()
			var logs syncBuffer
			m := conn.Config{Host: host, Port: port, User: "root", Timeout: time.Second, LockWaitTimeout: 10 * time.Second, TLS: conn.TLS{Mode: "disabled"}}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			start := time.Now()
			_, err := Dump(ctx, DumpOptions{MySQL: m, Databases: []string{db}, Threads: 2, ChunkRows: 5000, Compression: "none",
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}, io.Discard)
			end := time.Now()
			if err == nil {
				t.Fatalf("Dump succeeded through a stalled proxy (%d bytes from the server)", p.fromServer.Load())
			}
			if ctx.Err() != nil {
				t.Fatalf("Dump hung until the test's deadline: %v", err)
			}
			if !p.isStalled() {
				t.Fatalf("Dump failed before the proxy stalled: %v", err)
			}
			p.mu.Lock()
			stalledAt := p.stalledAt
			p.mu.Unlock()
			t.Logf("timeout 1s: dump failed %s after the stall (%s in all): %v", end.Sub(stalledAt).Round(time.Millisecond), end.Sub(start).Round(time.Millisecond), err)
			if !strings.Contains(logs.String(), "mysql server stalled") || !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log does not explain the stall (want %q):\n%s", tc.wantLog, logs.String())
			}
			if !tc.freezeNew {
				// The stuck session was killed on the server.
				id := regexp.MustCompile(`connection_id=(\d+)`).FindStringSubmatch(logs.String())
				if id == nil {
					t.Fatalf("no connection id in the log:\n%s", logs.String())
				}
				// A killed session leaves the process list once the server
				// notices (a moment later): wait for that, boundedly.
				s := mysqltest.NewSession(t, mysqltest.OpenDB(t, mysqltest.SrcMySQL()))
				n := ""
				for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
					if n = s.One("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + id[1] + " AND COMMAND <> 'Killed'"); n == "0" {
						break
					}
				}
				if n != "0" {
					t.Errorf("session %s still on the server (not killed) 20s after the stall was detected", id[1])
				}
			}
		})
	}
}

// TestLongStatementNotCut: a statement that runs longer than the timeout
// (the server busy, not stalled) completes.
func TestLongStatementNotCut(t *testing.T) {
	testenv.RequireIT(t)
	addr := sourceTCP(t)
	h, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)
	var logs syncBuffer
	m := conn.Config{Host: h, Port: port, User: "root", Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := conn.Connect(ctx, m, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	var v int
	if err := db.QueryRowContext(ctx, "SELECT SLEEP(3.5)").Scan(&v); err != nil {
		t.Fatalf("SELECT SLEEP(3.5) with timeout 1s: %v", err)
	}
	t.Logf("SELECT SLEEP(3.5) took %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "busy with the session") {
		t.Errorf("no probe logged:\n%s", logs.String())
	}
	// Cancelling still aborts at once.
	cctx, ccancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer ccancel()
	err = db.QueryRowContext(cctx, "SELECT SLEEP(20)").Scan(&v)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled SLEEP(20): %v", err)
	}
}

// TestConnectStalledProxy: Connect through a frozen proxy fails within
// about the timeout.
func TestConnectStalledProxy(t *testing.T) {
	testenv.RequireIT(t)
	p := newStallProxy(t, sourceTCP(t), -1, true) // stalls at the first byte
	host, port := p.addr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	db, err := conn.Connect(ctx, conn.Config{Host: host, Port: port, User: "root", Timeout: 2 * time.Second}, nil)
	if err == nil {
		db.Close()
		t.Fatal("connected through a frozen proxy")
	}
	var se *conn.StallError
	if ctx.Err() != nil || !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	t.Logf("timeout 2s: Connect failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// TestDumpLockWaitLongerThanTimeout: FLUSH TABLES WITH READ LOCK may wait
// (up to lock_wait_timeout) longer than the timeout: the dump waits for the
// lock and succeeds once it is free.
func TestDumpLockWaitLongerThanTimeout(t *testing.T) {
	testenv.RequireIT(t)
	db := mysqltest.FaultDB(t, 100)
	src := mysqltest.OpenDB(t, mysqltest.SrcMySQL())
	holder := mysqltest.NewSession(t, src)
	holder.Exec("LOCK TABLES " + sqltext.QuoteIdent(db) + ".t WRITE")
	released := make(chan struct{})
	go func() {
		time.Sleep(3 * time.Second)
		holder.Conn.ExecContext(context.Background(), "UNLOCK TABLES")
		close(released)
	}()
	m := mysqltest.SrcMySQL()
	m.Timeout = time.Second
	m.LockWaitTimeout = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := Dump(ctx, DumpOptions{Threads: 2, MySQL: m, Databases: []string{db}, Consistency: ConsistencyLock}, io.Discard)
	<-released
	if err != nil {
		t.Fatalf("Dump waiting 3s for the lock with timeout 1s: %v", err)
	}
	if res.ConsistencyMode != ModeLock {
		t.Errorf("mode %s", res.ConsistencyMode)
	}
	t.Logf("dump waited for the lock and finished after %s", time.Since(start).Round(time.Millisecond))
}
