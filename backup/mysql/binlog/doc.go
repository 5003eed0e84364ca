// Package binlog reads the binary log for point-in-time recovery:
// positions and GTIDs, the server's binary log state and the prerequisites
// of archiving, the replication connection, and the event decoder.
//
// It imports conn only (of the engine); it knows nothing of dumps,
// restores or the replay.
//
// # Files
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
package binlog
