package smtpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// Reply is one SMTP reply: its code and its text (lines joined by "\n").
type Reply struct {
	Code int
	Text string
}

func (r Reply) String() string {
	return fmt.Sprintf("%d %s", r.Code, strings.ReplaceAll(r.Text, "\n", " / "))
}

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
	text     *textproto.Conn
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
	c := &Client{conn: conn, text: textproto.NewConn(conn), host: host}
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
	code, msg, err := c.text.ReadResponse(0)
	r := Reply{Code: code, Text: msg}
	if err != nil {
		var pe textproto.ProtocolError
		if errors.As(err, &pe) || code == 0 {
			return r, fmt.Errorf("smtp %s: %w", cmd, err)
		}
	}
	if code != want && (want != 250 || code != 251) { // 251: user not local, will forward
		return r, &ReplyError{Cmd: cmd, Reply: r}
	}
	return r, nil
}

// Cmd sends one command line and reads its reply, which must have the code
// want. The command's first word names it in errors.
func (c *Client) Cmd(want int, format string, args ...any) (Reply, error) {
	line := fmt.Sprintf(format, args...)
	if strings.ContainsAny(line, "\r\n") {
		return Reply{}, fmt.Errorf("smtp: refusing a command with a line break: %q", line)
	}
	name, _, _ := strings.Cut(line, " ")
	if err := c.text.PrintfLine("%s", line); err != nil {
		return Reply{}, fmt.Errorf("smtp %s: %w", name, err)
	}
	return c.read(name, want)
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
	lines := strings.Split(r.Text, "\n")
	for _, l := range lines[1:] {
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
	c.text = textproto.NewConn(tc)
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
	w := c.text.DotWriter()
	if _, err := w.Write(msg); err != nil {
		return Reply{}, fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
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
