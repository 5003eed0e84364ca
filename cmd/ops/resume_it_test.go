package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

// cutProxy is a TCP proxy in front of the real Swift that can cut the
// storage off: once armed, when the bytes it passed from Swift reach a
// threshold it closes every connection and its listener (new connections
// are refused), and listens again on the same address after an outage.
// The real Swift is never touched.
type cutProxy struct {
	t      *testing.T
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	cutAt  int64 // 0 = not armed
	outage time.Duration
	cuts   int
	downAt time.Time
	upAt   time.Time
	up     chan struct{} // closed when the proxy listens again after the last cut

	sent atomic.Int64 // bytes from Swift to the client since armed
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	go p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.cutAt = 0
		p.closeAll()
	})
	return p
}

// arm makes the proxy cut the storage off for outage once Swift has sent
// n more bytes.
func (p *cutProxy) arm(n int64, outage time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent.Store(0)
	p.cutAt, p.outage = n, outage
}

func (p *cutProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed: the outage, or the end of the test
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // accepted just before the cut
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
			p.count(int64(n))
		}
		if err != nil {
			break
		}
	}
	c.Close()
}

func (p *cutProxy) count(n int64) {
	total := p.sent.Add(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutAt == 0 || total < p.cutAt || p.ln == nil {
		return
	}
	p.cutAt, p.cuts, p.downAt, p.up = 0, p.cuts+1, time.Now(), make(chan struct{})
	p.closeAll()
	time.AfterFunc(p.outage, p.reopen)
}

// closeAll closes the listener and every connection (mu held).
func (p *cutProxy) closeAll() {
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, like a dropped link
		}
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) reopen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Errorf("proxy: listening again on %s: %v", p.addr, err)
		return
	}
	p.ln, p.upAt = ln, time.Now()
	close(p.up)
	go p.serve(ln)
}

// report waits until the storage is back after the last cut, and says how
// many cuts there were and how long the last one lasted.
func (p *cutProxy) report() (cuts int, down time.Duration) {
	p.mu.Lock()
	up := p.up
	p.mu.Unlock()
	if up != nil {
		<-up
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts, p.upAt.Sub(p.downAt)
}

// Swift unreachable for 2 s in the middle of a restore's download (and
// then of a verify's): both go on where the download broke and succeed,
// and the restored table's CHECKSUM TABLE equals the source's (issue 24,
// "A storage blip kills the restore"). The backup is ~24 MiB stored, as a
// Static Large Object of 1 MiB segments; the cut falls at half of it.
func TestSwiftOutageMidDownloadIT(t *testing.T) {
	testenv.RequireIT(t)
	sw := swiftIT{
		auth:      testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
		user:      testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester"),
		keyFile:   testenv.Getenv("OPS_IT_SWIFT_KEY_FILE", "/var/lib/ops-test/swift/tester.key"),
		container: fmt.Sprintf("resume_it_%d", rand.Uint32()),
	}
	au, err := url.Parse(sw.auth)
	if err != nil {
		t.Fatal(err)
	}
	// The storage URL tempauth hands out follows the Host the client
	// asked, so every request goes through the proxy.
	proxy := newCutProxy(t, au.Host)
	proxied := *au
	proxied.Host = proxy.addr

	db, sock, name := itSource(t, "resume",
		"CREATE TABLE {db}.t (id INT PRIMARY KEY, b BLOB)",
		"INSERT INTO {db}.t SELECT seq, RANDOM_BYTES(1024) FROM {db}.seq_1_to_24000") // incompressible
	addr2 := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	db2 := itOpen(t, "root@tcp("+addr2+")/", "scripts/services.sh start mariadb2")
	dst := name + "_restored"
	t.Cleanup(func() {
		db2.Exec("DROP DATABASE IF EXISTS " + dst)
		sw.cli(t, "delete", sw.container)
		sw.cli(t, "delete", sw.container+"_segments")
	})
	host2, port2, _ := strings.Cut(addr2, ":")
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    offsite:
      type: swift
      auth_url: %s
      user: "%s"
      key_file: %s
      container: %s
      segment_size: 1MiB
backup:
  jobs:
    - name: app
      target: offsite
      mysql: {socket: %s, user: root}
      restore_mysql: {host: %s, port: %s, user: root}
      databases: [%s]
`, proxied.String(), sw.user, sw.keyFile, sw.container, sock, host2, port2, name))

	if code, out, stderr := runOps(t, "--config", cfg, "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	_, out, _ := runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var list []struct{ Size int64 }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Size < 20<<20 {
		t.Fatalf("list: %v %s (want one backup of at least 20 MiB)", err, out)
	}

	proxy.arm(list[0].Size/2, 2*time.Second)
	code, out, stderr := runOps(t, "--config", cfg, "backup", "restore", "--job", "app", "--database", name+"="+dst)
	cuts, down := proxy.report()
	t.Logf("restore: exit %d; storage cut %d time(s), down %s\n%s", code, cuts, down.Round(time.Millisecond), stderr)
	if cuts != 1 || down < 2*time.Second {
		t.Fatalf("the storage was cut %d times, down %s: the test did not do what it says", cuts, down)
	}
	if code != 0 {
		t.Errorf("restore through a 2 s storage outage: exit %d\n%s\n%s", code, out, stderr)
	} else {
		if !strings.Contains(stderr, "retrying store operation") || !strings.Contains(stderr, `msg="swift: download resumed"`) {
			t.Errorf("no retry and resumption logged:\n%s", stderr)
		}
		var c1, c2 sql.NullString
		var n1, n2 string
		if err := db.QueryRow("CHECKSUM TABLE "+name+".t").Scan(&n1, &c1); err != nil {
			t.Fatal(err)
		}
		if err := db2.QueryRow("CHECKSUM TABLE "+dst+".t").Scan(&n2, &c2); err != nil {
			t.Fatal(err)
		}
		if !c1.Valid || c1.String != c2.String {
			t.Fatalf("CHECKSUM TABLE: source %v, restored %v", c1, c2)
		}
		t.Logf("CHECKSUM TABLE: source %s, restored %s", c1.String, c2.String)
	}

	proxy.arm(list[0].Size/2, 2*time.Second)
	code, out, stderr = runOps(t, "--config", cfg, "backup", "verify", "--job", "app")
	cuts, down = proxy.report()
	t.Logf("verify: exit %d; storage cut %d time(s) in all, the last down %s\n%s%s", code, cuts, down.Round(time.Millisecond), out, stderr)
	if cuts != 2 || down < 2*time.Second {
		t.Fatalf("the storage was cut %d times in all, down %s: the test did not do what it says", cuts, down)
	}
	if code != 0 {
		t.Errorf("verify through a 2 s storage outage: exit %d\n%s\n%s", code, out, stderr)
	}
}
