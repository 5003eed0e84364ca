// Package swift is the storage.Store of an OpenStack Swift container
// (ncw/swift/v2): streams are uploaded as Static Large Objects with several
// segments in flight, each retried on its own, and only the manifest PUT
// makes an object visible; segment sets of killed uploads are reported by
// Orphans.
//
// It imports storage and storage/retry; it must not import the pipeline,
// the engine or another backend.
package swift
