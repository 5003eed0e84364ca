package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/exitcode"
)

// readableBackup finds the backup restore and cat read: complete (or, with
// trust, written before the job had a key), holding every database the
// mapping names, authenticated, with the identities that decrypt it.
func (rt *opsRuntime) readableBackup(ctx context.Context, store storage.Store, job backup.Job, id string, mapping map[string]string, trust bool, identity string) (*catalog.BackupInfo, []age.Identity, error) {
	b, err := backup.FindBackup(ctx, store, job, id)
	if errors.Is(err, catalog.ErrNotComplete) && trust && b.AcceptUnsigned() {
		err = nil // written before the job had a key: checkAuthenticated warns
	}
	if err != nil {
		return nil, nil, err
	}
	for src := range mapping {
		if !contains(b.Databases, src) {
			return nil, nil, exitcode.UsageError(fmt.Errorf("--database %s=…: backup %s has no database %q (it has: %s)", src, b.ID, src, strings.Join(b.Databases, ", ")))
		}
	}
	if err := rt.checkAuthenticated(job, b, trust); err != nil {
		return nil, nil, err
	}
	ids, err := rt.identities(job, identity, b)
	if err != nil {
		return nil, nil, err
	}
	return b, ids, nil
}

// identities loads the age identity needed for an encrypted backup.
func (rt *opsRuntime) identities(job backup.Job, flag string, b *catalog.BackupInfo) ([]age.Identity, error) {
	if !b.Encrypted {
		return nil, nil
	}
	path := flag
	if path == "" {
		path = job.IdentityFile
	}
	if path == "" {
		return nil, exitcode.UsageError(fmt.Errorf("backup %s is encrypted: give the age identity with --identity FILE or backup.jobs[].identity_file", b.ID))
	}
	return backup.LoadIdentities(path)
}
