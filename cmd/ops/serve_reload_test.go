//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// reloadWait bounds every wait of the reload test: a hang guard, never a
// performance assertion.
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

// writeServeConfig writes generation gen of the reload test's config: one
// tlscheck check against the held server every second, with an EHLO name
// that says which generation a run was built from.
func writeServeConfig(t *testing.T, path, lockDir, target string, gen int) {
	t.Helper()
	body := fmt.Sprintf(`lock_dir: %s
serve: {listen: "127.0.0.1:0"}
tlscheck:
  timeout: 2m
  helo: gen-%d.test
  checks:
    - {name: held, targets: ["%s"], schedule: "@every 1s"}
`, lockDir, gen, target)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// `ops serve` reloads its config on SIGHUP many times while a scheduled
// check is running: the running check finishes with the config it started
// with, the next run uses the newest config, and (under -race) nothing is
// shared between a reload and a running job.
func TestServeReloadWhileJobsRun(t *testing.T) {
	const reloads = 50
	// While the test runs, a SIGHUP must never take the default action
	// (terminate the test binary), even between serve's own registrations.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	smtp := newHeldSMTP(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ops.yaml")
	writeServeConfig(t, cfg, filepath.Join(dir, "locks"), smtp.ln.Addr().String(), 0)

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--config", cfg, "serve"}, &stdout, &stderr) }()
	defer func() {
		smtp.close()
		cancel()
		select {
		case <-done:
		case <-time.After(reloadWait):
			t.Errorf("serve did not stop within %s", reloadWait)
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", stderr.String())
		}
	}()

	// The first run of the check is now connected and held: reload under it.
	first := smtp.next(t, "first run")
	for gen := 1; gen <= reloads; gen++ {
		writeServeConfig(t, cfg, filepath.Join(dir, "locks"), smtp.ln.Addr().String(), gen)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(reloadWait)
		for strings.Count(stderr.String(), "msg=reloaded ") < gen {
			if strings.Contains(stderr.String(), "reload failed") || time.Now().After(deadline) {
				t.Fatalf("reload %d was not applied", gen)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if got := heloOf(t, first, "first run"); got != "gen-0.test" {
		t.Errorf("the run that started before the reloads said EHLO %s, want gen-0.test (the config it started with)", got)
	}
	if got := heloOf(t, smtp.next(t, "run after the reloads"), "run after the reloads"); got != fmt.Sprintf("gen-%d.test", reloads) {
		t.Errorf("the run after the reloads said EHLO %s, want gen-%d.test (the newest config)", got, reloads)
	}
	smtp.close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit status %d, want 0", code)
		}
	case <-time.After(reloadWait):
		t.Fatalf("serve did not stop within %s", reloadWait)
	}
	done <- 0 // for the deferred wait
}
