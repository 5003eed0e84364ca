package tlsrpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// copyTo copies testdata files into dir under the given names.
func copyTo(t *testing.T, dir string, pairs ...string) {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		b, err := os.ReadFile(pairs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pairs[i+1]), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A directory sums as `ops tlscheck report` sums the same files: the
// Google gzip, the Microsoft JSON and the e-mail, plus a second copy of the
// Google report (counted once), a bad file (counted apart, reported once),
// a hidden file and a subdirectory (ignored).
func TestDirSumsLikeReport(t *testing.T) {
	dir := t.TempDir()
	copyTo(t, dir, googleFile, "google.json.gz", msFile, "ms.json", mailFile, "ms.eml", googleFile, "google-again.json.gz")
	if err := os.WriteFile(filepath.Join(dir, "junk.json"), []byte(`{"policies": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".incoming.json"), []byte(`not read`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	d := NewDir(dir)
	got, fresh, err := d.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Sum(readAll(t, googleFile, msFile, mailFile))
	if !reflect.DeepEqual(got.Summary, want) {
		t.Errorf("directory sum = %+v\nwant %+v (as tlscheck report sums the same files)", got.Summary, want)
	}
	if got.Files != 5 || len(got.Bad) != 1 || got.Bad[0].Name != filepath.Join(dir, "junk.json") || !errors.Is(got.Bad[0].Err, ErrMalformed) {
		t.Fatalf("files %d, bad %+v: want 5 files (hidden one and subdirectory ignored), junk.json bad", got.Files, got.Bad)
	}
	if len(fresh) != 1 || fresh[0].Name != got.Bad[0].Name || !strings.Contains(fresh[0].Err.Error(), "junk.json") {
		t.Fatalf("fresh bad files = %+v, want junk.json once, its error naming it", fresh)
	}
	// Scanned again unchanged: the same sum, the bad file not fresh again.
	again, fresh, err := d.Scan(context.Background())
	if err != nil || !reflect.DeepEqual(again, got) || len(fresh) != 0 {
		t.Fatalf("second scan = %+v, fresh %+v, %v: want the same sum and no fresh bad file", again, fresh, err)
	}
}

// A file is read again when its size or modification time changes (not
// otherwise), and forgotten when it goes.
func TestDirCachesByNameSizeMtime(t *testing.T) {
	dir := t.TempDir()
	copyTo(t, dir, msFile, "r.json")
	d := NewDir(dir)
	s, _, err := d.Scan(context.Background())
	if err != nil || s.Summary.Reports != 1 {
		t.Fatalf("scan: %+v %v", s, err)
	}
	p := filepath.Join(dir, "r.json")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	// Same size and mtime, other content: the cached reading stands.
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, []byte(strings.Repeat(" ", len(b))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if s, fresh, err := d.Scan(context.Background()); err != nil || s.Summary.Reports != 1 || len(s.Bad) != 0 || len(fresh) != 0 {
		t.Fatalf("unchanged name, size and mtime were read again: %+v %+v %v", s, fresh, err)
	}
	// A new mtime: read again, now a bad file, fresh once.
	if err := os.Chtimes(p, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	s, fresh, err := d.Scan(context.Background())
	if err != nil || s.Summary.Reports != 0 || len(s.Bad) != 1 || len(fresh) != 1 {
		t.Fatalf("after a new mtime: %+v, fresh %+v, %v: want the file read again, bad", s, fresh, err)
	}
	// Another size (a good report again), and a second file.
	copyTo(t, dir, msFile, "r.json", pfFile, "pf.json")
	s, fresh, err = d.Scan(context.Background())
	if err != nil || s.Summary.Reports != 2 || len(s.Bad) != 0 || len(fresh) != 0 || s.Files != 2 {
		t.Fatalf("after rewriting: %+v, fresh %+v, %v", s, fresh, err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	s, _, err = d.Scan(context.Background())
	if err != nil || s.Summary.Reports != 1 || s.Files != 1 || s.Summary.Policies[0].PolicyType != PolicyNoPolicyFound {
		t.Fatalf("after removing r.json: %+v %v", s, err)
	}
}

// A directory that cannot be listed is an error, not an empty sum; a
// cancelled scan stops.
func TestDirErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, _, err := NewDir(missing).Scan(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want ErrNotExist", err)
	}
	dir := t.TempDir()
	copyTo(t, dir, msFile, "r.json")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := NewDir(dir).Scan(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: %v", err)
	}
}
