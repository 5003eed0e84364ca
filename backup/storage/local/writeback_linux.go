package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE). A large
// object then reaches the disk while it is being written, and the fsync
// that ends Put has only the last stretch left to wait for. Errors are
// ignored: the fsync reports any that matter.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
