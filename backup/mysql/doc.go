// Package mysql holds nothing but this map: the MySQL/MariaDB engine of
// `ops backup` is one package per concern below it, and imports run one way
// (internal/archtest enforces it):
//
//	sqltext  conn            the one lexer, quoting, stream markers (no I/O);
//	   |       |              reaching the server, server facts, errors
//	   +--- schema ---+      reading what a database holds
//	   |              |
//	 guard            |      what a restore lets through (on sqltext's tokens)
//	   |              |
//	restore         dump     loading a stream; the consistent parallel dumper
//	                         (dump and restore never import each other)
//	binlog                   positions, GTIDs, the replication stream, the decoder
//	replay                   the replay filter and the pipe into mariadb-binlog | mariadb
//	physical (on conn)       mariadb-backup: the xbstream, its info files, extract and prepare
//	                         (imports neither dump nor restore, and they not it)
//
// Test helpers: mysqltest (servers, sessions and fingerprints for the
// integration tests), sqltext/sqltexttest (a corpus of tricky SQL),
// binlogfake (an in-memory binary log server), binlogtest.
//
// Every package of the engine imports the drivers, backup/compress and small
// internal helpers at most; none imports the backup pipeline, backup/storage
// or cmd. A dump is written to an io.Writer, a restore reads an io.Reader,
// and the binary log comes out as a sequence of events.
package mysql
