package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// Temporary reports a 4xx reply: trying again later may work.
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// ReplyError is a reply other than the one a command expects.
type ReplyError struct {
	Cmd   string // the command, e.g. "MAIL FROM", "STARTTLS", "greeting"
	Reply Reply
}

func (e *ReplyError) Error() string { return fmt.Sprintf("smtp %s: server replied %s", e.Cmd, e.Reply) }

// ErrNoStartTLS is returned by StartTLS when the server does not offer it.
var ErrNoStartTLS = errors.New("the server does not offer STARTTLS")

// Client is one SMTP connection. It is not safe for concurrent use.
type Client struct {
	conn     net.Conn
	s        *Session
	host     string // the server's host name (for TLS ServerName)
	ext      map[string]string
	tlsState *tls.ConnectionState
	stop     func() bool // ends the context watch
	Greeting Reply
}

// Dial connects to addr (host:port), reads the greeting and sends EHLO
// helo (HELO when EHLO is refused). ctx bounds the dial and every later
// command until Close.
func Dial(ctx context.Context, addr, helo string) (*Client, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("smtp %s: %w", addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	c := &Client{conn: conn, s: NewSession(conn), host: host}
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }) // a cancel unblocks any read
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if c.Greeting, err = c.read("greeting", 220); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Hello(helo); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// read reads one reply and checks its code.
func (c *Client) read(cmd string, want int) (Reply, error) {
	r, err := c.s.Read()
	return check(cmd, want, r, err)
}

// check turns a reply with another code than want into a ReplyError.
func check(cmd string, want int, r Reply, err error) (Reply, error) {
	if err != nil {
		return r, fmt.Errorf("smtp %s: %w", cmd, err)
	}
	if r.Code != want && (want != 250 || r.Code != 251) { // 251: user not local, will forward
		return r, &ReplyError{Cmd: cmd, Reply: r}
	}
	return r, nil
}

// Cmd sends one command line and reads its reply, which must have the code
// want. The command's first word names it in errors.
func (c *Client) Cmd(want int, format string, args ...any) (Reply, error) {
	line := fmt.Sprintf(format, args...)
	name, _, _ := strings.Cut(line, " ")
	r, err := c.s.Cmd(line)
	return check(name, want, r, err)
}

// Hello sends EHLO (HELO when EHLO is refused) and records the extensions.
func (c *Client) Hello(name string) error {
	if name == "" {
		name = "localhost"
	}
	r, err := c.Cmd(250, "EHLO %s", name)
	if err != nil {
		var re *ReplyError
		if !errors.As(err, &re) {
			return err
		}
		if _, err := c.Cmd(250, "HELO %s", name); err != nil {
			return err
		}
		c.ext = map[string]string{}
		return nil
	}
	c.ext = map[string]string{}
	for _, l := range r.Lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// Extension reports whether the server announced ext (e.g. "STARTTLS",
// "SIZE") in its EHLO reply, and the extension's parameters.
func (c *Client) Extension(ext string) (bool, string) {
	v, ok := c.ext[strings.ToUpper(ext)]
	return ok, v
}

// StartTLS upgrades the connection with cfg (its ServerName defaults to the
// host dialled) and says EHLO again. The handshake's verification is cfg's:
// with the zero InsecureSkipVerify the chain and the name are verified.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config, helo string) (tls.ConnectionState, error) {
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return tls.ConnectionState{}, ErrNoStartTLS
	}
	if _, err := c.Cmd(220, "STARTTLS"); err != nil {
		return tls.ConnectionState{}, err
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = c.host
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, fmt.Errorf("smtp STARTTLS handshake with %s: %w", cfg.ServerName, err)
	}
	c.conn = tc
	c.s = NewSession(tc)
	st := tc.ConnectionState()
	c.tlsState = &st
	return st, c.Hello(helo)
}

// TLS is the connection's TLS state (nil before StartTLS).
func (c *Client) TLS() *tls.ConnectionState { return c.tlsState }

// Send delivers one message: MAIL FROM, RCPT TO for each recipient, DATA.
// msg is the message with CRLF or LF line ends; dots are stuffed here.
func (c *Client) Send(from string, to []string, msg []byte) (Reply, error) {
	if _, err := c.Cmd(250, "MAIL FROM:<%s>", from); err != nil {
		return Reply{}, err
	}
	for _, r := range to {
		if _, err := c.Cmd(250, "RCPT TO:<%s>", r); err != nil {
			return Reply{}, err
		}
	}
	if _, err := c.Cmd(354, "DATA"); err != nil {
		return Reply{}, err
	}
	bw := bufio.NewWriter(c.conn)
	w := textproto.NewWriter(bw).DotWriter()
	if _, err := w.Write(msg); err != nil {
		return Reply{}, fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return Reply{}, fmt.Errorf("smtp DATA: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return Reply{}, fmt.Errorf("smtp DATA: %w", err)
	}
	return c.read("DATA", 250)
}

// Quit says QUIT and closes the connection.
func (c *Client) Quit() error {
	_, err := c.Cmd(221, "QUIT")
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection without QUIT.
func (c *Client) Close() error {
	c.stop()
	return c.conn.Close()
}
