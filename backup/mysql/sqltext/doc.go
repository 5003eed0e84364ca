// Package sqltext is the one reader of SQL text in the engine: the lexer
// (following the session: sql_mode, character set, server version;
// docs/sql-lexer.md), the Splitter (a byte scanner for speed, held to the
// lexer by FuzzSplitterAgreesWithLexer), the CREATE head reader of the
// DEFINER rule, quoting of identifiers and values, and the markers of an
// ops stream (its head, footer, sandbox line and end-of-data lines).
//
// It does no I/O and imports no other package of the project: everything
// that reads SQL (splitting the stream, the guard, the replay filter,
// deferred keys, database references) uses its tokens, and archtest fails
// on a hand-written quote scanner anywhere else under backup/mysql.
package sqltext
