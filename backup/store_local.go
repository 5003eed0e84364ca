package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// LocalStore keeps objects as files below a directory. Object names use "/"
// and map to sub-directories. A Put writes a hidden temporary file beside
// the final name, fsyncs it and renames it into place, so a file under a
// final name is always complete.
type LocalStore struct {
	Root string
}

// partialMarker is in the name of every temporary file.
const partialMarker = ".partial-"

// NewLocalStore returns a store rooted at dir (created on first Put).
func NewLocalStore(dir string) *LocalStore { return &LocalStore{Root: dir} }

func (s *LocalStore) String() string { return "local:" + s.Root }

func (s *LocalStore) path(name string) (string, error) {
	clean := filepath.Clean("/" + name)
	if clean == "/" || strings.Contains(name, "\x00") || clean != "/"+name {
		return "", fmt.Errorf("invalid object name %q", name)
	}
	return filepath.Join(s.Root, filepath.FromSlash(clean[1:])), nil
}

// Put implements Store.
func (s *LocalStore) Put(ctx context.Context, name string, r io.Reader) (Object, error) {
	final, err := s.path(name)
	if err != nil {
		return Object{}, err
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Object{}, fmt.Errorf("local target: creating %s: %w", dir, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(final)+partialMarker+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Object{}, fmt.Errorf("local target: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return Object{}, fmt.Errorf("local target: writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return Object{}, fmt.Errorf("local target: syncing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return Object{}, fmt.Errorf("local target: closing %s: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return Object{}, fmt.Errorf("local target: %w", err)
	}
	ok = true
	syncDir(dir)
	st, err := os.Stat(final)
	if err != nil {
		return Object{}, fmt.Errorf("local target: %w", err)
	}
	return Object{Name: name, Size: n, Modified: st.ModTime(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Open implements Store.
func (s *LocalStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local target: %s: %w", name, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	return f, nil
}

// List implements Store. Temporary files of unfinished Puts are not listed.
func (s *LocalStore) List(_ context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := s.walk(func(name string, info fs.FileInfo) {
		if strings.HasPrefix(name, prefix) && !strings.Contains(filepath.Base(name), partialMarker) {
			out = append(out, Object{Name: name, Size: info.Size(), Modified: info.ModTime()})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (s *LocalStore) walk(fn func(name string, info fs.FileInfo)) error {
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

// Delete implements Store; emptied directories are removed too.
func (s *LocalStore) Delete(_ context.Context, names ...string) error {
	for _, name := range names {
		p, err := s.path(name)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("local target: deleting %s: %w", name, err)
		}
		for dir := filepath.Dir(p); dir != filepath.Clean(s.Root) && strings.HasPrefix(dir, filepath.Clean(s.Root)); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil {
				break // not empty
			}
		}
	}
	return nil
}

// Orphans implements Orphans: temporary files left by killed runs.
func (s *LocalStore) Orphans(_ context.Context, prefix string, olderThan time.Duration) ([]string, error) {
	var out []string
	cutoff := time.Now().Add(-olderThan)
	err := s.walk(func(name string, info fs.FileInfo) {
		if strings.HasPrefix(name, prefix) && strings.Contains(filepath.Base(name), partialMarker) && info.ModTime().Before(cutoff) {
			out = append(out, name)
		}
	})
	return out, err
}

// DeleteOrphans implements Orphans.
func (s *LocalStore) DeleteOrphans(ctx context.Context, names []string) error {
	return s.Delete(ctx, names...)
}

// ctxReader stops a copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var (
	_ Store   = (*LocalStore)(nil)
	_ Orphans = (*LocalStore)(nil)
)
