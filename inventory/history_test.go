package inventory

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func reportAt(t *testing.T, at time.Time, vms ...string) *Report {
	t.Helper()
	r := &Report{CollectedAt: at, Sources: []SourceStatus{{Name: "kvm", Type: TypeLibvirt, OK: true}}}
	for _, v := range vms {
		r.VMs = append(r.VMs, VM{Source: "kvm", Name: v, Power: PowerOn})
	}
	r.Normalize()
	return r
}

// Saved snapshots are gzip-compressed JSON named after collected_at, listed
// newest first; keep bounds them (the oldest go first); nothing temporary
// is left behind.
func TestHistorySaveListPrune(t *testing.T) {
	h := History{Dir: filepath.Join(t.TempDir(), "hist"), Keep: 3}
	for i := range 5 {
		p, err := h.Save(reportAt(t, fixedNow.Add(time.Duration(i)*time.Hour), "a", strings.Repeat("b", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		if want := "inventory-" + fixedNow.Add(time.Duration(i)*time.Hour).Format(snapshotLayout) + ".json.gz"; filepath.Base(p) != want {
			t.Errorf("file %s, want %s", filepath.Base(p), want)
		}
	}
	// same second again: a second file, not an overwrite
	p, err := h.Save(reportAt(t, fixedNow.Add(4*time.Hour), "a", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, "Z-2.json.gz") {
		t.Errorf("second snapshot of the same second: %s", p)
	}
	entries, _ := os.ReadDir(h.Dir)
	if len(entries) != 3 {
		t.Fatalf("%d files, want keep=3: %v", len(entries), entries)
	}
	snaps, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 3 || !strings.HasSuffix(snaps[0].File, "-2.json.gz") || snaps[0].Report().VMs[1].Name != "c" ||
		!snaps[2].CollectedAt.Equal(fixedNow.Add(3*time.Hour)) || snaps[2].VMs != 2 || snaps[2].VMsOn != 2 || !snaps[2].SourcesOK {
		t.Fatalf("snapshots = %+v", snaps)
	}
	f, err := os.Open(snaps[1].Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := gzip.NewReader(f); err != nil {
		t.Errorf("a snapshot is not gzip: %v", err)
	}
}

// A corrupt snapshot, an empty one, a JSON file that is not a report and a
// foreign file are each listed with their error; the readable snapshots are
// still listed, and prune never removes a foreign file.
func TestHistoryCorruptAndForeign(t *testing.T) {
	h := History{Dir: t.TempDir(), Keep: 2}
	if _, err := h.Save(reportAt(t, fixedNow, "a")); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(h.Dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("inventory-20261128T130000Z.json.gz", "\x1f\x8b\x08garbage")
	write("inventory-20261128T140000Z.json.gz", "")
	write("inventory-20261128T150000Z.json.gz", `{"hello": "world"}`)
	write("notes.txt", "mine")
	write(".inventory-x.json.gz.tmp-123", "half") // a write in progress: ignored
	snaps, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range snaps {
		got[s.File] = s.Error
	}
	want := map[string]string{
		"inventory-20261128T150000Z.json.gz": "no schema field",
		"inventory-20261128T140000Z.json.gz": "not an inventory JSON report",
		"inventory-20261128T130000Z.json.gz": "gzip",
		"inventory-20261128T120000Z.json.gz": "",
		"notes.txt":                          "not an inventory snapshot",
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v", got)
	}
	for f, w := range want {
		if e, ok := got[f]; !ok || (w == "" && e != "") || !strings.Contains(e, w) {
			t.Errorf("%s: error %q, want %q", f, e, w)
		}
	}
	if snaps[len(snaps)-1].File != "notes.txt" {
		t.Errorf("foreign files are listed last: %v", snaps)
	}
	if s, ok := Since(snaps, fixedNow.Add(-time.Hour)); !ok || s.File != "inventory-20261128T120000Z.json.gz" {
		t.Errorf("Since skips unreadable snapshots: %+v %v", s, ok)
	}
	// keep=2: saving prunes the oldest snapshot-named files, never notes.txt
	if _, err := h.Save(reportAt(t, fixedNow.Add(5*time.Hour), "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.Dir, "notes.txt")); err != nil {
		t.Errorf("prune removed a foreign file: %v", err)
	}
	snaps, _ = h.List()
	if len(snaps) != 3 || snaps[0].CollectedAt.Hour() != 17 || snaps[1].File != "inventory-20261128T150000Z.json.gz" {
		t.Errorf("after prune: %+v", snaps)
	}
}

func TestHistorySince(t *testing.T) {
	h := History{Dir: t.TempDir()}
	for _, d := range []time.Duration{0, time.Hour, 2 * time.Hour} {
		if _, err := h.Save(reportAt(t, fixedNow.Add(d), "a")); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		since time.Time
		want  time.Time
		ok    bool
	}{
		{fixedNow.Add(-time.Minute), fixedNow, true},
		{fixedNow.Add(30 * time.Minute), fixedNow.Add(time.Hour), true},
		{fixedNow.Add(2 * time.Hour), fixedNow.Add(2 * time.Hour), true},
		{fixedNow.Add(3 * time.Hour), time.Time{}, false},
	} {
		s, ok := Since(snaps, c.since)
		if ok != c.ok || (ok && !s.CollectedAt.Equal(c.want)) {
			t.Errorf("Since(%s) = %s %v, want %s %v", c.since, s.CollectedAt, ok, c.want, c.ok)
		}
	}
	// a missing directory holds nothing yet
	if s, err := (History{Dir: filepath.Join(h.Dir, "none")}).List(); err != nil || len(s) != 0 {
		t.Errorf("missing dir: %v %v", s, err)
	}
}
