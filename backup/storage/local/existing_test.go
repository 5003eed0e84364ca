package local

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/opsteam/ops/backup/storage"
)

func TestNewExisting(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	if s, err := NewExisting(filepath.Join(dir, "backups")); err != nil || s.Root != filepath.Join(dir, "backups") {
		t.Fatalf("existing dir: %v, %v", s, err)
	}
	_, err := NewExisting(filepath.Join(dir, "backup"))
	var me *storage.MissingError
	if !errors.As(err, &me) || !errors.Is(err, storage.ErrMissing) {
		t.Fatalf("missing dir: %v", err)
	}
	if want := []string{filepath.Join(dir, "backups")}; !reflect.DeepEqual(me.Suggestions, want) {
		t.Errorf("suggestions %q, want %q", me.Suggestions, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "backup")); !os.IsNotExist(err) {
		t.Errorf("created: %v", err)
	}
	f := filepath.Join(dir, "file")
	_ = os.WriteFile(f, nil, 0o600)
	if _, err := NewExisting(f); err == nil || errors.Is(err, storage.ErrMissing) {
		t.Errorf("a file as the root: %v", err)
	}
}
