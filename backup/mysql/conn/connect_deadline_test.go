package conn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// muteServer accepts TCP connections on loopback; greet says whether it
// sends a server greeting first. It never sends anything else.
func muteServer(t *testing.T, greet bool) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if greet {
				c.Write(greeting(4242))
			}
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// greeting is a MariaDB 10.11 protocol-10 handshake packet (no TLS offered).
func greeting(id uint32) []byte {
	var p bytes.Buffer
	p.WriteByte(10)
	p.WriteString("5.5.5-10.11.19-MariaDB\x00")
	binary.Write(&p, binary.LittleEndian, id)
	p.WriteString("abcdefgh\x00")     // auth data 1, filler
	p.Write([]byte{0xff, 0xf7})       // capabilities (low): no SSL
	p.WriteByte(45)                   // charset
	p.Write([]byte{0x02, 0x00})       // status
	p.Write([]byte{0xff, 0x81})       // capabilities (high)
	p.WriteByte(21)                   // auth data length
	p.Write(make([]byte, 10))         // reserved
	p.WriteString("ijklmnopqrst\x00") // auth data 2
	p.WriteString("mysql_native_password\x00")
	hdr := []byte{byte(p.Len()), byte(p.Len() >> 8), byte(p.Len() >> 16), 0}
	return append(hdr, p.Bytes()...)
}

// TestConnectTimeout: a server that accepts and never answers the handshake
// (or greets and then falls silent) fails Connect after about the timeout,
// with an error that names the address and the timeout.
func TestConnectTimeout(t *testing.T) {
	for _, greet := range []bool{false, true} {
		name := "silent"
		if greet {
			name = "greets then silent"
		}
		t.Run(name, func(t *testing.T) {
			host, port := muteServer(t, greet)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			m := Config{Host: host, Port: port, User: "u", Timeout: time.Second}
			start := time.Now()
			db, err := Connect(ctx, m, nil)
			took := time.Since(start)
			if err == nil {
				db.Close()
				t.Fatal("Connect succeeded")
			}
			if ctx.Err() != nil {
				t.Fatalf("Connect was only stopped by the test's deadline after %s: %v", took, err)
			}
			t.Logf("Connect failed after %s: %v", took, err)
			addr := net.JoinHostPort(host, strconv.Itoa(port))
			var se *StallError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "mysql.timeout") {
				t.Errorf("error does not name the address %s and the timeout: %v", addr, err)
			}
		})
	}
}

func TestSniffGreeting(t *testing.T) {
	g := greeting(0x01020304)
	for _, step := range []int{1, 3, 7, len(g)} {
		c := &deadlineConn{}
		for i := 0; i < len(g); i += step {
			c.sniff(g[i:min(i+step, len(g))])
		}
		if !c.sniffed || c.id != 0x01020304 || c.greeting != nil {
			t.Errorf("step %d: sniffed %v id %#x", step, c.sniffed, c.id)
		}
	}
	c := &deadlineConn{}
	c.sniff([]byte{5, 0, 0, 0, 0xff, 0x10, 0x04, 'x', 'y'}) // an error packet
	if !c.sniffed || c.id != 0 {
		t.Errorf("error packet: sniffed %v id %d", c.sniffed, c.id)
	}
	c = &deadlineConn{}
	c.sniff(append([]byte{0, 2, 0, 0, 10}, bytes.Repeat([]byte{'v'}, 600)...)) // no NUL: give up
	if !c.sniffed || c.id != 0 {
		t.Errorf("endless version: sniffed %v id %d", c.sniffed, c.id)
	}
}

// TestStallBeforeGreetingLogs: a session without a greeting fails at once
// and says so in the log.
func TestStallBeforeGreetingLogs(t *testing.T) {
	var logs bytes.Buffer
	tr := &transport{timeout: time.Second, addr: "db:3306", log: slog.New(slog.NewTextHandler(&logs, nil))}
	c := &deadlineConn{tr: tr, done: make(chan struct{})}
	err := c.stalled("read", 2*time.Second, nil)
	var se *StallError
	if !errors.As(err, &se) || se.Op != "read" || !strings.Contains(err.Error(), "db:3306: read stalled for 2s: no greeting") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(logs.String(), "mysql server stalled") {
		t.Errorf("log = %s", logs.String())
	}
}

// chunkConn is a net.Conn whose reads return the given chunks, then err.
type chunkConn struct {
	net.Conn
	chunks [][]byte
	err    error
	reads  int
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }
func (c *chunkConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.chunks) == 0 {
		return 0, c.err
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// The read-ahead returns every byte once, in order, whatever the sizes of
// the reads on either side, then the error that ended the stream; a read
// of readAhead bytes or more goes to the socket itself.
func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*readAhead+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, sizes := range [][2]int{{4096, 1 << 20}, {1, 5000}, {4096, 100}, {readAhead, readAhead}, {readAhead + 1, 3}} {
		var chunks [][]byte
		for i := 0; i < len(data); i += sizes[1] {
			chunks = append(chunks, bytes.Clone(data[i:min(i+sizes[1], len(data))]))
		}
		raw := &chunkConn{chunks: chunks, err: errors.New("reset by peer")}
		c := &deadlineConn{Conn: raw, tr: &transport{timeout: time.Minute}}
		var got []byte
		p := make([]byte, sizes[0])
		var err error
		for err == nil {
			var n int
			n, err = c.Read(p)
			got = append(got, p[:n]...)
		}
		if !bytes.Equal(got, data) || err == nil || err.Error() != "reset by peer" {
			t.Errorf("reads of %d from reads of %d: got %d bytes (equal: %v), then %v", sizes[0], sizes[1], len(got), bytes.Equal(got, data), err)
		}
		if sizes == [2]int{4096, 1 << 20} && raw.reads > len(data)/readAhead+2 {
			t.Errorf("reads of 4096: %d reads from the socket for %d bytes", raw.reads, len(data))
		}
		if sizes[0] >= readAhead && c.rbuf != nil {
			t.Errorf("reads of %d went through the read-ahead buffer", sizes[0])
		}
	}
}
