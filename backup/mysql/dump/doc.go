// Package dump is the consistent, parallel, streaming dumper (Dump) and the
// content digests of tables (DigestTables).
//
// It imports conn, schema and sqltext; it must never import the restore,
// the binary log or the backup pipeline (the pipeline's point-in-time code
// least of all).
//
// # How a dump is taken
//
// Dump talks to the server only through github.com/go-sql-driver/mysql
// (text protocol, no parseTime, no interpolateParams). It:
//
//   - takes one point in time for every database and every thread: FLUSH
//     TABLES WITH READ LOCK (bounded by MySQL.LockWaitTimeout: session
//     lock_wait_timeout plus a watchdog that KILLs the waiting statement),
//     then every connection runs START TRANSACTION WITH CONSISTENT SNAPSHOT,
//     the binlog file/position and GTID are read, UNLOCK TABLES. On MySQL 8,
//     LOCK INSTANCE FOR BACKUP is also held for the whole dump when the
//     account may. Without the RELOAD privilege (Consistency "auto") or with
//     Consistency "nolock", no global lock is taken: with binary logging on
//     and several threads every snapshot is proven to be at the same binlog
//     position (MariaDB: Binlog_snapshot_position of each connection; MySQL:
//     the position did not move while they were opened), otherwise one
//     connection reads everything. DumpResult.ConsistencyMode says which.
//     Only transactional (InnoDB) tables are consistent; MyISAM & co. are
//     read after the lock was released.
//   - reads values as text and quotes them by column type: numbers copied
//     exactly (FLOAT read as CAST(… AS DOUBLE) because MariaDB prints FLOAT
//     with 6 digits), strings escaped, binary-charset columns (BINARY,
//     VARBINARY, BLOB, BIT, GEOMETRY) as 0x hex, the empty string kept apart from NULL,
//     zero dates and fractional seconds kept; session in UTC, utf8mb4,
//     an empty sql_mode.
//   - writes DDL verbatim (SHOW CREATE …), each stored object under its own
//     character_set_client, collation_connection, sql_mode (and time_zone
//     for events), bodies read with character_set_results=binary.
//   - writes one section per database (layout.go): header; per database
//     CREATE DATABASE IF NOT EXISTS and USE (the only two lines naming
//     it), sequences (with SETVAL), tables (DROP TABLE IF EXISTS + CREATE
//     TABLE), placeholder views, its data, routines, real views, triggers
//     and events; footer ending in "-- Dump completed". A database whose
//     views or events name another comes after it; views of databases that
//     name each other in a cycle come last, after a second USE. Generated
//     columns are left out of INSERTs, invisible columns are listed
//     explicitly.
//   - splits tables with a usable primary key into key ranges (keyset
//     pagination in the snapshot) read by Threads connections; every part
//     is compressed into its own zstd frame or gzip member and an ordered
//     writer puts them in a fixed order, so the output is one deterministic
//     stream that `zstd -dc | mysql` loads. At most 2×Threads+2 parts are
//     in flight, each holding at most 3 compressed frames of ~2 MiB of SQL,
//     so memory does not grow with the database.
//
// Bodies of triggers/routines/events that contain comments are emitted as
// EXECUTE IMMEDIATE '…' on MariaDB, because the stock mysql client strips
// comments (without --comments) and the stored body would change.
//
// # Limits
//
//   - Concurrent DDL during a dump is not supported (as with mysqldump
//     --single-transaction); on MySQL 8 LOCK INSTANCE FOR BACKUP blocks it.
//   - System-versioned tables (MariaDB): only current rows are dumped.
//   - MariaDB PACKAGE / PACKAGE BODY (Oracle mode) are not dumped.
//   - Users and grants (the mysql database) are not dumped by default.
//   - Statements are capped by the source's max_allowed_packet; the target
//     needs one at least as large as MaxStatementBytes (default 1 MiB).
//   - MariaDB 10.11 shows a character outside the Basic Multilingual Plane
//     (an emoji) in an ENUM or SET member list as '?', in SHOW CREATE TABLE
//     and information_schema alike; the restored column has a '?' member
//     and such values restore as the empty string (mysqldump's dumps have the
//     same flaw). `ops backup verify --restore-test` reports such a table:
//     its content digest differs after the restore.
package dump
