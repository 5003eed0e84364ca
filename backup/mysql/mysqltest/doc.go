// Package mysqltest holds what the engine's integration tests share: the
// source and target servers of the test bed, sessions, unique names, schema
// fingerprints and a stock-client restore. Imported by tests only
// (internal/archtest).
package mysqltest
