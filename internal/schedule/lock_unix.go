//go:build unix

package schedule

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

var errHeld = errors.New("lock held")

// tryLockFile opens (creating) path without following a symlink and takes a
// non-blocking exclusive flock on it.
func tryLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if errors.Is(err, fs.ErrPermission) {
		// Created by another user (root's cron, say): locking works on a
		// read-only descriptor too, only the pid cannot be written.
		f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errHeld
		}
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	if os.Getuid() == 0 {
		// A lock file root creates must stay usable by the service user.
		if uid, gid, ok := owner(filepath.Dir(path)); ok && uid != 0 {
			_ = f.Chown(uid, gid)
		}
	}
	return f, nil
}

func owner(path string) (uid, gid int, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// prepareDir creates the lock directory and refuses one that another user
// could plant files in. When root creates it (`sudo ops backup run`), it is
// given to the owner of its parent (/var/lib/ops belongs to the service
// user), or the daemon could not lock there any more.
func prepareDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("lock directory: %w", err)
		}
		if os.Getuid() == 0 {
			if uid, gid, ok := owner(filepath.Dir(dir)); ok && uid != 0 {
				_ = os.Lchown(dir, uid, gid)
			}
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("lock directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("lock directory %s: not a directory", dir)
	}
	if fi.Mode().Perm()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("lock directory %s is world-writable: use a private directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Getuid(); uid != 0 && int(st.Uid) != uid && st.Uid != 0 {
			return fmt.Errorf("lock directory %s belongs to uid %d, not to uid %d or root", dir, st.Uid, uid)
		}
	}
	return nil
}

func writable(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	return syscall.Access(dir, 0x2 /* W_OK */) == nil
}
