// Package backup is the pipeline of `ops backup`: a job's dump (from
// backup/mysql) is compressed while it is dumped, encrypted with age when
// the job has recipients, streamed into a storage.Store, and described by a
// manifest written last; then retention prunes the job's old backups.
// Restore, verify and the restore test read the same objects back and
// check them against the manifest.
//
// It owns the job configuration (Job, Retention), the manifest and its
// listing (ListBackups, FindBackup), RunBackup, RestoreBackup, RestoreTest,
// VerifyBackup, Prune and the retention rules.
//
// Imports run one way: backup imports backup/mysql (the engine),
// backup/storage (the Store interface) and backup/compress. The engine and
// the storage packages never import backup nor each other, and backup never
// imports a concrete store (backup/storage/backends opens those for cmd).
package backup
