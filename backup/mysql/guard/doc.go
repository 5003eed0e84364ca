// Package guard decides what a restore lets through: an allow-list of
// statements an ops dump writes, checked on sqltext's tokens under the
// session the stream sets (sql_mode, character set), the rows of every
// INSERT checked to be literals only, and the DEFINER rule (a stored object
// keeps its definer only when an authenticated manifest lists it).
//
// It reads SQL only through sqltext and never imports the restore, the
// dump or the binary log (docs/restore-security.md).
package guard
