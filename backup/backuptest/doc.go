// Package backuptest holds what the tests of the pipeline and of
// point-in-time recovery share: a fake dump source, a fixed clock, manifest
// editing in the in-memory store and key files. Imported by tests only.
package backuptest
