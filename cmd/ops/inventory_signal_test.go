//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SIGTERM stops `ops inventory` with status 130 and no report: a report
// of failed sources would replace a good one (--out) or mislead a pipe.
// The declared file is a FIFO that nobody writes, so the source is
// certainly still reading when the signal comes.
func TestInventorySIGTERM(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "inventory.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	out := filepath.Join(dir, "report.json")
	if err := os.WriteFile(out, []byte("the previous report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+fifo+"}\n")
	for _, args := range [][]string{{"inventory", "--output", "json"}, {"inventory", "--output", "json", "--out", out}} {
		cmd := opsProcess(append([]string{"--config", cfg}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Opening the FIFO for writing returns once ops has opened it for
		// reading: ops is then inside the source, its signal handler set.
		opened := make(chan *os.File, 1)
		go func() {
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
			}
			opened <- w
		}()
		var w *os.File
		select {
		case w = <-opened:
		case <-time.After(reloadWait):
			cmd.Process.Kill()
			t.Fatalf("%v: ops never opened the declared file: %s", args, stderr.String())
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		w.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("%v: %v, want exit status 130; stderr: %s", args, err, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: a report after SIGTERM:\n%.300s", args, stdout.String())
		}
	}
	if b, _ := os.ReadFile(out); string(b) != "the previous report\n" {
		t.Errorf("--out after SIGTERM: %q", b)
	}
}
