package backends

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/fielderr"
)

func TestOpenLocal(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), "disk", storage.Target{Type: "local", Path: dir}, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ls, ok := s.(*local.Store)
	if !ok || ls.Root != dir {
		t.Fatalf("Open(local) = %#v, want a local store at %s", s, dir)
	}
}

func TestOpenUnknownType(t *testing.T) {
	_, err := Open(context.Background(), "x", storage.Target{Type: "ftp"}, nil, time.Minute)
	var fe *fielderr.Error
	if !errors.As(err, &fe) || fe.Field != "storage.targets.x.type" || !strings.Contains(fe.Msg, "expected swift, s3 or local") {
		t.Fatalf("Open(ftp) = %v, want a field error on storage.targets.x.type", err)
	}
}
