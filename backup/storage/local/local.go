package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/suggest"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Store keeps objects as files below a directory. Object names use "/"
// and map to sub-directories. A Put writes a hidden temporary file beside
// the final name, fsyncs it and renames it into place, so a file under a
// final name is always complete.
type Store struct {
	Root string
}

// PartialMarker is in the name of every temporary file (a Put in progress,
// or one a killed process left behind).
const PartialMarker = ".partial-"

// New returns a store rooted at dir (created on first Put).
func New(dir string) *Store { return &Store{Root: dir} }

// NewExisting returns a store rooted at dir, which must exist: the open of
// read-only commands, which never create anything. A missing dir is a
// *storage.MissingError with the closest names in its parent directory.
func NewExisting(dir string) (*Store, error) {
	st, err := os.Stat(dir)
	if err == nil && !st.IsDir() {
		return nil, fmt.Errorf("local target: %s is not a directory", dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		var names []string
		if ents, rerr := os.ReadDir(filepath.Dir(dir)); rerr == nil {
			for _, e := range ents {
				if e.IsDir() {
					names = append(names, e.Name())
				}
			}
		}
		var sugg []string
		for _, n := range suggest.Closest(filepath.Base(dir), names, 3) {
			sugg = append(sugg, filepath.Join(filepath.Dir(dir), n))
		}
		return nil, &storage.MissingError{Kind: "directory", Name: dir, Suggestions: sugg}
	}
	if err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	return New(dir), nil
}

func (s *Store) String() string { return "local:" + s.Root }

func (s *Store) path(name string) (string, error) {
	clean := filepath.Clean("/" + name)
	if clean == "/" || strings.Contains(name, "\x00") || clean != "/"+name {
		return "", fmt.Errorf("invalid object name %q", name)
	}
	return filepath.Join(s.Root, filepath.FromSlash(clean[1:])), nil
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	final, err := s.path(name)
	if err != nil {
		return storage.Object{}, err
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return storage.Object{}, fmt.Errorf("local target: creating %s: %w", dir, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(final)+PartialMarker+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return storage.Object{}, fmt.Errorf("local target: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
			s.removeEmptyDirs(dir)
		}
	}()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(&writeback{w: f, start: func(off, n int64) { startWriteback(f, off, n) }}, h), storage.ContextReader(ctx, r), make([]byte, copyBuffer))
	if err != nil {
		return storage.Object{}, fmt.Errorf("local target: writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return storage.Object{}, fmt.Errorf("local target: syncing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return storage.Object{}, fmt.Errorf("local target: closing %s: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return storage.Object{}, fmt.Errorf("local target: %w", err)
	}
	ok = true
	syncDir(dir)
	st, err := os.Stat(final)
	if err != nil {
		return storage.Object{}, fmt.Errorf("local target: %w", err)
	}
	return storage.Object{Name: name, Size: n, Modified: st.ModTime(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// copyBuffer is the size of Put's reads and writes.
const copyBuffer = 1 << 20

// writebackEvery is how much Put writes before it asks the kernel to start
// writing it to disk (see startWriteback).
const writebackEvery = 8 << 20

// writeback writes to w and, every writebackEvery bytes, calls start with
// the range written since its last call (Put: startWriteback of its file).
type writeback struct {
	w         io.Writer
	start     func(off, n int64)
	off, done int64 // bytes written; bytes passed to start
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.off += int64(n)
	if w.off-w.done >= writebackEvery {
		w.start(w.done, w.off-w.done)
		w.done = w.off
	}
	return n, err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Open implements storage.Store.
func (s *Store) Open(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local target: %s: %w", name, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	return f, nil
}

// List implements storage.Store. Temporary files of unfinished Puts are not listed.
func (s *Store) List(_ context.Context, prefix string) ([]storage.Object, error) {
	var out []storage.Object
	err := s.walk(func(name string, info fs.FileInfo) {
		if strings.HasPrefix(name, prefix) && !strings.Contains(filepath.Base(name), PartialMarker) {
			out = append(out, storage.Object{Name: name, Size: info.Size(), Modified: info.ModTime()})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (s *Store) walk(fn func(name string, info fs.FileInfo)) error {
	err := filepath.WalkDir(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == s.Root {
				return fs.SkipAll // an empty target
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // vanished meanwhile
		}
		rel, _ := filepath.Rel(s.Root, p)
		fn(filepath.ToSlash(rel), info)
		return nil
	})
	if err != nil {
		return fmt.Errorf("local target: listing %s: %w", s.Root, err)
	}
	return nil
}

// Delete implements storage.Store; emptied directories are removed too.
func (s *Store) Delete(_ context.Context, names ...string) error {
	for _, name := range names {
		p, err := s.path(name)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("local target: deleting %s: %w", name, err)
		}
		s.removeEmptyDirs(filepath.Dir(p))
	}
	return nil
}

// removeEmptyDirs removes dir and its parents below the root while they
// are empty.
func (s *Store) removeEmptyDirs(dir string) {
	root := filepath.Clean(s.Root)
	for ; dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty
		}
	}
}

// Orphans implements Orphans: temporary files left by killed runs, and
// directories they left empty (reported as "name/").
func (s *Store) Orphans(_ context.Context, prefix string, olderThan time.Duration) ([]string, error) {
	var out []string
	cutoff := time.Now().Add(-olderThan)
	err := s.walk(func(name string, info fs.FileInfo) {
		if strings.HasPrefix(name, prefix) && strings.Contains(filepath.Base(name), PartialMarker) && info.ModTime().Before(cutoff) {
			out = append(out, name)
		}
	})
	if err != nil {
		return nil, err
	}
	dirs, err := s.emptyDirs(prefix, cutoff)
	return append(out, dirs...), err
}

// emptyDirs lists the empty directories below the root whose names start
// with prefix and that were last changed before cutoff.
func (s *Store) emptyDirs(prefix string, cutoff time.Time) ([]string, error) {
	var out []string
	err := filepath.WalkDir(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == s.Root {
				return fs.SkipAll
			}
			return nil // vanished meanwhile
		}
		if !d.IsDir() || p == s.Root {
			return nil
		}
		rel, _ := filepath.Rel(s.Root, p)
		name := filepath.ToSlash(rel) + "/"
		if !strings.HasPrefix(name, prefix) && !strings.HasPrefix(prefix, name) {
			return fs.SkipDir
		}
		entries, err := os.ReadDir(p)
		info, ierr := d.Info()
		if err == nil && ierr == nil && len(entries) == 0 && strings.HasPrefix(name, prefix) && info.ModTime().Before(cutoff) {
			out = append(out, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local target: listing %s: %w", s.Root, err)
	}
	return out, nil
}

// DeleteOrphans implements storage.Orphans.
func (s *Store) DeleteOrphans(ctx context.Context, names []string) error {
	for _, name := range names {
		if !strings.HasSuffix(name, "/") {
			if err := s.Delete(ctx, name); err != nil {
				return err
			}
			continue
		}
		p, err := s.path(strings.TrimSuffix(name, "/"))
		if err != nil {
			return err
		}
		s.removeEmptyDirs(p)
	}
	return nil
}

var (
	_ storage.Store   = (*Store)(nil)
	_ storage.Orphans = (*Store)(nil)
)
