// Package storage is the contract between the backup pipeline and where
// backups live: the Store interface (Put, Open, List, Delete), the optional
// Orphans interface, Object and Segment, ErrNotExist, and the `storage:`
// config section (Config, Target).
//
// Backends live in sub-packages, in the spirit of restic's
// internal/backend/*: local (a directory), swift (OpenStack Swift, Static
// Large Objects), retry (a decorator), mem (in memory, for tests); backends
// opens a configured target, and storagetest is the conformance suite every
// backend passes.
//
// storage imports only the standard library and small internal helpers; it
// must not import the pipeline (backup), the engine (backup/mysql) or any
// of its own backends.
package storage
