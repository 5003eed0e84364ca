// Package conn reaches a MySQL/MariaDB server for the rest of the engine:
// the connection settings (Config, its defaults and checks), Connect (TLS,
// timeouts, my.cnf defaults files, passwords never in argv), the server's
// facts (version, flavour, SystemDatabases), a stalled connection watched
// from a new one (KILL QUERY on cancellation) and the error helpers
// (MySQL error numbers, access denied, ErrLockWaitTimeout).
//
// It is the bottom of the engine beside sqltext: it must not import any
// other package of backup/mysql, and knows nothing of dumps, restores or
// the binary log.
package conn
