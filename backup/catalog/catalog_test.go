package catalog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/mem"
)

var t0 = time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)

// store writes one backup of job app the way the pipeline does (stream, then
// the manifest last) and returns the manifest's object name.
func store(t *testing.T, s *mem.Store, id string, key []byte) string {
	t.Helper()
	ctx := context.Background()
	dir := JobPrefix("", "app") + id
	obj, err := s.Put(ctx, dir+"/"+StreamName(compress.Zstd, false), strings.NewReader("stream"))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Format: ManifestFormat, Job: "app", ID: id, StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		Databases: []string{"shop"}, Compression: compress.Zstd, Object: obj}
	if _, err := WriteManifest(ctx, s, dir, m, key); err != nil {
		t.Fatal(err)
	}
	return dir + "/" + ManifestName
}

func statuses(t *testing.T, s storage.Store, ref Ref) map[string]string {
	t.Helper()
	list, err := List(context.Background(), s, ref, true)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, b := range list {
		out[b.ID] = b.Status
	}
	return out
}

// With a key, a manifest is complete only with a valid MAC: an edited one,
// one without a MAC and one under another key are untrusted, never
// complete; Find refuses them by ID and skips them as "latest".
func TestListChecksTheManifestMAC(t *testing.T) {
	key, other := []byte("the job's key"), []byte("another key")
	s := mem.New()
	good := NewID(t0)
	edited := NewID(t0.Add(time.Hour))
	unsigned := NewID(t0.Add(2 * time.Hour))
	foreign := NewID(t0.Add(3 * time.Hour))
	store(t, s, good, key)
	name := store(t, s, edited, key)
	s.Replace(name, []byte(strings.Replace(string(s.Bytes(name)), `"shop"`, `"evil"`, 1)))
	store(t, s, unsigned, nil)
	store(t, s, foreign, other)

	ref := Ref{Name: "app", Key: key}
	got := statuses(t, s, ref)
	want := map[string]string{good: StatusComplete, edited: StatusUntrusted, unsigned: StatusUntrusted, foreign: StatusUntrusted}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("backup %s: status %q, want %q", id, got[id], st)
		}
	}
	b, err := Find(context.Background(), s, ref, "latest")
	if err != nil || b.ID != good || !b.Authenticated || b.ManifestData() == nil {
		t.Fatalf("Find(latest) = %+v, %v; want the authenticated %s", b, err, good)
	}
	if _, err := Find(context.Background(), s, ref, edited); !errors.Is(err, ErrNotComplete) {
		t.Errorf("Find(edited) = %v, want ErrNotComplete", err)
	}
	// Only a manifest with no MAC at all can be accepted on request.
	list, _ := List(context.Background(), s, ref, true)
	for _, b := range list {
		if accepted := b.AcceptUnsigned(); accepted != (b.ID == unsigned) {
			t.Errorf("AcceptUnsigned(%s) = %v", b.ID, accepted)
		}
	}
	// Without a key every well-formed manifest is complete, unauthenticated.
	for id, st := range statuses(t, s, Ref{Name: "app"}) {
		if st != StatusComplete {
			t.Errorf("without a key, backup %s is %q", id, st)
		}
	}
}

// A directory without a manifest is partial, a manifest naming a missing
// stream is corrupt; neither is listed unless all is set.
func TestListPartialAndCorrupt(t *testing.T) {
	s := mem.New()
	ctx := context.Background()
	partial := NewID(t0)
	if _, err := s.Put(ctx, JobPrefix("", "app")+partial+"/"+StreamName(compress.Zstd, false), strings.NewReader("half")); err != nil {
		t.Fatal(err)
	}
	corrupt := NewID(t0.Add(time.Hour))
	store(t, s, corrupt, nil)
	if err := s.Delete(ctx, JobPrefix("", "app")+corrupt+"/"+StreamName(compress.Zstd, false)); err != nil {
		t.Fatal(err)
	}
	got := statuses(t, s, Ref{Name: "app"})
	if got[partial] != StatusPartial || got[corrupt] != StatusCorrupt {
		t.Errorf("statuses = %v", got)
	}
	if list, err := List(ctx, s, Ref{Name: "app"}, false); err != nil || len(list) != 0 {
		t.Errorf("List(all=false) = %v, %v; want nothing", list, err)
	}
	if _, err := Find(ctx, s, Ref{Name: "app"}, ""); !errors.Is(err, ErrNoBackup) {
		t.Errorf("Find(\"\") = %v, want ErrNoBackup", err)
	}
}

// Backups started in the same second get run numbers; -10 is newer than -9.
func TestIDOrder(t *testing.T) {
	base := NewID(t0)
	ids := []string{base, base + "-2", base + "-10", base + "-9", NewID(t0.Add(time.Second))}
	slices.SortFunc(ids, func(a, b string) int {
		if IDAfter(a, b) {
			return -1
		}
		return 1
	})
	want := []string{NewID(t0.Add(time.Second)), base + "-10", base + "-9", base + "-2", base}
	if !slices.Equal(ids, want) {
		t.Errorf("newest first = %v, want %v", ids, want)
	}
}

// The manifest goes first, then the other objects in order, and a failure
// stops with what was deleted so far.
func TestDeleteManifestFirst(t *testing.T) {
	s := mem.New()
	ctx := context.Background()
	for _, n := range []string{"a/x", "a/manifest.json", "a/y"} {
		if _, err := s.Put(ctx, n, strings.NewReader("-")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := DeleteManifestFirst(ctx, s, "a/manifest.json", []string{"a/x", "a/manifest.json", "a/y"})
	if err != nil || !slices.Equal(got, []string{"a/manifest.json", "a/x", "a/y"}) {
		t.Errorf("DeleteManifestFirst = %v, %v", got, err)
	}
	if left := s.Names(); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// List returns the newest first, run numbers compared as numbers.
func TestListNewestFirst(t *testing.T) {
	s := mem.New()
	base := NewID(t0)
	for _, id := range []string{base, base + "-9", base + "-10", base + "-2"} {
		store(t, s, id, nil)
	}
	list, err := List(context.Background(), s, Ref{Name: "app"}, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range list {
		got = append(got, b.ID)
	}
	if want := []string{base + "-10", base + "-9", base + "-2", base}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}
