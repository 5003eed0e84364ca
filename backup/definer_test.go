package backup

import (
	"context"
	"io"
	"testing"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/storage/mem"
)

// TestTrustedObjectsOnlyFromAnAuthenticatedManifest: the objects the dump
// lists with their definers go into the manifest (under its MAC), and a
// restore hands them to restore.Restore as TrustedObjects only when the
// manifest's MAC was checked with the job's key; without a key the restore
// trusts no definer. Fails when an unauthenticated list is trusted.
func TestTrustedObjectsOnlyFromAnAuthenticatedManifest(t *testing.T) {
	objs := []schema.StoredObject{{Kind: "PROCEDURE", Database: "app", Name: "p", Definer: "`root`@`localhost`"}, {Kind: "EVENT", Database: "app", Name: "e", Definer: "`root`@`localhost`", Enabled: true}}
	dump := func(ctx context.Context, o dump.DumpOptions, w io.Writer) (*dump.DumpResult, error) {
		res, err := backuptest.FakeDump(backuptest.FakeSQL)(ctx, o, w)
		if res != nil {
			res.Objects = objs
		}
		return res, err
	}
	for _, keyed := range []bool{true, false} {
		s := mem.New()
		job := testJob()
		if keyed {
			job.ManifestKeyFile = backuptest.WriteKey(t, "0123456789abcdef-secret")
		}
		m, err := run(t, s, RunOptions{Job: job, Dump: dump})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Objects) != 2 || m.Objects[1] != objs[1] {
			t.Fatalf("manifest objects: %+v", m.Objects)
		}
		b, err := FindBackup(context.Background(), s, job, "latest")
		if err != nil {
			t.Fatal(err)
		}
		f := &fakeRestore{}
		if _, err := RestoreBackup(context.Background(), BackupRestoreOptions{Store: s, Backup: b, Restore: f.restore, TrustUnauthenticated: !keyed}); err != nil {
			t.Fatal(err)
		}
		if got := len(f.opts.TrustedObjects); (got == 2) != keyed || (!keyed && f.opts.TrustedObjects != nil) {
			t.Errorf("keyed=%v: %d trusted objects passed to the restore", keyed, got)
		}
	}
}
