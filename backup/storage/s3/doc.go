// Package s3 is the storage.Store of a bucket of any S3-compatible object
// store (AWS, IBM Cloud Object Storage, Ceph RGW, MinIO, Swift's s3api).
// Streams longer than a part are multipart uploads with several parts in
// flight, each with its Content-MD5 and retried on its own; only the
// completion makes an object visible, a failed or cancelled upload is
// aborted, and the uploads of killed processes are reported by Orphans
// (prune aborts them). Reads resume with a Range request.
//
// Client library: github.com/aws/aws-sdk-go-v2/service/s3 rather than
// minio-go. It is AWS's own SDK, maintained with the API, with typed
// inputs for every call this store makes (multipart uploads, If-Match
// ranged reads, ListMultipartUploads), and it lets the store switch off the
// SDK's own retries (the project's retry budget applies) and its default
// CRC32 checksum trailers (RequestChecksumCalculation and
// ResponseChecksumValidation "when required"): since s3 v1.73 those
// trailers break many non-AWS stores, Swift's s3api before 2.35.1 among
// them. Only the core module and the s3 service are used, not the config
// loader: credentials come from the target (a file or the environment),
// never from ~/.aws.
//
// It imports storage and storage/retry; it must not import the pipeline,
// the engine or another backend.
package s3
