package secret

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hc-ping.com/5f3e-uuid":                 "https://hc-ping.com/***",
		"https://user:pw@example.net/hooks/x?token=abc": "https://example.net/***",
		"https://user@example.net":                      "https://example.net/***",
		"http://127.0.0.1:8080":                         "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":                        "http://127.0.0.1:8080",
		"http://h/?token=x":                             "http://h/***",
		"http://h#frag":                                 "http://h/***",
		"":                                              "",
		"::nonsense":                                    "***",
		"/relative/path":                                "***",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestRedactText(t *testing.T) {
	in := `Post "http://u:pw@h:1/ping/SECRET?token=T": redirect to https://x/y/SECRET2, then ftp://z.`
	got := RedactText(in)
	want := `Post "http://h:1/***": redirect to https://x/***, then ftp://z.`
	if got != want {
		t.Errorf("%q\n→ %q\nwant %q", in, got, want)
	}
}

// closedPort is a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

const secretPath = "/ping/SECRET-UUID/start?token=T0KEN"

func assertRedacted(t *testing.T, err error, addr string) {
	t.Helper()
	msg := err.Error()
	if !strings.Contains(msg, "http://"+addr+"/***") {
		t.Errorf("the error does not name the host: %s", msg)
	}
	for _, s := range []string{"SECRET", "T0KEN", "pw@", "ping"} {
		if strings.Contains(msg, s) {
			t.Errorf("the error carries %q: %s", s, msg)
		}
	}
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != "http://"+addr+"/***" {
		t.Errorf("errors.As finds no redacted *url.Error: %#v", ue)
	}
}

// A request to a closed port: the *url.Error net/http returns quotes the
// whole URL (password masked, path and query as they are); redacted, it
// names scheme and host only and still is ECONNREFUSED.
func TestRedactURLsReceiverDown(t *testing.T) {
	addr := closedPort(t)
	for _, raw := range []string{"http://" + addr + secretPath, "http://u:pw@" + addr + secretPath, "http://" + addr + "/ping/SECRET%7eUUID?token=a%20T0KEN"} {
		_, err := http.Post(raw, "application/json", strings.NewReader("{}"))
		if err == nil {
			t.Fatal("a closed port answered")
		}
		if !strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("net/http no longer quotes the URL: %v", err)
		}
		red := RedactURLs(fmt.Errorf("webhook %s: %w", raw, err))
		assertRedacted(t, red, addr)
		if !errors.Is(red, syscall.ECONNREFUSED) {
			t.Errorf("the redacted error lost its cause: %v", red)
		}
		var op *net.OpError
		if !errors.As(red, &op) {
			t.Errorf("errors.As finds no *net.OpError in %v", red)
		}
	}
}

// A receiver that accepts and never answers: the timeout's *url.Error,
// redacted, is still a timeout.
func TestRedactURLsReceiverHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+l.Addr().String()+secretPath, strings.NewReader("{}"))
	_, err = http.DefaultClient.Do(req)
	if err == nil {
		t.Fatal("a silent server answered")
	}
	red := RedactURLs(err)
	assertRedacted(t, red, l.Addr().String())
	var ne net.Error
	if !errors.Is(red, context.DeadlineExceeded) || !errors.As(red, &ne) || !ne.Timeout() {
		t.Errorf("the redacted error is no longer a timeout: %v", red)
	}
	_ = l.Close()
	<-done
	for _, c := range conns {
		_ = c.Close()
	}
}

type statusErr struct{ err error }

func (e statusErr) Error() string   { return "503: " + e.err.Error() }
func (e statusErr) Unwrap() error   { return e.err }
func (e statusErr) HTTPStatus() int { return 503 }

func TestRedactURLsKeepsTheChain(t *testing.T) {
	if RedactURLs(nil) != nil {
		t.Error("RedactURLs(nil) is not nil")
	}
	plain := fmt.Errorf("no url here: %w", context.Canceled)
	if RedactURLs(plain) != plain {
		t.Error("an error without a URL was replaced")
	}
	cause := errors.New("cause at https://h/SECRET")
	joined := errors.Join(statusErr{cause}, context.Canceled)
	red := RedactURLs(fmt.Errorf("at https://h/SECRET2: %w", joined))
	if strings.Contains(red.Error(), "SECRET") || strings.Count(red.Error(), "https://h/***") != 2 {
		t.Errorf("text: %s", red)
	}
	if !errors.Is(red, context.Canceled) {
		t.Error("errors.Is lost a joined cause")
	}
	var hs interface{ HTTPStatus() int }
	if !errors.As(red, &hs) || hs.HTTPStatus() != 503 {
		t.Error("errors.As lost a method of a wrapper")
	}
	var se statusErr
	if errors.As(red, &se) {
		t.Error("errors.As found the unredacted concrete wrapper")
	}
}
