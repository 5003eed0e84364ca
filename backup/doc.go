// Package backup is the pipeline of `ops backup`: a job's dump (from
// backup/mysql/dump) is compressed while it is dumped, encrypted with age
// when the job has recipients, streamed into a storage.Store, and described
// by a manifest written last; then retention prunes the job's old backups.
// Restore, verify and the restore test read the same objects back and
// check them against the manifest.
//
// It owns the job configuration (Job, Retention, the binlog settings),
// RunBackup, RestoreBackup, RestoreTest, VerifyBackup, Prune and the
// retention rules, and names the job's backups to the catalog (Job.Ref,
// ListBackups, FindBackup).
//
// A job with method: physical takes its stream from mariadb-backup
// (backup/mysql/physical) instead of the dump, through the same
// compression, encryption, store and manifest (physical.go), and restores
// a chain of them into a data directory (physical_restore.go).
//
// Imports run one way: backup imports backup/catalog (object names,
// manifests), the engine (backup/mysql/dump, restore, schema, conn,
// sqltext), backup/storage (the Store interface) and backup/compress. It
// never imports point-in-time recovery (backup/pitr, which imports it), a
// concrete store (backup/storage/backends opens those for cmd), nor the
// engine's binary log or replay.
package backup
