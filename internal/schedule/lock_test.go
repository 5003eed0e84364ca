//go:build unix

package schedule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/metrics"
)

// The helper process: when OPS_TEST_LOCK_HELPER_DIR is set, the test binary
// takes the lock of backup/app in that directory, says "locked" on stdout
// and holds it until its stdin closes (or it is killed).
func TestMain(m *testing.M) {
	if dir := os.Getenv("OPS_TEST_LOCK_HELPER_DIR"); dir != "" {
		l, err := NewLocker(dir).TryLock(JobID{Kind: "backup", Name: "app"})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = l.Unlock()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// holdLock starts a second process holding backup/app's lock in dir.
func holdLock(t *testing.T, dir string) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OPS_TEST_LOCK_HELPER_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { h.release(t) })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper process: %q, %v", line, err)
	}
	return h
}

func (h *holder) release(t *testing.T) {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("helper process: %v", err)
	}
}

func TestLockIsExclusiveAcrossProcesses(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "locks")
	id := JobID{Kind: "backup", Name: "app"}
	h := holdLock(t, dir)

	_, err := NewLocker(dir).TryLock(id)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock while another process holds it = %v, want a *LockedError", err)
	}
	want := fmt.Sprintf("job backup/app is already running (pid %d)", h.cmd.Process.Pid)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	// Another job is not affected.
	other, err := NewLocker(dir).TryLock(JobID{Kind: "backup", Name: "other"})
	if err != nil {
		t.Fatalf("TryLock of another job: %v", err)
	}
	_ = other.Unlock()

	h.release(t)
	l, err := NewLocker(dir).TryLock(id)
	if err != nil {
		t.Fatalf("TryLock after the holder released it: %v", err)
	}
	// Within one process a second holder is refused as well.
	if _, err := NewLocker(dir).TryLock(id); !errors.Is(err, ErrLocked) {
		t.Errorf("second TryLock in the same process = %v, want ErrLocked", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock = %v", err)
	}
}

func TestLockDiesWithItsHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := holdLock(t, dir)
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait() // "signal: killed"
	l, err := NewLocker(dir).TryLock(JobID{Kind: "backup", Name: "app"})
	if err != nil {
		t.Fatalf("TryLock after the holder was killed: %v", err)
	}
	_ = l.Unlock()
}

// TestScheduledRunSkipsJobLockedByAnotherProcess: while a one-shot command
// holds the job's lock, `ops serve` skips the job (reason "locked") instead
// of running it twice, and runs it again once the lock is free.
func TestScheduledRunSkipsJobLockedByAnotherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := holdLock(t, dir)
	c := newCounter()
	e := newEnv(t, Options{Locker: NewLocker(dir)}, Job{Kind: kb, Name: "app", Schedule: "@every 1s", Run: c.run(nil)})
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg := e.s.Metrics().Registry()
	eventually(t, "a locked skip", func() bool {
		v, _ := value(t, reg, "ops_job_skipped_total", map[string]string{"kind": kb, "name": "app", "reason": metrics.SkipLocked})
		return v >= 1
	})
	if n := c.count(); n != 0 {
		t.Fatalf("the job ran %d times while another process held its lock", n)
	}
	// the skip is counted before it is logged: wait for the line too
	eventually(t, "the locked skip logged", func() bool {
		return strings.Contains(e.log.String(), "skipped: the job is running in another process")
	})
	contains(t, e.log.String(), fmt.Sprintf("(pid %d)", h.cmd.Process.Pid), "log")
	h.release(t)
	waitRuns(t, c, 1, "the job once the lock is free")
}

func TestLockPaths(t *testing.T) {
	t.Parallel()
	l := &Locker{Dir: "/x"}
	for name, want := range map[string]string{
		"app":     "/x/backup-app.lock",
		"a.b_c-9": "/x/backup-a.b_c-9.lock",
		"../etc":  "/x/backup-%2E.%2Fetc.lock",
		"a/b":     "/x/backup-a%2Fb.lock",
		"":        "/x/backup-%.lock",
		"mx 1":    "/x/backup-mx%201.lock",
		".hidden": "/x/backup-%2Ehidden.lock",
	} {
		if got := l.Path(JobID{Kind: "backup", Name: name}); got != want {
			t.Errorf("Path(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestLockRefusesWorldWritableDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := NewLocker(dir).TryLock(JobID{Kind: "backup", Name: "app"})
	if err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Fatalf("TryLock in a world-writable dir = %v", err)
	}
}

func TestLockDoesNotFollowSymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := NewLocker(dir)
	if err := os.Symlink(victim, l.Path(JobID{Kind: "backup", Name: "app"})); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TryLock(JobID{Kind: "backup", Name: "app"}); err == nil {
		t.Fatal("TryLock followed a symlinked lock file")
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("symlink target was modified: %q", b)
	}
}

// TestLockDirCreatedByRootBelongsToTheServiceUser: `sudo ops backup run`
// must not leave a root-owned lock directory or file that the daemon (the
// owner of /var/lib/ops) can no longer use.
func TestLockDirCreatedByRootBelongsToTheServiceUser(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 54321, 54322
	state := t.TempDir()
	if err := os.Chown(state, uid, gid); err != nil {
		t.Fatal(err)
	}
	l := NewLocker(filepath.Join(state, "locks"))
	lk, err := l.TryLock(JobID{Kind: "backup", Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	for _, p := range []string{l.Dir, l.Path(JobID{Kind: "backup", Name: "app"})} {
		u, g, ok := owner(p)
		if !ok || u != uid || g != gid {
			t.Errorf("%s belongs to %d:%d, want %d:%d", p, u, g, uid, gid)
		}
	}
}

func TestDefaultLockDir(t *testing.T) {
	if writable("/var/lib/ops") || writable("/var/lib/ops/locks") {
		t.Skip("/var/lib/ops exists here; the fallbacks are not reachable")
	}
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got := DefaultLockDir(); got != "/run/user/1000/ops/locks" {
		t.Errorf("DefaultLockDir() = %q with XDG_RUNTIME_DIR", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := filepath.Join(os.TempDir(), fmt.Sprintf("ops-%d", os.Getuid()), "locks")
	if got := DefaultLockDir(); got != want {
		t.Errorf("DefaultLockDir() = %q, want %q", got, want)
	}
}
