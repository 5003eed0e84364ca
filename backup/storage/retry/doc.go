// Package retry holds the retry policy of storage operations (exponential
// backoff with jitter, Retry-After honoured), the classification of
// transient errors, and Wrap, a storage.Store decorator that retries Open,
// List and Delete.
//
// It imports only storage (and ncw/swift's error type, to read the HTTP
// status of a Swift error); it must not import the pipeline, the engine or
// a backend.
package retry
