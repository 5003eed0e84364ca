package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/local"
)

// fakeBackup runs RunBackup with a dump source that writes body as the
// stored stream; a partial backup is one whose manifest is then removed, as
// a run killed before its manifest leaves it.
func fakeBackup(t *testing.T, s storage.Store, job string, started time.Time, body string, partial bool) *catalog.Manifest {
	t.Helper()
	ctx := context.Background()
	j := testJob()
	j.Name = job
	raw := func(_ context.Context, o dump.DumpOptions, w io.Writer) (*dump.DumpResult, error) {
		_, err := io.WriteString(w, body)
		return &dump.DumpResult{Databases: []string{"app"}, Compression: o.Compression.OrDefault()}, err
	}
	m, err := RunBackup(ctx, RunOptions{Job: j, Store: s, Now: backuptest.FixedClock(started), Dump: raw})
	if err != nil {
		t.Fatal(err)
	}
	if partial {
		if err := s.Delete(ctx, path.Join(catalog.JobPrefix("", job)+m.ID, catalog.ManifestName)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestListHidesPartialAndFindRefusesIt(t *testing.T) {
	ctx := context.Background()
	s := local.New(t.TempDir())
	t0 := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	fakeBackup(t, s, "app", t0, "one", false)
	fakeBackup(t, s, "app", t0.Add(24*time.Hour), "two", true)
	fakeBackup(t, s, "other", t0, "x", false)

	list, err := ListBackups(ctx, s, Job{Name: "app"}, false)
	if err != nil || len(list) != 1 || list[0].ID != catalog.NewID(t0) || !list[0].Complete {
		t.Fatalf("list = %+v, %v", list, err)
	}
	all, _ := ListBackups(ctx, s, Job{Name: "app"}, true)
	if len(all) != 2 || all[0].Complete || all[0].ID != catalog.NewID(t0.Add(24*time.Hour)) {
		t.Fatalf("--all = %+v", all)
	}
	if b, err := FindBackup(ctx, s, Job{Name: "app"}, "latest"); err != nil || b.ID != catalog.NewID(t0) {
		t.Fatalf("latest = %+v, %v (must skip the newer partial one)", b, err)
	}
	if _, err := FindBackup(ctx, s, Job{Name: "app"}, all[0].ID); err == nil || !strings.Contains(err.Error(), "partial") {
		t.Fatalf("partial backup accepted: %v", err)
	}
	if _, err := FindBackup(ctx, s, Job{Name: "nojob"}, ""); err == nil {
		t.Fatal("no error for a job without backups")
	}
}

func TestVerifyDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	s := local.New(t.TempDir())
	body := strings.Repeat("0123456789", 1000)
	m := fakeBackup(t, s, "app", time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC), body, false)
	// Describe the object as three segments, as the Swift target does.
	var segs []storage.Segment
	for i, off := 0, 0; off < len(body); i++ {
		n := min(4000, len(body)-off)
		sum := sha256.Sum256([]byte(body[off : off+n]))
		segs = append(segs, storage.Segment{Name: fmt.Sprintf("seg/%08d", i), Size: int64(n), SHA256: hex.EncodeToString(sum[:])})
		off += n
	}
	m.Object.Segments = segs
	dir := catalog.JobPrefix("", "app") + m.ID
	if _, err := catalog.WriteManifest(ctx, s, dir, m, nil); err != nil {
		t.Fatal(err)
	}
	b, err := FindBackup(ctx, s, Job{Name: "app"}, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := VerifyBackup(ctx, s, b)
	if err != nil || !res.OK() {
		t.Fatalf("clean backup: %+v %v", res, err)
	}
	// Flip one byte in the middle segment.
	p := filepath.Join(s.Root, filepath.FromSlash(m.Object.Name))
	data, _ := os.ReadFile(p)
	data[5000] ^= 0x20
	_ = os.WriteFile(p, data, 0o600)
	res, err = VerifyBackup(ctx, s, b)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(res.Problems, "\n")
	if len(res.Problems) != 2 || !strings.Contains(got, "dump.sql.zst: SHA-256") || !strings.Contains(got, "segment seg/00000001: SHA-256") {
		t.Fatalf("problems = %q", res.Problems)
	}
	// Truncation.
	_ = os.WriteFile(p, data[:100], 0o600)
	res, _ = VerifyBackup(ctx, s, b)
	if got := strings.Join(res.Problems, "\n"); !strings.Contains(got, "size 100, manifest says 10000") || !strings.Contains(got, "truncated") {
		t.Fatalf("problems = %q", res.Problems)
	}
	// Missing object.
	_ = os.Remove(p)
	res, _ = VerifyBackup(ctx, s, b)
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "missing") {
		t.Fatalf("problems = %q", res.Problems)
	}
}

func TestPruneKeepsPolicyRemovesPartialAndOrphans(t *testing.T) {
	ctx := context.Background()
	s := local.New(t.TempDir())
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		fakeBackup(t, s, "app", now.Add(-time.Duration(i)*24*time.Hour), "data", false)
	}
	fakeBackup(t, s, "app", now.Add(-30*time.Minute), "running", true)   // young partial: may still be running
	fakeBackup(t, s, "app", now.Add(-72*time.Hour-time.Hour), "x", true) // old partial
	orphan := filepath.Join(s.Root, "app", catalog.NewID(now.Add(-48*time.Hour)), ".dump.sql.zst"+local.PartialMarker+"dead")
	_ = os.WriteFile(orphan, []byte("half"), 0o600)
	old := now.Add(-48 * time.Hour)
	_ = os.Chtimes(orphan, old, old)

	job := Job{Name: "app", Retention: Retention{KeepLast: 2}}
	opts := PruneOptions{Job: job, Store: s, DryRun: true, Now: func() time.Time { return now }, Location: time.UTC}
	dry, err := Prune(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Deleted) != 0 || len(dry.Partial) != 1 || len(dry.Orphans) != 1 {
		t.Fatalf("dry run = %+v", dry)
	}
	if l, _ := ListBackups(ctx, s, Job{Name: "app"}, true); len(l) != 7 {
		t.Fatalf("dry run deleted something: %d left", len(l))
	}
	opts.DryRun = false
	res, err := Prune(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	complete, _ := ListBackups(ctx, s, Job{Name: "app"}, false)
	all, _ := ListBackups(ctx, s, Job{Name: "app"}, true)
	if len(complete) != 2 || complete[0].ID != catalog.NewID(now) || complete[1].ID != catalog.NewID(now.Add(-24*time.Hour)) {
		t.Fatalf("kept = %+v", complete)
	}
	if len(all) != 3 { // + the young partial
		t.Fatalf("all = %d", len(all))
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("orphan not removed")
	}
	// 3 complete backups × 2 objects + 1 partial × 1 + 1 orphan
	if len(res.Deleted) != 8 {
		t.Fatalf("deleted = %q", res.Deleted)
	}
	// The manifest of each pruned backup goes before its data.
	if !strings.HasSuffix(res.Deleted[0], catalog.ManifestName) {
		t.Errorf("first deletion = %s", res.Deleted[0])
	}
}

func TestParseRecipients(t *testing.T) {
	if _, err := ParseRecipients([]string{"age1notvalid"}); err == nil || !strings.Contains(err.Error(), "encrypt_to[0]") {
		t.Fatalf("err = %v", err)
	}
	if r, err := ParseRecipients(nil); err != nil || len(r) != 0 {
		t.Fatal(r, err)
	}
}
