// Package catalog names and describes what a job stored: object names (the
// job's prefix, backup IDs, the stream and manifest names), the manifest
// and its HMAC, and the listing of a job's backups (List, Find) with each
// one's status (complete, partial, corrupt, untrusted). It also deletes a
// backup or chunk manifest first (DeleteManifestFirst), which keeps
// listings honest when a prune is interrupted.
//
// It takes a store, a prefix and a key (Ref), never a job: it imports no
// pipeline, no point-in-time code and no engine beyond the schema types a
// manifest records.
package catalog
