package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/mem"
	"github.com/opsteam/ops/internal/fielderr"
)

var testServer = physical.Server{Version: "10.11.19-MariaDB-log", ServerID: 7, Datadir: "/var/lib/mysql/"}

// fakePhysical is a mariadb-backup that writes size pseudo-random bytes
// (seeded by its LSN) and reports LSNs that follow the asked-for base.
type fakePhysical struct {
	size   int
	lsn    uint64
	asked  []uint64 // the IncrementalLSN of each call
	server physical.Server
	stream [][]byte
	// noSnapshot, when set, is the Result's NoSnapshot (noBinlog its NoBinlog).
	noSnapshot string
	noBinlog   bool
}

func (f *fakePhysical) backup(_ context.Context, o physical.Options, w io.Writer) (*physical.Result, error) {
	f.asked = append(f.asked, o.IncrementalLSN)
	if o.Planned != nil {
		o.Planned(int64(2 * f.size))
	}
	from := o.IncrementalLSN
	f.lsn += 1000
	data := make([]byte, f.size)
	r := rand.New(rand.NewPCG(f.lsn, 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	f.stream = append(f.stream, data)
	for p := data; len(p) > 0; p = p[min(len(p), 1<<20):] {
		if _, err := w.Write(p[:min(len(p), 1<<20)]); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(int64(len(data) - len(p) + min(len(p), 1<<20)))
		}
	}
	kind := "full-backuped"
	if from > 0 {
		kind = "incremental"
	}
	srv := f.server
	if srv == (physical.Server{}) {
		srv = testServer
	}
	return &physical.Result{Info: physical.Info{Checkpoints: physical.Checkpoints{BackupType: kind, FromLSN: from, ToLSN: f.lsn, LastLSN: f.lsn + 5},
		Binlog: physical.BinlogInfo{File: "binlog.000004", Pos: 4 + f.lsn, GTID: "0-1-9"}, ToolVersion: "10.11.19-MariaDB"},
		Server: srv, StreamBytes: int64(len(data)), NoSnapshot: f.noSnapshot, NoBinlog: f.noBinlog}, nil
}

func physicalJob() Job {
	j := testJob()
	j.Method = MethodPhysical
	return j
}

// runPhysicalAt runs one physical backup at T0+hours.
func runPhysicalAt(t *testing.T, s *mem.Store, j Job, f *fakePhysical, hours int, srv physical.Server) (*catalog.Manifest, error) {
	t.Helper()
	if srv == (physical.Server{}) {
		srv = testServer
	}
	return RunBackup(context.Background(), RunOptions{Job: j, Store: s, Now: backuptest.FixedClock(backuptest.T0.Add(time.Duration(hours) * time.Hour)),
		Physical: f.backup, ServerFacts: func(context.Context) (physical.Server, error) { return srv, nil }})
}

// fakeTools writes an mbstream that copies its input to DIR/stream (and
// leaves a marker that it ran) and a mariadb-backup that logs its
// arguments, and returns their paths and the log's.
func fakeTools(t *testing.T) (mbstream, mbackup, marker, argLog string) {
	t.Helper()
	dir := t.TempDir()
	marker, argLog = filepath.Join(dir, "extracted"), filepath.Join(dir, "args")
	mbstream, mbackup = filepath.Join(dir, "mbstream"), filepath.Join(dir, "mariadb-backup")
	write := func(p, body string) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(mbstream, `touch '`+marker+`'; cat > "$3/stream"`)
	write(mbackup, `echo "$@" >> '`+argLog+`'`)
	return
}

func restorePhysicalOpts(t *testing.T, s *mem.Store, j Job, id string) PhysicalRestoreOptions {
	t.Helper()
	list, err := ListBackups(context.Background(), s, j, false)
	if err != nil {
		t.Fatal(err)
	}
	mb, bin, _, _ := fakeTools(t)
	return PhysicalRestoreOptions{Store: s, List: list, ID: id, Datadir: filepath.Join(t.TempDir(), "dd"), Mbstream: mb, Binary: bin, TrustUnauthenticated: true}
}

// A physical full backup goes through compression and the store with a
// manifest recording method, kind, LSNs and the binlog position; list
// shows method/kind/base; restore extracts the very bytes mariadb-backup
// wrote and prepares them.
func TestPhysicalFullBackupAndRestore(t *testing.T) {
	s := mem.New()
	f := &fakePhysical{size: 9<<20 + 123}
	m, err := runPhysicalAt(t, s, physicalJob(), f, 0, physical.Server{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Method != "physical" || m.Kind != "full" || m.Base != "" || m.Physical == nil || m.Physical.ToLSN != 1000 || m.Physical.FromLSN != 0 ||
		m.Consistency.BinlogFile != "binlog.000004" || m.Consistency.BinlogPos != 1004 || m.Consistency.GTID != "0-1-9" ||
		m.Server.Version != testServer.Version || m.Physical.ServerID != 7 || m.Physical.StreamBytes != int64(f.size) ||
		!strings.HasSuffix(m.Object.Name, "/backup.xbstream.zst") || len(m.Chunks.SHA256) < 1 {
		t.Fatalf("manifest = %+v, physical %+v", m, m.Physical)
	}
	if f.asked[0] != 0 {
		t.Fatalf("a full backup was asked with --incremental-lsn=%d", f.asked[0])
	}
	list, err := ListBackups(context.Background(), s, physicalJob(), false)
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	js, _ := json.Marshal(list[0])
	for _, want := range []string{`"method":"physical"`, `"kind":"full"`, `"base":""`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("list JSON %s lacks %s", js, want)
		}
	}
	o := restorePhysicalOpts(t, s, physicalJob(), m.ID)
	if _, err := RestorePhysical(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(o.Datadir, "stream"))
	if err != nil || !bytes.Equal(got, f.stream[0]) {
		t.Fatalf("extracted %d bytes (%v), mariadb-backup wrote %d", len(got), err, len(f.stream[0]))
	}
	args, _ := os.ReadFile(filepath.Join(filepath.Dir(o.Binary), "args"))
	if want := "--no-defaults --prepare --target-dir=" + o.Datadir + "\n"; string(args) != want {
		t.Fatalf("mariadb-backup ran with %q, want %q", args, want)
	}
}

// A tampered chunk is refused before anything is extracted: the extractor
// never runs and the data directory is not even created.
func TestPhysicalTamperedChunkRefusedBeforeExtract(t *testing.T) {
	s := mem.New()
	f := &fakePhysical{size: 9 << 20}
	m, err := runPhysicalAt(t, s, physicalJob(), f, 0, physical.Server{})
	if err != nil {
		t.Fatal(err)
	}
	data := s.Bytes(m.Object.Name)
	data[ChunkSize+10] ^= 1 // the second chunk
	s.Replace(m.Object.Name, data)
	o := restorePhysicalOpts(t, s, physicalJob(), m.ID)
	marker := filepath.Join(filepath.Dir(o.Mbstream), "extracted")
	_, err = RestorePhysical(context.Background(), o)
	if !errors.Is(err, ErrChunkMismatch) {
		t.Fatalf("restore of a tampered backup = %v, want ErrChunkMismatch", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("mbstream ran on a tampered backup")
	}
	if _, err := os.Stat(o.Datadir); err == nil {
		t.Fatal("the data directory was created for a tampered backup")
	}
}

// The data directory must be absent or empty.
func TestPhysicalRestoreRefusesNonEmptyDatadir(t *testing.T) {
	dir := t.TempDir()
	if err := CheckDatadir(dir); err != nil {
		t.Fatalf("empty dir: %v", err)
	}
	if err := CheckDatadir(filepath.Join(dir, "absent")); err != nil {
		t.Fatalf("absent dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ibdata1"), []byte("x"), 0o600)
	if err := CheckDatadir(dir); !errors.Is(err, ErrDatadirNotEmpty) {
		t.Fatalf("non-empty dir: %v", err)
	}
	s := mem.New()
	m, _ := runPhysicalAt(t, s, physicalJob(), &fakePhysical{size: 10}, 0, physical.Server{})
	o := restorePhysicalOpts(t, s, physicalJob(), m.ID)
	o.Datadir = dir
	if _, err := RestorePhysical(context.Background(), o); !errors.Is(err, ErrDatadirNotEmpty) {
		t.Fatalf("restore into a non-empty dir = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ibdata1")); string(b) != "x" {
		t.Fatal("the restore touched a non-empty data directory")
	}
}

// Incremental chains: each run builds on the previous backup's to_lsn,
// full_every bounds the chain, --full and a changed server start a new
// one, and a restore prepares the full then each incremental in order.
func TestPhysicalIncrementalChain(t *testing.T) {
	s := mem.New()
	j := physicalJob()
	j.Physical.Incremental, j.Physical.FullEvery = true, 3
	f := &fakePhysical{size: 1000}
	var ms []*catalog.Manifest
	for h := range 4 {
		m, err := runPhysicalAt(t, s, j, f, h, physical.Server{})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	kinds := []string{ms[0].Kind, ms[1].Kind, ms[2].Kind, ms[3].Kind}
	if strings.Join(kinds, ",") != "full,incremental,incremental,full" {
		t.Fatalf("kinds = %v (full_every 3)", kinds)
	}
	if ms[1].Base != ms[0].ID || ms[2].Base != ms[1].ID || ms[3].Base != "" || f.asked[1] != ms[0].Physical.ToLSN || f.asked[2] != ms[1].Physical.ToLSN {
		t.Fatalf("bases %q %q %q, asked LSNs %v", ms[1].Base, ms[2].Base, ms[3].Base, f.asked)
	}
	m, _ := runPhysicalAt(t, s, j, f, 4, physical.Server{})
	if m.Kind != "incremental" || m.Base != ms[3].ID {
		t.Fatalf("after a full: %s on %q", m.Kind, m.Base)
	}
	j.Physical.ForceFull = true
	if m, _ := runPhysicalAt(t, s, j, f, 5, physical.Server{}); m.Kind != "full" {
		t.Fatalf("--full took a %s", m.Kind)
	}
	j.Physical.ForceFull = false
	moved := testServer
	moved.ServerID = 8
	f.server = moved
	if m, _ := runPhysicalAt(t, s, j, f, 6, moved); m.Kind != "full" {
		t.Fatalf("a changed server took a %s", m.Kind)
	}
	o := restorePhysicalOpts(t, s, j, ms[2].ID)
	chain, err := RestorePhysical(context.Background(), o)
	if err != nil || len(chain) != 3 {
		t.Fatalf("restore of the second incremental: %d backups, %v", len(chain), err)
	}
	args, _ := os.ReadFile(filepath.Join(filepath.Dir(o.Binary), "args"))
	lines := strings.Split(strings.TrimSpace(string(args)), "\n")
	if len(lines) != 3 || strings.Contains(lines[0], "--incremental-dir") || !strings.Contains(lines[1], "--incremental-dir=") ||
		!strings.Contains(lines[2], "--incremental-dir=") || strings.Contains(string(args), "apply-log-only") {
		t.Fatalf("mariadb-backup runs: %q", lines)
	}
}

// An incremental whose base is gone cannot be restored (nor built on).
func TestPhysicalBrokenChain(t *testing.T) {
	s := mem.New()
	j := physicalJob()
	j.Physical.Incremental = true
	f := &fakePhysical{size: 100}
	full, _ := runPhysicalAt(t, s, j, f, 0, physical.Server{})
	inc, _ := runPhysicalAt(t, s, j, f, 1, physical.Server{})
	if inc.Base != full.ID {
		t.Fatalf("base %q", inc.Base)
	}
	backuptest.EditManifest(t, s, manifestName(inc), func(m map[string]any) {
		m["physical"].(map[string]any)["from_lsn"] = 1 // not its base's to_lsn
	})
	if _, err := RestorePhysical(context.Background(), restorePhysicalOpts(t, s, j, inc.ID)); !errors.Is(err, ErrBrokenChain) {
		t.Fatalf("restore of an incremental that does not start at its base's LSN = %v", err)
	}
	s.Delete(context.Background(), manifestName(full))
	o := restorePhysicalOpts(t, s, j, inc.ID)
	if _, err := RestorePhysical(context.Background(), o); !errors.Is(err, ErrBrokenChain) {
		t.Fatalf("restore without the base = %v", err)
	}
	if m, _ := runPhysicalAt(t, s, j, f, 2, physical.Server{}); m.Kind != "full" {
		t.Fatalf("a run on a broken chain took a %s", m.Kind)
	}
}

func TestPhysicalConfig(t *testing.T) {
	targets := storage.DefaultTargets()
	for _, tc := range []struct {
		edit  func(*Job)
		field string
	}{
		{func(j *Job) { j.Databases = []string{"app"} }, "j.databases"},
		{func(j *Job) { j.ExcludeTables = []string{"app.t"} }, "j.exclude_tables"},
		{func(j *Job) { j.Physical.FullEvery = 0 }, "j.physical.full_every"},
		{func(j *Job) { j.Method = "snapshot" }, "j.method"},
	} {
		j := physicalJob()
		tc.edit(&j)
		var fe *fielderr.Error
		if err := j.Validate("j", targets); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Validate = %v, want an error on %s", err, tc.field)
		}
	}
	j := physicalJob()
	if err := j.Validate("j", targets); err != nil {
		t.Fatalf("a plain physical job: %v", err)
	}
}

// Retention keeps physical chains whole: a kept incremental keeps its
// bases down to the full; a chain is pruned only whole, newest first.
func TestPhysicalRetentionKeepsChainsWhole(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		keepDaily int
		deleted   []int // indexes into the backups, in deletion order
	}{
		{keepDaily: 2, deleted: []int{2, 1, 0}}, // I3 and F2 kept: the first chain goes, newest first
		{keepDaily: 3, deleted: nil},            // I2 (day 2) kept: it keeps I1 and F1
		{keepDaily: 1, deleted: []int{2, 1, 0}}, // I3 kept: it keeps F2
	} {
		s := mem.New()
		j := physicalJob()
		j.Physical.Incremental, j.Physical.FullEvery = true, 3
		j.Retention = Retention{KeepDaily: tc.keepDaily}
		f := &fakePhysical{size: 100}
		var ms []*catalog.Manifest
		for _, h := range []int{0, 24, 30, 48, 72} { // F1 (day 1), I1, I2 (day 2), F2 (day 3), I3 (day 4)
			m, err := runPhysicalAt(t, s, j, f, h, physical.Server{})
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		if ms[3].Kind != "full" || ms[4].Base != ms[3].ID || ms[2].Base != ms[1].ID || ms[1].Base != ms[0].ID {
			t.Fatalf("chains: %v", []string{ms[0].Kind, ms[1].Kind, ms[2].Kind, ms[3].Kind, ms[4].Kind})
		}
		res, err := Prune(ctx, PruneOptions{Job: j, Store: s, Location: time.UTC, Now: backuptest.FixedClock(backuptest.T0.Add(100 * time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, i := range tc.deleted {
			want = append(want, manifestName(ms[i]))
		}
		var got []string
		for _, n := range res.Deleted {
			if strings.HasSuffix(n, "/"+catalog.ManifestName) {
				got = append(got, n)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("keep_daily %d: deleted %v, want %v", tc.keepDaily, got, want)
		}
		list, _ := ListBackups(ctx, s, j, false)
		for _, b := range list {
			if _, err := ChainOf(list, b.ID); err != nil {
				t.Errorf("keep_daily %d: after prune %s has no whole chain: %v", tc.keepDaily, b.ID, err)
			}
		}
	}
}

func TestPhysicalGrantProblems(t *testing.T) {
	j := physicalJob()
	g := &Grants{User: "ops@localhost", global: map[string]bool{"RELOAD": true, "LOCK TABLES": true}}
	problems, _ := BackupGrantProblems(&j, g)
	if len(problems) != 1 || !strings.Contains(problems[0], "GRANT PROCESS, BINLOG MONITOR, SELECT ON *.* TO 'ops'@'localhost'") {
		t.Fatalf("problems = %q", problems)
	}
	g.global["PROCESS"], g.global["REPLICATION CLIENT"], g.global["SELECT"] = true, true, true
	if problems, mode := BackupGrantProblems(&j, g); len(problems) != 0 || !strings.Contains(mode, "mariadb-backup") {
		t.Fatalf("with every grant: %q, %s", problems, mode)
	}
	j.Physical.SlaveInfo = true
	if problems, _ := BackupGrantProblems(&j, g); len(problems) != 1 || !strings.Contains(problems[0], "GRANT SLAVE MONITOR ON *.* TO 'ops'@'localhost'") {
		t.Fatalf("slave_info without SLAVE MONITOR: %q", problems)
	}
	g.global["REPLICA MONITOR"] = true
	if problems, _ := BackupGrantProblems(&j, g); len(problems) != 0 {
		t.Fatalf("slave_info with REPLICA MONITOR: %q", problems)
	}
	if len(PhysicalPrivileges) != 5 {
		t.Fatalf("PhysicalPrivileges changed by a slave_info job: %q", PhysicalPrivileges)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n++; f.n > 1 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// Frames compressed in parallel come out in order; a failed write stops
// the writer and Close reports it.
func TestFrameWriter(t *testing.T) {
	codec, err := compressZstd()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	data := make([]byte, 3*frameSize+777)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	var out bytes.Buffer
	fw := newFrameWriter(&out, codec, 2)
	for p := data; len(p) > 0; p = p[min(len(p), 100_000):] {
		if _, err := fw.Write(p[:min(len(p), 100_000)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	dr, _, release, err := compress.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	got, err := io.ReadAll(dr)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}
	fw = newFrameWriter(&failWriter{}, codec, 2)
	var werr error
	for i := 0; i < 20 && werr == nil; i++ {
		_, werr = fw.Write(data[:frameSize])
	}
	if err := fw.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close after a failed write = %v", err)
	}
}

func compressZstd() (compress.Codec, error) { return compress.Zstd.NewCodec(0, 1) }

// A physical backup without its manifest (interrupted) is listed as a
// partial physical backup.
func TestPhysicalPartialListed(t *testing.T) {
	s := mem.New()
	m, err := runPhysicalAt(t, s, physicalJob(), &fakePhysical{size: 10}, 0, physical.Server{})
	if err != nil {
		t.Fatal(err)
	}
	s.Delete(context.Background(), manifestName(m))
	list, err := ListBackups(context.Background(), s, physicalJob(), true)
	if err != nil || len(list) != 1 || list[0].Status != catalog.StatusPartial || list[0].Method != "physical" {
		t.Fatalf("list --all = %+v, %v", list, err)
	}
}

// The progress hooks get the datadir's size, then the stream's bytes.
func TestPhysicalProgress(t *testing.T) {
	var planned, raw, parts int64
	f := &fakePhysical{size: 3<<20 + 5}
	_, err := RunBackup(context.Background(), RunOptions{Job: physicalJob(), Store: mem.New(), Now: backuptest.FixedClock(backuptest.T0),
		Physical:     f.backup,
		DumpPlanned:  func(m map[string]TableEstimate) { planned = m[progressItem].Bytes },
		DumpProgress: func(p DumpProgress) { raw, parts = p.RawBytes, parts+p.PartBytes },
	})
	if err != nil {
		t.Fatal(err)
	}
	if planned != int64(2*f.size) || raw != int64(f.size) || parts != raw {
		t.Fatalf("planned %d, progress %d (parts %d); want %d, %d", planned, raw, parts, 2*f.size, f.size)
	}
}

// The restore test's verdict per table: sound and as recorded, other rows,
// another digest, missing from the copy, not recorded (checked only).
func TestPhysicalCompareRecorded(t *testing.T) {
	m := &catalog.Manifest{Tables: []catalog.TableInfo{
		{Database: "app", Name: "same", Rows: 10, Digest: "xxh64sum:0000000000000001"},
		{Database: "app", Name: "fewer", Rows: 10, Digest: "xxh64sum:0000000000000002"},
		{Database: "app", Name: "changed", Rows: 10, Digest: "xxh64sum:0000000000000003"},
		{Database: "app", Name: "gone", Rows: 5},
		{Database: "app", Name: "counted", Rows: 7},
	}}
	checks := []physical.TableCheck{
		{Database: "app", Table: "same", Rows: 10, Status: "OK"},
		{Database: "app", Table: "fewer", Rows: 9, Status: "OK"},
		{Database: "app", Table: "changed", Rows: 10, Status: "OK"},
		{Database: "app", Table: "counted", Rows: 7, Status: "OK"},
		{Database: "app", Table: "new", Rows: 3, Status: "OK"},
		{Database: "app", Table: "broken", Rows: 3, Status: "Corrupt"},
	}
	digests := map[dump.TableRef]dump.TableDigest{
		{Database: "app", Name: "same"}:    {Rows: 10, Digest: "xxh64sum:0000000000000001"},
		{Database: "app", Name: "fewer"}:   {Rows: 9, Digest: "xxh64sum:0000000000000002"},
		{Database: "app", Name: "changed"}: {Rows: 10, Digest: "xxh64sum:00000000000000ff"},
	}
	got := map[string]string{}
	for _, c := range compareRecorded(m, checks, digests) {
		got[c.Table] = fmt.Sprintf("%v %s", c.Recorded, c.Problem)
	}
	want := map[string]string{
		"same":    "true ",
		"fewer":   "true 9 rows, the backup recorded 10",
		"changed": "true digest xxh64sum:00000000000000ff, the backup recorded xxh64sum:0000000000000003",
		"gone":    "true the backup recorded it, the restored copy does not have it",
		"counted": "true ",
		"new":     "false ",
		"broken":  "false CHECK TABLE: Corrupt",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// A server without a binary log records no tables every night: said at
// info (cron mails warnings), where a late snapshot is a warning.
func TestPhysicalNoTablesLogLevel(t *testing.T) {
	for _, c := range []struct {
		f    fakePhysical
		want string
	}{
		{fakePhysical{size: 1000, noSnapshot: "the server's binary log is off", noBinlog: true}, "level=INFO msg=\"no table row counts and digests recorded for this physical backup: the server's binary log is off\""},
		{fakePhysical{size: 1000, noSnapshot: "a snapshot opened at binlog.000004:9, after the backup's point"}, "level=WARN msg=\"no table row counts and digests recorded for this physical backup: a snapshot opened"},
	} {
		var logs bytes.Buffer
		_, err := RunBackup(context.Background(), RunOptions{Job: physicalJob(), Store: mem.New(), Now: backuptest.FixedClock(backuptest.T0),
			Physical: c.f.backup, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), c.want) {
			t.Errorf("want %s in\n%s", c.want, logs.String())
		}
	}
}
