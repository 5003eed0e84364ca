package mem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opsteam/ops/backup/storage"
)

// Store keeps objects in a map. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	objects map[string]entry
	now     func() time.Time

	// Fail, when set, is asked before every operation ("put", "open",
	// "list", "delete") on a name (the prefix for "list"); a non-nil error
	// is returned instead of doing it. A failing "put" still consumes the
	// reader, like a store that fails at the end of an upload.
	Fail func(op, name string) error
}

type entry struct {
	data     []byte
	modified time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{objects: map[string]entry{}, now: time.Now}
}

// SetClock replaces the clock that stamps Modified (tests of age-based
// decisions).
func (s *Store) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

func (s *Store) fail(op, name string) error {
	if s.Fail == nil {
		return nil
	}
	return s.Fail(op, name)
}

// String implements storage.Store.
func (s *Store) String() string { return "mem:" }

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return storage.Object{}, fmt.Errorf("mem: invalid object name %q", name)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, storage.ContextReader(ctx, r)); err != nil {
		return storage.Object{}, fmt.Errorf("mem: storing %s: %w", name, err)
	}
	if err := s.fail("put", name); err != nil {
		return storage.Object{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.objects[name] = entry{data: buf.Bytes(), modified: now}
	return storage.Object{Name: name, Size: int64(buf.Len()), Modified: now, SHA256: hex.EncodeToString(sum[:])}, nil
}

// Open implements storage.Store.
func (s *Store) Open(_ context.Context, name string) (io.ReadCloser, error) {
	if err := s.fail("open", name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.objects[name]
	if !ok {
		return nil, fmt.Errorf("mem: %s: %w", name, storage.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(e.data)), nil
}

// List implements storage.Store.
func (s *Store) List(_ context.Context, prefix string) ([]storage.Object, error) {
	if err := s.fail("list", prefix); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Object
	for name, e := range s.objects {
		if strings.HasPrefix(name, prefix) {
			out = append(out, storage.Object{Name: name, Size: int64(len(e.data)), Modified: e.modified})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(_ context.Context, names ...string) error {
	for _, n := range names {
		if err := s.fail("delete", n); err != nil {
			return err
		}
		s.mu.Lock()
		delete(s.objects, n)
		s.mu.Unlock()
	}
	return nil
}

// Bytes returns a copy of an object's content (nil when missing).
func (s *Store) Bytes(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.objects[name]
	if !ok {
		return nil
	}
	return bytes.Clone(e.data)
}

// Replace overwrites an object's content in place, as an attacker or a
// failing disk would (no checksum is updated anywhere).
func (s *Store) Replace(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.objects[name]
	e.data = bytes.Clone(data)
	if e.modified.IsZero() {
		e.modified = s.now()
	}
	s.objects[name] = e
}

// Names lists every object name in order.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.objects))
	for n := range s.objects {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var _ storage.Store = (*Store)(nil)
