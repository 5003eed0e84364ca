// Package binlogfake is an in-memory binary log server for tests of the
// binary log archiver: files of raw events written the way MariaDB writes
// them (format description, Gtid_list, GTID-framed transactions, rotate and
// stop events, CRC32 checksums) and a dump that sends them the way MariaDB
// sends them to a replica (the artificial rotate, the format description
// resent with end_log_pos 0 in the middle of a file, artificial rotates
// between files), decoded by the engine's own decoder.
//
// Like storagetest, it is a test helper of the engine: it imports only
// backup/mysql/binlog and must not import the pipeline, backup/storage or cmd.
package binlogfake
