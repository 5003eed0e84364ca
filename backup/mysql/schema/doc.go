// Package schema reads what a database holds: its tables (columns, keys,
// sizes), sequences, views, routines, triggers and events with their DDL
// (SHOW CREATE … under each object's own character set and sql_mode), and
// the stored objects whose DEFINER a manifest records.
//
// The dump reads a database through it, and the restore's --replace reads
// the database it replaces. It imports conn and sqltext only, never the dump
// or the restore.
package schema
