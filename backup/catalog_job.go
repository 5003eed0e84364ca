package backup

import (
	"context"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
)

// Ref is how the catalog names the job's backups: its name, prefix and
// manifest key (read from manifest_key_file or the default key file).
func (j *Job) Ref() (catalog.Ref, error) {
	key, err := j.ManifestKey()
	if err != nil {
		return catalog.Ref{}, err
	}
	return catalog.Ref{Name: j.Name, Prefix: j.Prefix, Key: key}, nil
}

// ListBackups reads the job's backups from a store, newest first (List;
// all: partial, corrupt and untrusted ones too).
func ListBackups(ctx context.Context, s storage.Store, job Job, all bool) ([]*catalog.BackupInfo, error) {
	ref, err := job.Ref()
	if err != nil {
		return nil, err
	}
	return catalog.List(ctx, s, ref, all)
}

// FindBackup picks one of the job's complete backups by ID, or the newest
// for "latest" / "" (Find).
func FindBackup(ctx context.Context, s storage.Store, job Job, id string) (*catalog.BackupInfo, error) {
	ref, err := job.Ref()
	if err != nil {
		return nil, err
	}
	return catalog.Find(ctx, s, ref, id)
}
