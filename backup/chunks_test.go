package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/storage/mem"
)

// Verify before apply: the restore sink (the SQL side) must never receive
// a byte derived from a stored chunk that differs from the manifest.

// bigSQL is an uncompressed dump of a little more than three chunks.
func bigSQL() string {
	var b strings.Builder
	b.WriteString("CREATE DATABASE IF NOT EXISTS `app`;\nUSE `app`;\n")
	for i := 0; b.Len() < 3*ChunkSize+1000; i++ {
		fmt.Fprintf(&b, "INSERT INTO `t` VALUES (%d,'%s');\n", i, strings.Repeat("x", 200))
	}
	return b.String()
}

// rawSink records exactly the bytes the restore released to it, as they
// arrive, then runs Finish like the real restorer.
type rawSink struct {
	got    bytes.Buffer
	called bool
}

func (f *rawSink) restore(_ context.Context, o restore.RestoreOptions, r io.Reader) (*restore.RestoreResult, error) {
	f.called = true
	if _, err := io.Copy(&f.got, r); err != nil {
		return nil, err
	}
	return &restore.RestoreResult{}, o.Finish()
}

// keyedJob is testJob with a manifest key in a temporary directory.
func keyedJob(t *testing.T) Job {
	t.Helper()
	job := testJob()
	job.ManifestKeyFile = filepath.Join(t.TempDir(), "app.key")
	if err := os.WriteFile(job.ManifestKeyFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return job
}

func restoreRaw(t *testing.T, s *mem.Store, job Job, o BackupRestoreOptions) (*rawSink, error) {
	t.Helper()
	b, err := FindBackup(context.Background(), s, job, "latest")
	if err != nil {
		t.Fatal(err)
	}
	f := &rawSink{}
	o.Store, o.Backup, o.Restore = s, b, f.restore
	_, err = RestoreBackup(context.Background(), o)
	return f, err
}

// A stored stream whose second chunk was replaced (same length, evil
// statements, manifest untouched and authentic): the restore fails, and
// the sink got chunk 0 at most and not one byte of the replaced chunk.
// It fails when the chunk check is removed or done after the chunk's bytes
// are handed on (the end-of-stream SHA-256 check alone comes too late).
func TestRestoreReleasesNothingOfATamperedChunk(t *testing.T) {
	job := keyedJob(t)
	job.Compression = compress.None
	sql := bigSQL()
	s := mem.New()
	m, err := run(t, s, RunOptions{Job: job, Dump: backuptest.FakeDump(sql)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Chunks == nil || m.Chunks.Size != ChunkSize || len(m.Chunks.SHA256) != 4 {
		t.Fatalf("manifest chunks = %+v, want 4 of %d bytes", m.Chunks, ChunkSize)
	}
	f, err := restoreRaw(t, s, job, BackupRestoreOptions{})
	if err != nil || f.got.String() != sql {
		t.Fatalf("untampered restore: %d bytes, %v", f.got.Len(), err)
	}

	for _, chunk := range []int{0, 1, 3} {
		stored := append([]byte(nil), s.Bytes(m.Object.Name)...)
		start := chunk * ChunkSize
		end := min(start+ChunkSize, len(stored))
		evil := []byte("CREATE USER 'verify_evil'@'%';\n")
		for i := start; i < end; i++ {
			stored[i] = evil[(i-start)%len(evil)]
		}
		s.Replace(m.Object.Name, stored)
		f, err := restoreRaw(t, s, job, BackupRestoreOptions{})
		if !errors.Is(err, ErrChunkMismatch) {
			t.Errorf("chunk %d tampered: restore error %v, want a chunk mismatch", chunk, err)
		}
		if bytes.Contains(f.got.Bytes(), []byte("verify_evil")) || f.got.Len() > start {
			t.Errorf("chunk %d tampered: the sink received %d bytes (at most %d, all before the chunk, allowed), evil ones: %v",
				chunk, f.got.Len(), start, bytes.Contains(f.got.Bytes(), []byte("verify_evil")))
		}
		if !strings.HasPrefix(sql, f.got.String()) {
			t.Errorf("chunk %d tampered: the sink received bytes the backup did not write", chunk)
		}
		s.Replace(m.Object.Name, []byte(sql))
	}
}

// The attack of issue 23: with age encryption and a manifest key, the
// object is replaced by one encrypted to the job's (public) recipient and
// the authentic manifest is kept. Nothing reaches the sink.
func TestRestoreOfAReplacedEncryptedObjectSendsNothing(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	job := keyedJob(t)
	job.EncryptTo = []string{id.Recipient().String()}
	s := mem.New()
	m, err := run(t, s, RunOptions{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	var forged bytes.Buffer
	w, err := age.Encrypt(&forged, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := compress.Zstd.NewCodec(0, 1)
	frame, _ := c.Compress(nil, []byte("CREATE USER 'verify_evil'@'%';\nGRANT ALL ON *.* TO 'verify_evil'@'%' WITH GRANT OPTION;\n"))
	c.Close()
	_, _ = w.Write(frame)
	_ = w.Close()
	s.Replace(m.Object.Name, forged.Bytes())

	f, err := restoreRaw(t, s, job, BackupRestoreOptions{Identities: []age.Identity{id}, RequireEncryption: true})
	if !errors.Is(err, ErrChunkMismatch) {
		t.Errorf("restore of the replaced object: %v, want a chunk mismatch", err)
	}
	if f.called || f.got.Len() > 0 {
		t.Errorf("the sink was called (%v) and received %d bytes: %q", f.called, f.got.Len(), f.got.String())
	}
}

// The end-of-stream size and SHA-256 checks stay: a stream whose chunk
// list was rewritten to match it (a manifest edited where no key guards
// it) still fails at its end.
func TestRestoreChecksTheWholeStreamAfterTheChunks(t *testing.T) {
	s := mem.New()
	m, err := run(t, s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := compress.Zstd.NewCodec(0, 1)
	other, _ := c.Compress(nil, []byte(strings.Replace(backuptest.FakeSQL, "(3)", "(4)", 1)))
	c.Close()
	s.Replace(m.Object.Name, other)
	h := newChunkHasher(ChunkSize)
	h.Write(other)
	list, _ := h.list(int64(len(other)))
	backuptest.EditManifest(t, s, manifestName(m), func(mm map[string]any) {
		mm["chunks"] = list
		mm["object"].(map[string]any)["size"] = len(other)
	})
	if _, err := restoreLatest(t, s, BackupRestoreOptions{}); !errors.Is(err, ErrStreamMismatch) {
		t.Fatalf("restore of a stream matching a rewritten chunk list: %v, want a stream mismatch", err)
	}
}

// A manifest written before chunk hashes existed still restores; its
// stream is hashed whole before the restore, so a tampered one is refused
// before the sink is called.
func TestRestoreOfAManifestWithoutChunks(t *testing.T) {
	s := mem.New()
	m, err := run(t, s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	backuptest.EditManifest(t, s, manifestName(m), func(mm map[string]any) { delete(mm, "chunks") })
	f, err := restoreLatest(t, s, BackupRestoreOptions{})
	if err != nil || f.sql.String() != backuptest.FakeSQL {
		t.Fatalf("restore of an old manifest: %q, %v", f.sql.String(), err)
	}
	stored := append([]byte(nil), s.Bytes(m.Object.Name)...)
	stored[len(stored)-1] ^= 1
	s.Replace(m.Object.Name, stored)
	b, err := FindBackup(context.Background(), s, Job{Name: "app"}, "latest")
	if err != nil {
		t.Fatal(err)
	}
	sink := &rawSink{}
	_, err = RestoreBackup(context.Background(), BackupRestoreOptions{Store: s, Backup: b, Restore: sink.restore, TrustUnauthenticated: true})
	if !errors.Is(err, ErrStreamMismatch) || sink.called {
		t.Fatalf("old manifest, tampered stream: %v (sink called: %v)", err, sink.called)
	}
}

// A forged chunk size cannot make the restore allocate without bound.
func TestRestoreRefusesAnAbsurdChunkSize(t *testing.T) {
	s := mem.New()
	m, err := run(t, s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	backuptest.EditManifest(t, s, manifestName(m), func(mm map[string]any) {
		mm["chunks"].(map[string]any)["size"] = int64(1) << 40
	})
	if _, err := restoreLatest(t, s, BackupRestoreOptions{}); !errors.Is(err, ErrChunkMismatch) {
		t.Fatalf("restore with a 1 TiB chunk size: %v", err)
	}
}

// verifiedReader on its own: truncation, extra bytes and a short chunk in
// the middle are all refused.
func TestVerifiedReaderShape(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 3*minChunkSize/8+10)
	h := newChunkHasher(minChunkSize)
	h.Write(data)
	list, err := h.list(int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	read := func(b []byte) ([]byte, error) {
		return io.ReadAll(newVerifiedReader(bytes.NewReader(b), list))
	}
	if got, err := read(data); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("intact: %d bytes, %v", len(got), err)
	}
	for name, b := range map[string][]byte{
		"truncated at a chunk boundary": data[:2*minChunkSize],
		"truncated inside the last":     data[:len(data)-1],
		"one byte more":                 append(append([]byte(nil), data...), 'x'),
	} {
		got, err := read(b)
		if !errors.Is(err, ErrChunkMismatch) {
			t.Errorf("%s: %v", name, err)
		}
		if len(got) > len(b) || !bytes.Equal(got, data[:len(got)]) {
			t.Errorf("%s: released bytes that are not the backup's", name)
		}
	}
	if _, err := h.list(int64(len(data)) + 1); err == nil {
		t.Error("a store reporting another size than was hashed was accepted")
	}
}

// Without a key nothing authenticates the manifest: restore (and so the
// restore test and a point-in-time restore) refuses it unless asked to
// trust it, before the sink is called; with the key it restores.
func TestRestoreRefusesAnUnauthenticatedManifest(t *testing.T) {
	s := mem.New()
	job := keyedJob(t)
	if _, err := run(t, s, RunOptions{Job: job}); err != nil {
		t.Fatal(err)
	}
	f, err := restoreRaw(t, s, job, BackupRestoreOptions{})
	if err != nil || !f.called {
		t.Fatalf("with the key: %v", err)
	}
	nokey := job
	nokey.ManifestKeyFile = ""
	f, err = restoreRaw(t, s, nokey, BackupRestoreOptions{})
	if !errors.Is(err, ErrUnauthenticated) || f.called {
		t.Fatalf("without the key: %v (sink called: %v)", err, f.called)
	}
	b, _ := FindBackup(context.Background(), s, nokey, "latest")
	if _, err := RestoreTest(context.Background(), BackupRestoreOptions{Store: s, Backup: b, Restore: f.restore}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("restore test without the key: %v", err)
	}
	f, err = restoreRaw(t, s, nokey, BackupRestoreOptions{TrustUnauthenticated: true})
	if err != nil || !f.called {
		t.Fatalf("without the key, trusted explicitly: %v", err)
	}
}

// A job without manifest_key_file gets a key at its first backup: created
// 0600 in a 0700 directory, reused by later runs, never overwritten, and
// its manifests verify under it.
func TestDefaultManifestKeyIsCreatedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	job := testJob()
	job.DefaultKeyFile = filepath.Join(dir, "app.key")
	s := mem.New()
	if _, err := run(t, s, RunOptions{Job: job}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(job.DefaultKeyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	if dst, err := os.Stat(dir); err != nil || dst.Mode().Perm() != 0o700 {
		t.Fatalf("key directory: %v, %v", dst, err)
	}
	key1, _ := os.ReadFile(job.DefaultKeyFile)
	if len(bytes.TrimSpace(key1)) < 32 {
		t.Fatalf("key %q is too short", key1)
	}
	if _, err := run(t, s, RunOptions{Job: job, Now: backuptest.FixedClock(backuptest.T0.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	key2, _ := os.ReadFile(job.DefaultKeyFile)
	if !bytes.Equal(key1, key2) {
		t.Fatal("the second backup replaced the key")
	}
	list, err := ListBackups(context.Background(), s, job, true)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v, %v", list, err)
	}
	for _, b := range list {
		if !b.Authenticated || b.Status != catalog.StatusComplete {
			t.Errorf("backup %s: authenticated %v, status %s", b.ID, b.Authenticated, b.Status)
		}
	}
	// A key file the user wrote there first is used as it is.
	job.DefaultKeyFile = filepath.Join(t.TempDir(), "mine.key")
	mine := []byte("my-own-key-of-enough-bytes\n")
	if err := os.WriteFile(job.DefaultKeyFile, mine, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := run(t, mem.New(), RunOptions{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(job.DefaultKeyFile); !bytes.Equal(got, mine) || !m.Authentic(bytes.TrimSpace(mine)) {
		t.Fatal("an existing key file was overwritten or not used")
	}
}
