package schedule

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// JobID names a job: its kind (metrics.KindBackup, …) and its name.
type JobID struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func (id JobID) String() string { return id.Kind + "/" + id.Name }

// ErrLocked matches (errors.Is) every *LockedError.
var ErrLocked = errors.New("job is already running")

// LockedError says that another holder (this or another process) has the
// job's lock.
type LockedError struct {
	Job  JobID
	PID  int    // the holder's pid, 0 when it could not be read
	Path string // the lock file
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("job %s is already running (pid %d)", e.Job, e.PID)
	}
	return fmt.Sprintf("job %s is already running (lock %s)", e.Job, e.Path)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Locker hands out per-job cross-process locks: flock(2) on DIR/KIND-NAME.lock.
// `ops serve` and every one-shot command (`ops backup run` from system cron,
// a systemd timer, a shell) must use the same directory so that they never
// run the same job at once. The lock dies with its holder (the kernel drops
// it when the process exits), so there is never a stale lock to clean up;
// the file itself is never removed, which is what makes flock on it safe.
type Locker struct {
	Dir string
}

// NewLocker returns a Locker on dir, or on DefaultLockDir() when dir is empty.
func NewLocker(dir string) *Locker {
	if dir == "" {
		dir = DefaultLockDir()
	}
	return &Locker{Dir: dir}
}

// Path is the lock file of a job.
func (l *Locker) Path(id JobID) string {
	return filepath.Join(l.Dir, id.Kind+"-"+fileSafe(id.Name)+".lock")
}

// Lock is a held job lock. Unlock releases it.
type Lock struct {
	id   JobID
	path string
	f    *os.File
}

// Job is the job the lock is held for.
func (l *Lock) Job() JobID { return l.id }

// TryLock takes the job's lock without waiting. When another process (or
// another TryLock in this one) holds it, the error is a *LockedError, e.g.
// "job backup/app is already running (pid 4242)".
func (l *Locker) TryLock(id JobID) (*Lock, error) {
	if err := prepareDir(l.Dir); err != nil {
		return nil, err
	}
	path := l.Path(id)
	f, err := tryLockFile(path)
	if errors.Is(err, errHeld) {
		return nil, &LockedError{Job: id, PID: readPID(path), Path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("lock job %s: %w", id, err)
	}
	// The pid is for the error message of the next would-be holder.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{id: id, path: path, f: f}, nil
}

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	_ = f.Truncate(0) // still held: nobody reads a half-cleared pid
	return f.Close()  // closing the only descriptor releases the flock
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// fileSafe keeps names made of [A-Za-z0-9._-] as they are and escapes
// anything else as %XX, so distinct names never share a lock file.
func fileSafe(name string) string {
	if name == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_',
			c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// DefaultLockDir is the lock directory when none is configured. It must be
// the same for the daemon and for one-shot commands run as the same user:
//   - /var/lib/ops/locks when /var/lib/ops (or that locks directory) exists
//     and is writable — the state directory of the packaged units;
//   - else $XDG_RUNTIME_DIR/ops/locks;
//   - else TMPDIR/ops-UID/locks (created 0700).
//
// Configure it explicitly when several users or containers share jobs.
func DefaultLockDir() string {
	const state = "/var/lib/ops"
	if writable(filepath.Join(state, "locks")) || writable(state) {
		return filepath.Join(state, "locks")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "ops", "locks")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("ops-%d", os.Getuid()), "locks")
}
