package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
)

// fakeServer answers one connection with a script: for each line the
// client sends, the reply to give; it records what it received.
func fakeServer(t *testing.T, greeting string, replies map[string]string) (addr string, got chan []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan []string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var lines []string
		defer func() { got <- lines }()
		conn.Write([]byte(greeting))
		r := bufio.NewReader(conn)
		data := false
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			if data {
				if l == "." {
					data = false
					conn.Write([]byte("250 2.0.0 queued\r\n"))
				}
				continue
			}
			verb, _, _ := strings.Cut(l, " ")
			verb, _, _ = strings.Cut(verb, ":")
			rep, ok := replies[verb]
			if !ok {
				rep = "500 what\r\n"
			}
			if verb == "DATA" && strings.HasPrefix(rep, "354") {
				data = true
			}
			conn.Write([]byte(rep))
			if verb == "QUIT" {
				return
			}
		}
	}()
	return ln.Addr().String(), got
}

func TestSendWithoutTLS(t *testing.T) {
	addr, got := fakeServer(t, "220 fake ESMTP\r\n", map[string]string{
		"EHLO": "250-fake\r\n250-SIZE 1000\r\n250 8BITMIME\r\n", "MAIL": "250 ok\r\n", "RCPT": "251 forwarded\r\n",
		"DATA": "354 go\r\n", "QUIT": "221 bye\r\n",
	})
	c, err := Dial(context.Background(), addr, "ops.test")
	if err != nil {
		t.Fatal(err)
	}
	if ok, v := c.Extension("size"); !ok || v != "1000" {
		t.Errorf("SIZE = %v %q", ok, v)
	}
	if _, err := c.StartTLS(context.Background(), &tls.Config{}, "ops.test"); !errors.Is(err, ErrNoStartTLS) {
		t.Errorf("StartTLS without the extension: %v", err)
	}
	r, err := c.Send("a@x", []string{"b@y"}, []byte("Subject: t\r\n\r\n.leading dot\r\n"))
	if err != nil || r.Code != 250 {
		t.Fatalf("send: %v %v", r, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	lines := <-got
	want := []string{"EHLO ops.test", "MAIL FROM:<a@x>", "RCPT TO:<b@y>", "DATA", "Subject: t", "", "..leading dot", ".", "QUIT"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("server got %q", lines)
	}
}

func TestReplyErrors(t *testing.T) {
	addr, _ := fakeServer(t, "220 fake\r\n", map[string]string{
		"EHLO": "250 fake\r\n", "MAIL": "451 4.3.0 try later\r\n",
	})
	c, err := Dial(context.Background(), addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Send("a@x", []string{"b@y"}, []byte("x"))
	var re *ReplyError
	if !errors.As(err, &re) || re.Cmd != "MAIL" || !re.Reply.Temporary() || re.Error() != "smtp MAIL: server replied 451 4.3.0 try later" {
		t.Fatalf("%v", err)
	}
	addr, _ = fakeServer(t, "554 go away\r\n", nil)
	if _, err := Dial(context.Background(), addr, ""); !errors.As(err, &re) || re.Reply.Code != 554 {
		t.Fatalf("greeting: %v", err)
	}
	c2, _ := fakeServer(t, "220 x\r\n", map[string]string{"EHLO": "250 x\r\n"})
	cl, err := Dial(context.Background(), c2, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Cmd(250, "RCPT TO:<a@b>\r\nDATA"); err == nil {
		t.Error("a command with a line break was sent")
	}
	cl.Close()
}

func TestCancelUnblocks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			buf := make([]byte, 1)
			c.Read(buf) // never greets
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := Dial(ctx, ln.Addr().String(), ""); done <- err }()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("dial succeeded")
	}
}
