//go:build !unix

package schedule

import (
	"errors"
	"os"
)

var errHeld = errors.New("lock held")

// tryLockFile only opens the file where flock(2) does not exist (Windows):
// there is no cross-process exclusion there, ops is meant for Unix hosts.
func tryLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

func prepareDir(dir string) error { return os.MkdirAll(dir, 0o700) }

func writable(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}
