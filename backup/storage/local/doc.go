// Package local is the storage.Store of a local directory: a Put writes a
// temporary file, fsyncs it and renames it into place, so an interrupted
// Put never leaves anything under the final name; temporary files of killed
// runs are reported by Orphans.
//
// It imports only storage; it must not import the pipeline, the engine or
// another backend.
package local
