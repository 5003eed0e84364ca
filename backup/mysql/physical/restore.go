package physical

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// DefaultMbstream is the extractor of xbstream streams (Debian's
// mariadb-backup package ships it).
const DefaultMbstream = "mbstream"

// Extract unpacks an xbstream read from r into dir (which exists).
func Extract(ctx context.Context, logger *slog.Logger, mbstream string, r io.Reader, dir string) error {
	if mbstream == "" {
		mbstream = DefaultMbstream
	}
	return run(ctx, orDiscard(logger), mbstream, []string{"-x", "-C", dir}, r, io.Discard, nil)
}

// Prepare makes dir a consistent data directory (mariadb-backup --prepare).
// With incDir it applies that incremental to dir instead, which must hold
// its prepared base. Never --apply-log-only: MariaDB refuses it, and
// preparing each step fully is what its documentation asks.
func Prepare(ctx context.Context, logger *slog.Logger, binary, dir, incDir string) error {
	args := []string{"--prepare", "--target-dir=" + dir}
	if incDir != "" {
		args = append(args, "--incremental-dir="+incDir)
	}
	// --no-defaults first: the host's my.cnf describes the running server,
	// not this copy.
	return run(ctx, orDiscard(logger), binary, append([]string{"--no-defaults"}, args...), nil, io.Discard, nil)
}

// ChownMySQL gives dir and everything below it to the mysql user, as a
// stock mariadbd expects; it does nothing unless run as root.
func ChownMySQL(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("mysql")
	if err != nil {
		return fmt.Errorf("running as root, the data directory must be owned by the mysql user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// CheckBinary reports whether a program can be found (PATH or a path).
func CheckBinary(name string) error {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("%s not found (Debian: apt-get install mariadb-backup): %w", name, err)
	}
	return nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
