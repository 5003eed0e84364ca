package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/mem"
)

// The pipeline against the in-memory store and a fake dump source: no
// server, no disk. Each test pins one behaviour that protects data.

func sum64(v uint64) *uint64 { return &v }

// failingDump writes part of a stream, then fails.
func failingDump(_ context.Context, _ dump.DumpOptions, w io.Writer) (*dump.DumpResult, error) {
	_, _ = w.Write([]byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3})
	return nil, errors.New("server went away")
}

// eventStore records the start and end of every Put.
type eventStore struct {
	storage.Store
	mu     sync.Mutex
	events []string
}

func (e *eventStore) log(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, s)
}

func (e *eventStore) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	base := name[strings.LastIndex(name, "/")+1:]
	e.log("start " + base)
	o, err := e.Store.Put(ctx, name, r)
	e.log("end " + base)
	return o, err
}

func testJob() Job {
	j := DefaultJob()
	j.Name = "app"
	return j
}

func run(t *testing.T, s storage.Store, o RunOptions) (*catalog.Manifest, error) {
	t.Helper()
	o.Store = s
	if o.Job.Name == "" {
		o.Job = testJob()
	}
	if o.Now == nil {
		o.Now = backuptest.FixedClock(backuptest.T0)
	}
	if o.Dump == nil {
		o.Dump = backuptest.FakeDump(backuptest.FakeSQL)
	}
	return RunBackup(context.Background(), o)
}

func shaHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The manifest is written only after the stream is completely stored, and
// it describes exactly the stored bytes.
func TestRunBackupStoresStreamThenManifest(t *testing.T) {
	s := &eventStore{Store: mem.New()}
	m, err := run(t, s, RunOptions{Tool: catalog.ToolInfo{Version: "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"start dump.sql.zst", "end dump.sql.zst", "start manifest.json", "end manifest.json"}
	if fmt.Sprint(s.events) != fmt.Sprint(want) {
		t.Fatalf("store calls = %q, want %q", s.events, want)
	}
	stored := s.Store.(*mem.Store).Bytes("app/" + catalog.NewID(backuptest.T0) + "/dump.sql.zst")
	if m.Object.Size != int64(len(stored)) || m.StreamSHA256 != shaHex(stored) || m.Object.SHA256 != m.StreamSHA256 {
		t.Errorf("manifest says %d bytes sha %s, stored %d bytes sha %s", m.Object.Size, m.StreamSHA256, len(stored), shaHex(stored))
	}
	if m.Compression != compress.Zstd || m.Encryption != nil || m.Tool.Name != "ops" || m.SQLBytes != int64(len(backuptest.FakeSQL)) {
		t.Errorf("manifest = %+v", m)
	}
	if len(m.Tables) != 1 || m.Tables[0].Rows != 3 || m.Tables[0].Digest != "xxh64sum:000000000000002a" || m.Tables[0].Checksum != nil {
		t.Errorf("manifest tables = %+v", m.Tables)
	}
	list, err := ListBackups(context.Background(), s, Job{Name: "app"}, false)
	if err != nil || len(list) != 1 || !list[0].Complete || list[0].ID != m.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

// Runs of a job within the same second get distinct IDs and never
// overwrite each other.
func TestRunBackupSameSecondNeverOverwrites(t *testing.T) {
	s := mem.New()
	var ids []string
	for i := range 3 {
		m, err := run(t, s, RunOptions{Dump: backuptest.FakeDump(fmt.Sprintf("-- run %d\n%s", i, backuptest.FakeSQL))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	want := []string{catalog.NewID(backuptest.T0), catalog.NewID(backuptest.T0) + "-2", catalog.NewID(backuptest.T0) + "-3"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("IDs = %q, want %q", ids, want)
	}
	ctx := context.Background()
	for _, id := range ids {
		b, err := FindBackup(ctx, s, Job{Name: "app"}, id)
		if err != nil {
			t.Fatal(err)
		}
		res, err := VerifyBackup(ctx, s, b)
		if err != nil || !res.OK() {
			t.Errorf("backup %s does not verify: %v %v", id, res, err)
		}
	}
}

// A store or dump error fails the run and leaves no complete backup.
func TestRunBackupStoreAndDumpErrors(t *testing.T) {
	boom := errors.New("quota exceeded")
	cases := []struct {
		name string
		fail func(op, name string) error
		dump DumpFunc
		want string
	}{
		{"stream put", func(op, name string) error {
			if op == "put" && strings.Contains(name, "dump.sql") {
				return boom
			}
			return nil
		}, nil, "nothing was kept"},
		{"manifest put", func(op, name string) error {
			if op == "put" && strings.HasSuffix(name, catalog.ManifestName) {
				return boom
			}
			return nil
		}, nil, "writing the manifest"},
		{"id check list", func(op, _ string) error {
			if op == "list" {
				return boom
			}
			return nil
		}, nil, "checking that backup ID"},
		{"dump", nil, failingDump, "server went away"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mem.New()
			s.Fail = c.fail
			m, err := run(t, s, RunOptions{Dump: c.dump})
			if err == nil || m != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("RunBackup = %v, %v; want an error containing %q", m, err, c.want)
			}
			if c.dump == nil && !errors.Is(err, boom) {
				t.Errorf("error %v does not wrap the store's", err)
			}
			s.Fail = nil
			if list, _ := ListBackups(context.Background(), s, Job{Name: "app"}, false); len(list) != 0 {
				t.Errorf("a failed run left a complete backup: %+v", list)
			}
			for _, n := range s.Names() {
				if strings.HasSuffix(n, catalog.ManifestName) {
					t.Errorf("a failed run left a manifest: %s", n)
				}
			}
		})
	}
}

// fakeRestore reads the SQL as the real restorer would and records it.
type fakeRestore struct {
	sql  bytes.Buffer
	opts restore.RestoreOptions
}

func (f *fakeRestore) restore(_ context.Context, o restore.RestoreOptions, r io.Reader) (*restore.RestoreResult, error) {
	f.opts = o
	dr, m, closeFn, err := compress.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	if _, err := io.Copy(&f.sql, dr); err != nil {
		return nil, err
	}
	res := &restore.RestoreResult{Compression: m, RawBytes: int64(f.sql.Len())}
	if o.Finish != nil {
		return res, o.Finish()
	}
	return res, nil
}

func restoreLatest(t *testing.T, s storage.Store, o BackupRestoreOptions) (*fakeRestore, error) {
	t.Helper()
	b, err := FindBackup(context.Background(), s, Job{Name: "app"}, "latest")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRestore{}
	o.Store, o.Backup, o.Restore = s, b, f.restore
	// These jobs have no manifest key: the tests are about the stream.
	o.TrustUnauthenticated = true
	_, err = RestoreBackup(context.Background(), o)
	return f, err
}

// Restore hands the SQL over with the job's thread count and mapping, and
// refuses a stream whose SHA-256 differs from the manifest's even when the
// stream itself is well-formed.
func TestRestoreBackupChecksStreamSHA256(t *testing.T) {
	s := mem.New()
	m, err := run(t, s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := restoreLatest(t, s, BackupRestoreOptions{Threads: 5, Databases: map[string]string{"app": "app2"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.sql.String() != backuptest.FakeSQL || f.opts.Threads != 5 || f.opts.Databases["app"] != "app2" {
		t.Fatalf("restore got %q with %+v", f.sql.String(), f.opts)
	}
	// A valid zstd stream with other content, as an attacker with write
	// access to the container could store.
	c, _ := compress.Zstd.NewCodec(0, 1)
	other, _ := c.Compress(nil, []byte(strings.Replace(backuptest.FakeSQL, "(3)", "(4)", 1)))
	c.Close()
	s.Replace(m.Object.Name, other)
	if _, err := restoreLatest(t, s, BackupRestoreOptions{}); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("a tampered stream restored without error: %v", err)
	}
}

// An encrypted backup stores only age ciphertext, needs the identity to be
// restored, and round-trips with it.
func TestRunBackupEncrypted(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	job := testJob()
	job.EncryptTo = []string{id.Recipient().String()}
	s := mem.New()
	m, err := run(t, s, RunOptions{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	stored := s.Bytes(m.Object.Name)
	if !strings.HasSuffix(m.Object.Name, "dump.sql.zst.age") || m.Encryption == nil ||
		!bytes.HasPrefix(stored, []byte("age-encryption.org/v1")) || bytes.Contains(stored, []byte("INSERT")) {
		t.Fatalf("object %s (%d bytes) is not age ciphertext; manifest encryption %+v", m.Object.Name, len(stored), m.Encryption)
	}
	if _, err := restoreLatest(t, s, BackupRestoreOptions{}); err == nil || !strings.Contains(err.Error(), "identity") {
		t.Fatalf("restore without an identity: %v", err)
	}
	f, err := restoreLatest(t, s, BackupRestoreOptions{Identities: []age.Identity{id}})
	if err != nil || f.sql.String() != backuptest.FakeSQL {
		t.Fatalf("restore with the identity: %q, %v", f.sql.String(), err)
	}
}

// The restore test fails a table whose row count, digest or checksum
// differs from the manifest's, or whose digest or checksum is missing.
func TestCheckTables(t *testing.T) {
	m := &catalog.Manifest{Tables: []catalog.TableInfo{
		{Database: "app", Name: "a", Rows: 3, Checksum: sum64(7)}, // a backup from before digests
		{Database: "app", Name: "b", Rows: 2},
		{Database: "app", Name: "c", Rows: 5, Digest: "xxh64sum:00000000000000ff"},
	}}
	d := func(s string) TableState { return TableState{Rows: 5, Digest: s} }
	cases := []struct {
		name   string
		states map[string]TableState
		ok     map[string]bool
	}{
		{"identical", map[string]TableState{"a": {3, sum64(7), ""}, "b": {2, nil, ""}, "c": d("xxh64sum:00000000000000ff")}, map[string]bool{"a": true, "b": true, "c": true}},
		{"rows differ", map[string]TableState{"a": {4, sum64(7), ""}, "b": {1, nil, ""}, "c": {6, nil, "xxh64sum:00000000000000ff"}}, map[string]bool{"a": false, "b": false, "c": false}},
		{"checksum differs", map[string]TableState{"a": {3, sum64(8), ""}, "b": {2, sum64(1), ""}, "c": d("xxh64sum:00000000000000fe")}, map[string]bool{"a": false, "b": true, "c": false}},
		{"checksum missing", map[string]TableState{"a": {3, nil, ""}, "b": {2, nil, ""}, "c": d("")}, map[string]bool{"a": false, "b": true, "c": false}},
	}
	for _, c := range cases {
		checks, err := checkTables(m, func(ti catalog.TableInfo) (TableState, error) { return c.states[ti.Name], nil })
		if err != nil || len(checks) != 3 {
			t.Fatalf("%s: %v %v", c.name, checks, err)
		}
		for _, ch := range checks {
			if ch.OK() != c.ok[ch.Table] {
				t.Errorf("%s: %s OK() = %v, want %v (%+v)", c.name, ch.Table, ch.OK(), c.ok[ch.Table], ch)
			}
			if ch.GotRows != c.states[ch.Table].Rows || ch.WantRows != m.Tables[map[string]int{"a": 0, "b": 1, "c": 2}[ch.Table]].Rows {
				t.Errorf("%s: %s rows want %d got %d", c.name, ch.Table, ch.WantRows, ch.GotRows)
			}
		}
	}
	if _, err := checkTables(m, func(catalog.TableInfo) (TableState, error) { return TableState{}, errors.New("gone") }); err == nil {
		t.Error("a failing table state was not reported")
	}
}

// verify finds a stored stream that differs from the manifest.
func TestVerifyFindsTampering(t *testing.T) {
	s := mem.New()
	m, err := run(t, s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orig := s.Bytes(m.Object.Name)
	for name, data := range map[string][]byte{
		"flipped byte": append(append([]byte{}, orig[:len(orig)-1]...), orig[len(orig)-1]^1),
		"truncated":    orig[:len(orig)-2],
	} {
		s.Replace(m.Object.Name, data)
		b, err := FindBackup(context.Background(), s, Job{Name: "app"}, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		res, err := VerifyBackup(context.Background(), s, b)
		if err != nil || res.OK() {
			t.Errorf("%s: verify = %+v, %v; want a problem", name, res, err)
		}
	}
}
