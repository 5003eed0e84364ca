// Package physical is the physical engine of `ops backup`: it runs
// mariadb-backup on the database host (--backup --stream=xbstream, its
// standard output is the stream the pipeline compresses, encrypts and
// stores), reads the backup's own info files (checkpoints: the LSNs; binlog
// info: the position and GTID the copy is consistent at; 10.11 names them
// xtrabackup_*, later releases mariadb_backup_*: both are read), and on
// restore extracts a stream into a directory (mbstream) and prepares it
// (mariadb-backup --prepare, then each incremental with --incremental-dir;
// never --apply-log-only, which MariaDB does not support).
//
// It reaches the server through backup/mysql/conn (server facts, the
// credentials it hands mariadb-backup in a 0600 defaults file, never in
// argv) and knows nothing of the logical dump or restore, of storage or of
// manifests: a backup writes to an io.Writer, a restore reads an io.Reader.
package physical
