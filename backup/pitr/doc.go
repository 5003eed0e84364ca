// Package pitr is point-in-time recovery: the archived binary log and the
// restore to a point.
//
// The archive (binlog_*.go): ArchiveBinlog streams the server's binary log (read by
// the engine's BinlogSource) into chunks under <prefix><job>/binlog/, each
// a valid binary log file compressed and encrypted like the dumps, with a
// chunk manifest (ChunkManifest: start, end and next positions, the
// position it follows, GTIDs, event timestamps, data_offset, SHA-256s)
// written last; ListBinlogChunks, AnalyzeBinlog (the chain: each backup's
// recoverable window, the gaps), VerifyBinlog, OpenChunk (for a replay)
// and the retention of chunks (part of Prune: every chunk from the one
// holding the oldest kept backup's position on is kept). RestorePointInTime
// restores to a RestorePoint (restorepoint.go): a typed time, GTID set or
// position the caller built once (PointAtTime, PointAtGTID,
// PointAtPosition); it never sees option text, and its messages name no
// option (a *NotRecoverableError carries what the caller words).
//
// A chunk holds whole transactions of one binary log file, from its start
// position on: magic, format description (the server's, or at a start in
// the middle of a file the one the server resent, rewritten with a valid
// end_log_pos), then the events as the server stores them, with their
// original end_log_pos. `mariadb-binlog CHUNK…` reads them; the event at
// position P of the server's file is at offset P − start + data_offset of
// the chunk. The chain is continuous when every chunk's follows is the
// previous chunk's next; the archiver sets follows to something else only
// when it had to skip logs the server no longer has (a gap).
//
// Retention of chunks runs inside the job's prune (Prune wraps
// backup.Prune): every chunk from the one holding the oldest kept backup's
// position on is kept.
//
// It imports the pipeline (backup: a restore to a point starts with
// RestoreBackup), the catalog, and the engine's binlog, replay and restore
// packages; the pipeline never imports it.
package pitr
