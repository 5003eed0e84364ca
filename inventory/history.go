package inventory

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultHistoryKeep is how many snapshots inventory.history keeps when
// keep is not set.
const DefaultHistoryKeep = 90

// snapshotLayout is the time part of a snapshot's file name (UTC).
const snapshotLayout = "20060102T150405Z"

// snapshotNameRE matches the file names History writes:
// inventory-20261207T180000Z.json.gz, or with -2, -3, ... when two runs
// collected in the same second.
var snapshotNameRE = regexp.MustCompile(`^inventory-(\d{8}T\d{6}Z)(?:-(\d+))?\.json\.gz$`)

// History is the directory of kept snapshots (inventory.history): one
// gzip-compressed JSON report per run, named after its collected_at.
type History struct {
	Dir  string
	Keep int // how many snapshots to keep (<= 0 = DefaultHistoryKeep)
}

// Snapshot is one file of the history directory. Err is set when the file
// is not a readable snapshot (corrupt, truncated, foreign); the other
// fields are then as far as known.
type Snapshot struct {
	File        string    `json:"file"`
	CollectedAt time.Time `json:"collected_at"`
	Bytes       int64     `json:"bytes"`
	Hosts       int       `json:"hosts"`
	VMs         int       `json:"vms"`
	VMsOn       int       `json:"vms_on"`
	VMsOff      int       `json:"vms_off"`
	Errors      int       `json:"errors"`
	Warnings    int       `json:"warnings"`
	SourcesOK   bool      `json:"sources_ok"`
	Error       string    `json:"error"`

	path   string
	report *Report
}

// Path is the snapshot's path.
func (s Snapshot) Path() string { return s.path }

// Report is the snapshot's report (nil when Error is set).
func (s Snapshot) Report() *Report { return s.report }

func (h History) keep() int {
	if h.Keep <= 0 {
		return DefaultHistoryKeep
	}
	return h.Keep
}

// Save writes r as the newest snapshot, atomically (a temporary file in the
// directory, synced, then renamed), and removes the oldest snapshots beyond
// Keep. Only files named like snapshots are ever removed. It returns the
// new file's path.
func (h History) Save(r *Report) (string, error) {
	if h.Dir == "" {
		return "", errors.New("inventory history: no directory")
	}
	if err := os.MkdirAll(h.Dir, 0o750); err != nil {
		return "", fmt.Errorf("inventory history: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return "", fmt.Errorf("inventory history: encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("inventory history: compress: %w", err)
	}
	stamp := r.CollectedAt.UTC().Format(snapshotLayout)
	path := filepath.Join(h.Dir, "inventory-"+stamp+".json.gz")
	for n := 2; exists(path); n++ {
		path = filepath.Join(h.Dir, fmt.Sprintf("inventory-%s-%d.json.gz", stamp, n))
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return "", fmt.Errorf("inventory history: %w", err)
	}
	if err := h.prune(); err != nil {
		return path, fmt.Errorf("inventory history: %w", err)
	}
	return path, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// writeAtomic writes data to path through a synced temporary file of the
// same directory and a rename: a reader sees the old state or the whole file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// snapshotFile is a directory entry named like a snapshot.
type snapshotFile struct {
	name string
	at   time.Time
	seq  int
}

// snapshotFiles lists the entries named like snapshots, newest first, and
// the other regular files (foreign). Hidden files (temporary files of a
// write in progress) and directories are ignored.
func (h History) snapshotFiles() (snaps []snapshotFile, foreign []string, err error) {
	entries, err := os.ReadDir(h.Dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		m := snapshotNameRE.FindStringSubmatch(name)
		if m == nil {
			foreign = append(foreign, name)
			continue
		}
		at, err := time.Parse(snapshotLayout, m[1])
		if err != nil {
			foreign = append(foreign, name)
			continue
		}
		seq := 1
		if m[2] != "" {
			fmt.Sscan(m[2], &seq)
		}
		snaps = append(snaps, snapshotFile{name: name, at: at, seq: seq})
	}
	slices.SortFunc(snaps, func(a, b snapshotFile) int {
		return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.seq, a.seq), cmp.Compare(b.name, a.name))
	})
	return snaps, foreign, nil
}

func (h History) prune() error {
	snaps, _, err := h.snapshotFiles()
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range snaps[min(h.keep(), len(snaps)):] {
		if err := os.Remove(filepath.Join(h.Dir, s.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// List reads every snapshot, newest first. A file that cannot be read as a
// snapshot (corrupt, truncated, or a foreign file in the directory) is
// listed with Error set and sorted last; only an unreadable directory is an
// error. A directory that does not exist yet holds no snapshots.
func (h History) List() ([]Snapshot, error) {
	snaps, foreign, err := h.snapshotFiles()
	if errors.Is(err, os.ErrNotExist) {
		return []Snapshot{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory history: %w", err)
	}
	out := make([]Snapshot, 0, len(snaps)+len(foreign))
	for _, f := range snaps {
		out = append(out, h.read(f))
	}
	slices.Sort(foreign)
	for _, name := range foreign {
		s := Snapshot{File: name, path: filepath.Join(h.Dir, name),
			Error: "not an inventory snapshot: expected a name like inventory-" + snapshotLayout + ".json.gz"}
		if fi, err := os.Stat(s.path); err == nil {
			s.Bytes = fi.Size()
		}
		out = append(out, s)
	}
	return out, nil
}

func (h History) read(f snapshotFile) Snapshot {
	s := Snapshot{File: f.name, CollectedAt: f.at, path: filepath.Join(h.Dir, f.name)}
	if fi, err := os.Stat(s.path); err == nil {
		s.Bytes = fi.Size()
	}
	r, err := loadReport(s.path, true)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.report = r
	if !r.CollectedAt.IsZero() {
		s.CollectedAt = r.CollectedAt
	}
	sum := r.Summarize()
	s.Hosts, s.VMs, s.VMsOn, s.VMsOff = sum.Hosts, sum.VMs, sum.VMsOn, sum.VMsOff
	s.Errors, s.Warnings = sum.Errors, sum.Warnings
	s.SourcesOK = sum.SourcesFailed == 0
	return s
}

// Since returns the oldest readable snapshot of snaps (as List returns
// them: newest first, so the last of those collected in the same second)
// collected at or after since.
func Since(snaps []Snapshot, since time.Time) (Snapshot, bool) {
	var best Snapshot
	found := false
	for _, s := range snaps {
		if s.Error != "" || s.CollectedAt.Before(since) {
			continue
		}
		if !found || !s.CollectedAt.After(best.CollectedAt) {
			best, found = s, true
		}
	}
	return best, found
}

// decompress returns the content of a gzip stream, or b itself when b is
// not gzip-compressed.
func decompress(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(io.LimitReader(zr, maxReportBytes+1))
}

// maxReportBytes bounds a decompressed report (a gzip bomb must not take
// the memory of the machine).
const maxReportBytes = 1 << 30
