package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// reloadWait bounds every wait of the tests with a fake SMTP server or a
// running `ops serve`: a hang guard, never a performance assertion.
const reloadWait = 30 * time.Second

// syncBuffer is a bytes.Buffer safe for the goroutines of `ops serve`.
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

// heldSMTP is a loopback SMTP server that holds every connection before its
// greeting until the test releases it, then reports the EHLO name the
// client sent and declines STARTTLS (the check fails; that is fine here).
type heldSMTP struct {
	ln    net.Listener
	conns chan *heldConn
	stop  chan struct{} // closed at the end: every held connection is dropped
	once  sync.Once
}

type heldConn struct {
	release chan struct{}
	helo    chan string
}

func newHeldSMTP(t *testing.T) *heldSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &heldSMTP{ln: ln, conns: make(chan *heldConn, 64), stop: make(chan struct{})}
	go s.accept()
	return s
}

func (s *heldSMTP) close() {
	s.once.Do(func() {
		close(s.stop)
		s.ln.Close()
	})
}

func (s *heldSMTP) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		h := &heldConn{release: make(chan struct{}), helo: make(chan string, 1)}
		select {
		case s.conns <- h:
			go s.talk(c, h)
		default:
			c.Close()
		}
	}
}

func (s *heldSMTP) talk(c net.Conn, h *heldConn) {
	defer c.Close()
	select {
	case <-h.release:
	case <-s.stop:
		return
	}
	fmt.Fprint(c, "220 held.test ESMTP\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSpace(line)
		switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
		case "EHLO", "HELO":
			select {
			case h.helo <- strings.TrimSpace(line[4:]):
			default:
			}
			fmt.Fprint(c, "250 held.test\r\n")
		case "QUIT":
			fmt.Fprint(c, "221 2.0.0 bye\r\n")
			return
		default:
			fmt.Fprint(c, "502 5.5.2 not implemented\r\n")
		}
	}
}

// next waits for the next connection of a scheduled check.
func (s *heldSMTP) next(t *testing.T, what string) *heldConn {
	t.Helper()
	select {
	case h := <-s.conns:
		return h
	case <-time.After(reloadWait):
		t.Fatalf("%s: no connection within %s", what, reloadWait)
	}
	return nil
}

// heloOf releases a held connection and returns the EHLO name it got.
func heloOf(t *testing.T, h *heldConn, what string) string {
	t.Helper()
	close(h.release)
	select {
	case name := <-h.helo:
		return name
	case <-time.After(reloadWait):
		t.Fatalf("%s: no EHLO within %s", what, reloadWait)
	}
	return ""
}
