// Package mysql is the MySQL/MariaDB engine of `ops backup`: connecting
// (Connect, Config), a native, consistent, parallel dumper (Dump), a
// streaming restorer (Restore), the SQL text and lexer they share
// (Splitter), and the binary log reader of point-in-time recovery
// (BinlogSource, BinlogStream, BinlogDecoder).
//
// It imports the drivers (go-sql-driver/mysql; go-mysql-org/go-mysql's
// replication client for the binary log only), backup/compress and small
// internal helpers; it must not import the backup pipeline, backup/storage
// or cmd. It knows nothing of objects, manifests or retention: a dump is
// written to an io.Writer, a restore reads an io.Reader, and the binary log
// comes out as a sequence of events. Its test helper binlogfake (an
// in-memory binary log server) follows the same rules.
//
// The files, by concern (the next restructuring of backup makes each concern a
// package of its own):
//   - connection: config.go (Config and its defaults), connect.go (reaching
//     the server, server facts), connect_deadline.go (a stalled connection
//     looked at from a new one; KILL QUERY on cancellation);
//   - dump: meta.go (reading the schema), snapshot.go (locking and the
//     consistent snapshots), plan.go (splitting tables into key ranges),
//     dump.go (the dumper), stream.go (reading parts in parallel and writing
//     them in order), digest.go (the content digests of tables), layout.go
//     (one section per database) and sqltext.go, quote.go (the SQL it
//     writes);
//   - SQL text: lexer.go (the one lexer, following the session: sql_mode,
//     character set, version; docs/sql-lexer.md), split.go (the Splitter, a
//     byte scanner held to the lexer by a fuzz target), guard.go (what a
//     restore lets through);
//   - restore: restore.go (the entry and the stream reader), restore_run.go
//     (driving the connections), restore_dispatch.go (one table per data
//     connection), restore_load.go (INSERTs as LOAD DATA), restore_keys.go
//     (secondary indexes after the data), restore_end.go (finishing, the
//     swap of --replace), targets.go (creating and dropping the targets),
//     replace.go (the temporary databases of --replace), definer.go (the
//     DEFINER rule), cat.go (the checked stream for a stock client);
//   - binary log: binlog.go, binlogstream.go, binlogevent.go, gtid.go (below);
//   - replay: replayfilter.go (which events a point-in-time restore
//     applies), replaytext.go (what the mysql client would do with the
//     text mariadb-binlog prints), replay.go (the pipe into mariadb-binlog
//     and mariadb).
//
// # Dump
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
// # Restore
//
// Restore reads zstd, gzip or plain SQL (detected by magic bytes), splits
// it like the mysql client (quotes, backslash escapes, comments, /*! */,
// DELIMITER; statements of any size) and runs the statements in order on
// one connection while the next ones are parsed; the INSERTs of an ops dump
// are spread over RestoreOptions.Threads data connections (default 2)
// that replay the session's SET/USE statements, with a barrier before every
// other statement. RestoreOptions.Databases
// renames and selects databases (see its documentation for the limits).
// A stream produced by Dump that lacks its final marker is reported as
// truncated.
//
// RestoreOptions.Replace never writes into the database it replaces before
// the new copy is complete and verified: the copy is built under
// <dst>__ops_new_<id> and swapped in with one atomic RENAME TABLE after
// RestoreOptions.Finish; a failed swap is undone (replace.go,
// docs/restore-security.md).
//
// Definer code cannot outrank the restore account: a view, routine,
// trigger or event keeps its DEFINER only when RestoreOptions.TrustedObjects
// (an authenticated manifest's list, which Dump records in
// DumpResult.Objects) holds it with that definer, else DEFINER becomes
// CURRENT_USER; events are created DISABLED unless listed enabled
// (definer.go, docs/restore-security.md).
//
// # Binary log
//
// binlog.go (positions, the server's state and the prerequisites),
// binlogstream.go (the replication connection), binlogevent.go (the
// decoder) and gtid.go. OpenBinlogSource checks that the server can be
// archived from (log_bin, binlog_format, server_id, BINLOG MONITOR or
// REPLICATION CLIENT) and Stream registers as a replica (REPLICATION
// SLAVE; server_id from ArchiverServerID) with go-mysql's BinlogSyncer in
// raw mode: the events are kept as the server stores them, MariaDB's
// annotate events included (BINLOG_SEND_ANNOTATE_ROWS_EVENT), so that
// what is archived is byte for byte the server's log. The decoder reads
// only what the archiver needs: each event's file and position (checked to
// follow the previous event's), its CRC32, rotations (real and the
// artificial ones a dump sends), GTIDs and the GTID state at file starts,
// and transaction boundaries (MariaDB GTID groups, BEGIN…COMMIT/XID,
// standalone DDL, XA). FormatDescription.ForFileStart rewrites the format
// description a dump resends in the middle of a file so that it can start
// a file whose events keep their original positions; ReadBinlogFile reads
// such files back.
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
package mysql
