// Package replay applies archived binary log events to a restored copy: the
// replay filter (which events a point-in-time restore applies, and which
// it refuses), a model of what the mysql client does with the text
// mariadb-binlog prints, and the two ways of applying it: the batched
// replay (ops reads mariadb-binlog's output as the client does and sends
// it itself, several source transactions to a commit, with a ledger of its
// commits) and the stock pipe mariadb-binlog | mariadb.
//
// It sits on binlog, conn and sqltext; it never imports the dump or the
// restore, and never changes a global variable of the target.
package replay
