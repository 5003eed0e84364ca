// Package sqltexttest is a corpus of tricky SQL and reference scanners shared
// by the tests of sqltext and of the restore. Imported by tests only.
package sqltexttest
