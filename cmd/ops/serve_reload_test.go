//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
