package tlsrpt

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Dir sums the reports of one directory again and again (`ops serve`'s
// tlscheck.report_dir): a file is read once per name, size and modification
// time, so a scan of an unchanged directory only lists it and stats its
// files. The files are those `ops tlscheck report DIR` reads: regular files
// and links to regular files, not hidden ones (a report being written under
// a hidden name and then renamed is read once complete), not
// subdirectories. A Dir is safe for concurrent use; scans run one at a time.
type Dir struct {
	path string

	mu    sync.Mutex // one scan at a time; guards files and sum
	files map[string]dirFile
	sum   *DirSum // of the last scan; nil before the first or after a change
}

// dirFile is what was read of one file: its reports, or why it is not one.
type dirFile struct {
	size    int64
	mtime   time.Time
	reports []*Report
	err     error
}

// DirSum is the sum of a directory's reports.
type DirSum struct {
	Summary Summary   // the good files' reports summed as Sum does (a report in two files counts once)
	Files   int       // files read as reports, bad ones included
	Bad     []BadFile // files that are not readable reports, in name order
}

// BadFile is a file that is not a readable report, and why.
type BadFile struct {
	Name string // the file's path (the directory joined with its name)
	Err  error  // wraps ErrMalformed, or is the error reading it
}

// NewDir returns a Dir reading path; nothing is read before Scan.
func NewDir(path string) *Dir {
	return &Dir{path: path, files: map[string]dirFile{}}
}

// Path is the directory read.
func (d *Dir) Path() string { return d.path }

// Scan lists the directory, reads the files that are new or changed since
// the last scan and sums every report. fresh lists the bad files met for the
// first time in this version (name, size, mtime), for the caller to log once.
// An error listing the directory is returned as is (the previous files are
// forgotten); a file that cannot be read is a BadFile, never an error. A
// cancelled ctx stops the scan between files and returns ctx's error, keeping
// what was read for the next scan.
func (d *Dir) Scan(ctx context.Context) (sum DirSum, fresh []BadFile, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	names, err := d.list()
	if err != nil {
		d.files, d.sum = map[string]dirFile{}, nil
		return DirSum{}, nil, err
	}
	old := d.files
	next := make(map[string]dirFile, len(names))
	changed := false
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return DirSum{}, nil, err
		}
		p := filepath.Join(d.path, n)
		st, err := os.Stat(p)
		if err != nil {
			continue // removed since the listing
		}
		if f, ok := old[n]; ok && f.size == st.Size() && f.mtime.Equal(st.ModTime()) {
			next[n] = f
			continue
		}
		changed = true
		f := dirFile{size: st.Size(), mtime: st.ModTime()}
		f.reports, f.err = ReadFile(p)
		f.reports = slim(f.reports)
		if f.err != nil {
			fresh = append(fresh, BadFile{Name: p, Err: f.err})
		}
		next[n] = f
	}
	d.files = next
	if !changed && len(next) == len(old) && d.sum != nil { // the same files, unchanged
		return *d.sum, fresh, nil
	}
	s := d.sumOf(names)
	d.sum = &s
	return s, fresh, nil
}

// list returns the names of the report files, sorted.
func (d *Dir) list() ([]string, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 { // a link to a report counts, a link to a directory not
			if st, err := os.Stat(filepath.Join(d.path, e.Name())); err != nil || !st.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (d *Dir) sumOf(names []string) DirSum {
	var all []*Report
	s := DirSum{Bad: []BadFile{}}
	for _, n := range names {
		f, ok := d.files[n]
		if !ok {
			continue
		}
		s.Files++
		if f.err != nil {
			s.Bad = append(s.Bad, BadFile{Name: filepath.Join(d.path, n), Err: f.err})
			continue
		}
		all = append(all, f.reports...)
	}
	s.Summary = Sum(all)
	return s
}

// slim keeps of each report what Sum reads, so that a directory of many
// reports holds little memory between scans.
func slim(rs []*Report) []*Report {
	for i, r := range rs {
		out := &Report{OrganizationName: r.OrganizationName, ReportID: r.ReportID, Policies: make([]PolicyResult, len(r.Policies))}
		for j, p := range r.Policies {
			q := PolicyResult{Type: p.Type, Domain: p.Domain, Successful: p.Successful, Failed: p.Failed}
			for _, f := range p.Failures {
				q.Failures = append(q.Failures, Failure{ResultType: f.ResultType, SendingMTAIP: f.SendingMTAIP,
					ReceivingMX: f.ReceivingMX, FailedSessions: f.FailedSessions})
			}
			out.Policies[j] = q
		}
		rs[i] = out
	}
	return rs
}
