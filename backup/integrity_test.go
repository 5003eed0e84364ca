package backup

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/guard"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/mem"
	"github.com/opsteam/ops/internal/fielderr"
)

func manifestName(m *catalog.Manifest) string {
	return catalog.JobPrefix("", m.Job) + m.ID + "/" + catalog.ManifestName
}

// One corrupt manifest never blocks the job: list shows it as corrupt, the
// other backups are listed, found, verified and restored, and prune removes
// it after the grace period only.
func TestCorruptManifestDoesNotBlockTheJob(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	good, err := run(t, s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := run(t, s, RunOptions{Now: backuptest.FixedClock(backuptest.T0.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	s.Replace(manifestName(bad), []byte("{not json"))
	job := testJob()
	all, err := ListBackups(ctx, s, job, true)
	if err != nil {
		t.Fatalf("list with a corrupt manifest: %v", err)
	}
	if len(all) != 2 || all[0].ID != bad.ID || all[0].Status != catalog.StatusCorrupt || all[0].Complete || all[1].Status != catalog.StatusComplete {
		t.Fatalf("list --all = %+v", all)
	}
	if b, err := FindBackup(ctx, s, job, "latest"); err != nil || b.ID != good.ID {
		t.Fatalf("latest = %v, %v; want the good backup", b, err)
	}
	if _, err := FindBackup(ctx, s, job, bad.ID); !errors.Is(err, catalog.ErrNotComplete) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("FindBackup(corrupt) = %v", err)
	}
	if _, err := restoreLatest(t, s, BackupRestoreOptions{}); err != nil {
		t.Fatalf("restore of the good backup: %v", err)
	}
	res, err := Prune(ctx, PruneOptions{Job: job, Store: s, Now: backuptest.FixedClock(backuptest.T0.Add(2 * time.Hour)), PartialGrace: 6 * time.Hour})
	if err != nil || len(res.Partial) != 0 {
		t.Fatalf("prune within the grace period: %+v, %v", res, err)
	}
	res, err = Prune(ctx, PruneOptions{Job: job, Store: s, Now: backuptest.FixedClock(backuptest.T0.Add(8 * time.Hour)), PartialGrace: 6 * time.Hour})
	if err != nil || len(res.Partial) != 1 || res.Partial[0] != bad.ID {
		t.Fatalf("prune after the grace period: %+v, %v", res, err)
	}
	if list, _ := ListBackups(ctx, s, job, true); len(list) != 1 || list[0].ID != good.ID {
		t.Fatalf("after prune: %+v", list)
	}
}

// A manifest that points at another backup's stream is corrupt.
func TestManifestPointingElsewhereIsCorrupt(t *testing.T) {
	s := mem.New()
	a, _ := run(t, s, RunOptions{})
	b, _ := run(t, s, RunOptions{Now: backuptest.FixedClock(backuptest.T0.Add(time.Hour))})
	backuptest.EditManifest(t, s, manifestName(b), func(m map[string]any) {
		m["object"].(map[string]any)["name"] = a.Object.Name
	})
	list, err := ListBackups(context.Background(), s, testJob(), true)
	if err != nil || list[0].Status != catalog.StatusCorrupt {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

// With manifest_key_file, manifests carry an HMAC; an edited manifest, or
// one without a MAC, is untrusted: listed as such, refused by ID, skipped
// as "latest", and never pruned.
func TestManifestAuthentication(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	job := testJob()
	job.ManifestKeyFile = backuptest.WriteKey(t, "0123456789abcdef-secret")
	m1, err := run(t, s, RunOptions{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m1.MAC, "hmac-sha256:") {
		t.Fatalf("MAC = %q", m1.MAC)
	}
	m2, _ := run(t, s, RunOptions{Job: job, Now: backuptest.FixedClock(backuptest.T0.Add(time.Hour))})
	m3, _ := run(t, s, RunOptions{Job: job, Now: backuptest.FixedClock(backuptest.T0.Add(2 * time.Hour))})
	backuptest.EditManifest(t, s, manifestName(m2), func(m map[string]any) { m["databases"] = []string{"app", "mysql"} })
	backuptest.EditManifest(t, s, manifestName(m3), func(m map[string]any) { delete(m, "mac") })

	list, err := ListBackups(ctx, s, job, true)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, b := range list {
		status[b.ID] = b.Status
	}
	if status[m1.ID] != catalog.StatusComplete || status[m2.ID] != catalog.StatusUntrusted || status[m3.ID] != catalog.StatusUntrusted {
		t.Fatalf("statuses = %v", status)
	}
	if b, err := FindBackup(ctx, s, job, "latest"); err != nil || b.ID != m1.ID {
		t.Fatalf("latest = %v, %v", b, err)
	}
	if _, err := FindBackup(ctx, s, job, m2.ID); !errors.Is(err, catalog.ErrNotComplete) || !strings.Contains(err.Error(), "untrusted") {
		t.Fatalf("FindBackup(edited) = %v", err)
	}
	res, err := Prune(ctx, PruneOptions{Job: job, Store: s, Now: backuptest.FixedClock(backuptest.T0.Add(30 * 24 * time.Hour))})
	if err != nil || len(res.Untrusted) != 2 || len(res.Partial) != 0 {
		t.Fatalf("prune = %+v, %v", res, err)
	}
	// A wrong key makes every manifest untrusted; no key checks nothing.
	other := job
	other.ManifestKeyFile = backuptest.WriteKey(t, "another-key-of-16-bytes")
	if b, err := FindBackup(ctx, s, other, "latest"); !errors.Is(err, catalog.ErrNoBackup) {
		t.Fatalf("latest under a wrong key = %v, %v", b, err)
	}
	plain := job
	plain.ManifestKeyFile = ""
	if list, _ := ListBackups(ctx, s, plain, false); len(list) != 3 {
		t.Fatalf("without a key: %d complete backups, want 3", len(list))
	}
	short := job
	short.ManifestKeyFile = backuptest.WriteKey(t, "short")
	if _, err := ListBackups(ctx, s, short, true); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("a short key: %v", err)
	}
}

// A job that encrypts refuses a backup whose stream was replaced by a plain
// one (manifest edited to match, encryption removed).
func TestDowngradeToPlainIsRefused(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	job := testJob()
	job.EncryptTo = []string{id.Recipient().String()}
	s := mem.New()
	m, err := run(t, s, RunOptions{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := compress.Zstd.NewCodec(0, 1)
	plain, _ := c.Compress(nil, []byte(backuptest.FakeSQL))
	c.Close()
	s.Replace(m.Object.Name, plain)
	backuptest.EditManifest(t, s, manifestName(m), func(mm map[string]any) {
		delete(mm, "encryption")
		mm["stream_sha256"] = shaHex(plain)
		mm["object"].(map[string]any)["sha256"] = shaHex(plain)
		mm["object"].(map[string]any)["size"] = len(plain)
	})
	f, err := restoreLatest(t, s, BackupRestoreOptions{RequireEncryption: true})
	if err == nil || !strings.Contains(err.Error(), "not encrypted") || f.sql.Len() != 0 {
		t.Fatalf("a downgraded backup: %v (restored %d bytes)", err, f.sql.Len())
	}
}

// Restore hands the manifest's compression to the restorer, which refuses
// a stream in another format before it connects anywhere.
func TestStreamFormatMustMatchTheManifest(t *testing.T) {
	s := mem.New()
	if _, err := run(t, s, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := restoreLatest(t, s, BackupRestoreOptions{})
	if err != nil || f.opts.Compression != compress.Zstd {
		t.Fatalf("restore options = %+v, %v", f.opts, err)
	}
	c, _ := compress.Gzip.NewCodec(0, 1)
	gz, _ := c.Compress(nil, []byte(backuptest.FakeSQL))
	_, err = restore.Restore(context.Background(), restore.RestoreOptions{Threads: 2, Compression: compress.Zstd}, bytes.NewReader(gz))
	if !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "the stream is gzip, the manifest says zstd") {
		t.Fatalf("gzip stream for a zstd manifest: %v", err)
	}
}

// Without --database, every database of the manifest is mapped to itself,
// so the restorer checks every target before anything runs.
func TestRestoreMapsEveryDatabase(t *testing.T) {
	s := mem.New()
	if _, err := run(t, s, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := restoreLatest(t, s, BackupRestoreOptions{Replace: true, KeepPartial: true})
	if err != nil || len(f.opts.Databases) != 1 || f.opts.Databases["app"] != "app" || !f.opts.Replace || !f.opts.KeepPartial {
		t.Fatalf("restore options = %+v, %v", f.opts, err)
	}
}

func TestPrefixValidation(t *testing.T) {
	for p, ok := range map[string]bool{"": true, "prod/": true, "prod": true, "a/b/": true, "x//": false, "a//b": false,
		"../": false, "a/../b": false, "./a": false, "/abs": false, "a\nb": false} {
		if err := checkPrefix(p); (err == nil) != ok {
			t.Errorf("checkPrefix(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestJobValidateRefusesBadPrefixes(t *testing.T) {
	targets := map[string]storage.Target{"local": {Type: "local", Path: "/b"}}
	for _, p := range []string{"x//", "../", "/abs/"} {
		j := testJob()
		j.Prefix = p
		err := j.Validate("backup.jobs[0]", targets)
		var fe *fielderr.Error
		if !errors.As(err, &fe) || fe.Field != "backup.jobs[0].prefix" {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
	j := testJob()
	j.Prefix = "prod/"
	if err := j.Validate("backup.jobs[0]", targets); err != nil {
		t.Errorf("prefix prod/: %v", err)
	}
}
