//go:build linux

package tlscheck

import (
	"net"
	"syscall"
)

// quickAckConn re-arms TCP_QUICKACK after every read. Postfix's smtpd does
// not set TCP_NODELAY; after the TLS handshake a reply that leaves it in two
// writes waits, by Nagle's algorithm, for the ACK of the first, which Linux
// delays by 40 ms. Acknowledging at once makes a check 10-20 times faster
// against such servers (measured: post-TLS EHLO 44 ms → 0.4 ms).
type quickAckConn struct {
	net.Conn
	rc syscall.RawConn
}

func (c *quickAckConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		_ = c.rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}

func withQuickAck(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{Conn: c, rc: rc}
}
