// Package restore loads a stream into a server: the stream reader, the
// parallel data connections, INSERTs as LOAD DATA, secondary indexes after
// the data, the targets it creates and drops, the temporary databases and
// swap of --replace, and Cat (the checked stream for a stock client).
//
// What it lets through is decided by package guard on sqltext's tokens;
// it must never import the dump or the binary log.
//
// # How a stream is restored
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
// (package guard, docs/restore-security.md).
package restore
