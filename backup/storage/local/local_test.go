package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/storagetest"
)

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("dump failed: server has gone away")
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := New(filepath.Join(t.TempDir(), "backups"))
	if objs, err := s.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Fatalf("empty target: %v %v", objs, err)
	}
	body := strings.Repeat("INSERT INTO t VALUES (1);\n", 1000)
	obj, err := s.Put(ctx, "app/20261128T020000Z/dump.sql.zst", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	if obj.Size != int64(len(body)) || obj.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("object = %+v", obj)
	}
	rc, err := s.Open(ctx, obj.Name)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != body {
		t.Fatal("content differs")
	}
	if _, err := s.Open(ctx, "app/nope"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("missing object error = %v", err)
	}
	if _, err := s.Put(ctx, "../escape", strings.NewReader("x")); err == nil {
		t.Error("accepted a name that escapes the root")
	}
	objs, _ := s.List(ctx, "app/")
	if len(objs) != 1 || objs[0].Name != obj.Name {
		t.Fatalf("list = %+v", objs)
	}
	if err := s.Delete(ctx, obj.Name, "app/absent"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "app")); !os.IsNotExist(err) {
		t.Errorf("empty directories left behind: %v", err)
	}
}

func TestStoreFailedPutLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir())
	_, err := s.Put(ctx, "app/x/dump.sql.zst", &failingReader{n: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "server has gone away") {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Root, "app", "x"))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "app/y/dump", strings.NewReader("data")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled put: %v", err)
	}
}

func TestStoreOrphans(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir())
	dir := filepath.Join(s.Root, "app", "20261128T020000Z")
	_ = os.MkdirAll(dir, 0o750)
	orphan := filepath.Join(dir, ".dump.sql.zst"+PartialMarker+"abc")
	_ = os.WriteFile(orphan, []byte("half"), 0o600)
	old := time.Now().Add(-2 * time.Hour)
	_ = os.Chtimes(orphan, old, old)
	if objs, _ := s.List(ctx, ""); len(objs) != 0 {
		t.Fatalf("partial listed: %+v", objs)
	}
	o, err := s.Orphans(ctx, "app/", time.Hour)
	if err != nil || len(o) != 1 {
		t.Fatalf("orphans = %v %v", o, err)
	}
	if o2, _ := s.Orphans(ctx, "app/", 3*time.Hour); len(o2) != 0 {
		t.Fatalf("young orphan reported: %v", o2)
	}
	if err := s.DeleteOrphans(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("orphan not deleted")
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return New(t.TempDir()) }, storagetest.Options{})
}

// A killed backup can leave an empty directory behind: Orphans reports it
// once it is older than the grace period, and DeleteOrphans removes it
// (with parents it leaves empty), never a directory that holds anything.
func TestEmptyDirectoriesArePruned(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := New(root)
	for _, d := range []string{"app/20261101T000000Z", "app/20261102T000000Z", "other/x"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "app/20261102T000000Z/dump.sql.zst", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(root, "app/20261101T000000Z"), old, old)
	if got, _ := s.Orphans(ctx, "app/", time.Hour); len(got) != 1 || got[0] != "app/20261101T000000Z/" {
		t.Fatalf("Orphans = %q, want the old empty directory only", got)
	}
	if got, _ := s.Orphans(ctx, "app/", 0); len(got) != 1 {
		t.Fatalf("Orphans(0) = %q: a directory holding a backup is not empty", got)
	}
	got, _ := s.Orphans(ctx, "app/", 0)
	if err := s.DeleteOrphans(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "app/20261101T000000Z")); !os.IsNotExist(err) {
		t.Errorf("the empty directory is still there: %v", err)
	}
	for _, keep := range []string{"app/20261102T000000Z/dump.sql.zst", "other/x"} {
		if _, err := os.Stat(filepath.Join(root, keep)); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
	// A failed Put leaves no directory behind.
	if _, err := s.Put(ctx, "app/new/dump.sql.zst", iotest.ErrReader(errors.New("cut"))); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if _, err := os.Stat(filepath.Join(root, "app/new")); !os.IsNotExist(err) {
		t.Errorf("a failed Put left its directory: %v", err)
	}
}

// TestWritebackStartsEveryStretch: Put's writer passes every byte through
// and asks for the disk writes of each writebackEvery bytes in order, with
// no gap and no overlap, whatever the sizes of the writes.
func TestWritebackStartsEveryStretch(t *testing.T) {
	var out strings.Builder
	type span struct{ off, n int64 }
	var got []span
	w := &writeback{w: &out, start: func(off, n int64) { got = append(got, span{off, n}) }}
	total := 0
	for i, size := range []int{1, writebackEvery - 2, 1, 1, 3 << 20, 7 << 20, writebackEvery * 2, 5} {
		p := []byte(strings.Repeat(string(rune('a'+i)), size))
		if n, err := w.Write(p); n != size || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
		total += size
	}
	if out.Len() != total {
		t.Fatalf("wrote %d bytes, want %d", out.Len(), total)
	}
	want := []span{{0, writebackEvery}, {writebackEvery, 10<<20 + 1}, {writebackEvery + 10<<20 + 1, writebackEvery * 2}}
	if len(got) != len(want) {
		t.Fatalf("writeback ranges %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("writeback ranges %v, want %v", got, want)
		}
	}
}
