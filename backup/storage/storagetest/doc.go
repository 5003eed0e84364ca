// Package storagetest is the conformance suite of storage.Store, in the
// spirit of rclone's fstests: every backend runs the same tests, so that
// the pipeline can rely on the contract rather than on one implementation.
// It is run against the local target, the in-memory store, the in-process
// Swift fake and (with OPS_IT=1) the Swift AIO.
//
// It imports only storage and the standard library.
package storagetest
