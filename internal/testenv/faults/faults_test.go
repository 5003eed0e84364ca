package faults

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echo is a line echo server on 127.0.0.1:0.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr, line string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a hang guard, not a limit under test
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// The proxy passes bytes, a cut resets them, and After fires once its
// bytes have passed (no service needed: an echo server).
func TestProxyCutAndAfter(t *testing.T) {
	p := New(t, echo(t))
	if got, err := roundTrip(p.Addr, "hello"); err != nil || got != "hello\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	fired := make(chan struct{})
	isFired := p.After(Down, 10, func() { close(fired) })
	if _, err := roundTrip(p.Addr, "abc"); err != nil || isFired() {
		t.Fatalf("4 bytes: err %v, fired %v", err, isFired())
	}
	if _, err := roundTrip(p.Addr, "0123456789"); err != nil {
		t.Fatal(err)
	}
	<-fired
	matched := make(chan struct{})
	isMatched := p.When(Up, "needle", func() { close(matched) })
	if _, err := roundTrip(p.Addr, "hay"); err != nil || isMatched() {
		t.Fatalf("no needle: err %v, fired %v", err, isMatched())
	}
	if _, err := roundTrip(p.Addr, "a needle"); err != nil {
		t.Fatal(err)
	}
	<-matched
	restore := p.Cut()
	got, err := roundTrip(p.Addr, "cut")
	if err == nil {
		t.Fatalf("through a cut proxy: %q, no error", got)
	}
	restore()
	if got, err := roundTrip(p.Addr, "back"); err != nil || got != "back\n" {
		t.Fatalf("after the cut: %q, %v", got, err)
	}
	lim := p.LimitData(Down, 3)
	got, err = roundTrip(p.Addr, "long line")
	if !errors.Is(err, io.EOF) || got != "lon" {
		t.Fatalf("limit_data 3: %q, %v", got, err)
	}
	p.Remove(lim)
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") || p.Port() == "" {
		t.Fatalf("addr %q port %q", p.Addr, p.Port())
	}
}
