// Package replay applies archived binary log events to a restored copy: the
// replay filter (which events a point-in-time restore applies, and which
// it refuses), a model of what the mysql client does with the text
// mariadb-binlog prints, and the pipe into mariadb-binlog | mariadb.
//
// It sits on binlog, conn and sqltext; it never imports the dump or the
// restore.
package replay
