package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/internal/secret"
	"github.com/opsteam/ops/internal/suggest"
)

// Store stores objects in an S3 bucket. Streams up to the part size are
// single PUTs; longer ones are multipart uploads whose parts (each with
// its Content-MD5, each retried on its own) go up Concurrency at a time,
// and only CompleteMultipartUpload makes the object visible. A failed or
// cancelled Put aborts its upload; uploads left by a killed process are
// reported by Orphans. Safe for concurrent use.
type Store struct {
	client *awss3.Client
	bucket string
	opts   Options
	log    *slog.Logger
}

// New checks that the bucket answers (authenticating on the way) and
// creates it when missing (unless Options.ReadOnly: then a missing bucket
// is an error naming it, with the closest existing names).
func New(ctx context.Context, o Options) (*Store, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	tr, err := transport(o)
	if err != nil {
		return nil, err
	}
	key, secretKey := o.AccessKeyID, o.SecretAccessKey.Reveal()
	so := awss3.Options{
		Region:       o.Region,
		UsePathStyle: o.PathStyle,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secretKey, Source: "ops"}, nil
		}),
		HTTPClient: &http.Client{Transport: tr},
		// Checksums only where the API requires them: since s3 v1.73 the SDK
		// sends CRC32 trailers by default, which many S3-compatible stores
		// (Swift's s3api before 2.35.1, older Ceph and MinIO) reject. Every
		// PUT carries a Content-MD5 instead.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		// Retries are the project's policy (storage.retry_budget), not the SDK's.
		Retryer: aws.NopRetryer{},
		DisableLogOutputChecksumValidationSkipped: true,
	}
	if o.Endpoint != "" {
		so.BaseEndpoint = aws.String(strings.TrimRight(o.Endpoint, "/"))
	}
	s := &Store{client: awss3.New(so), bucket: o.Bucket, opts: o, log: o.Logger}
	if err := s.checkBucket(ctx); err != nil {
		return nil, err
	}
	s.log.Debug("s3 target ready", "store", s.String(), "part_size", o.PartSize, "concurrency", o.Concurrency)
	return s, nil
}

func (s *Store) String() string { return "s3:" + s.bucket }

// checkBucket is a HEAD of the bucket (which also checks the credentials);
// a missing bucket is created, or is a *storage.MissingError when read-only.
func (s *Store) checkBucket(ctx context.Context) error {
	err := s.do(ctx, "head bucket "+s.bucket, func(ctx context.Context) error {
		_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket})
		return err
	})
	if err == nil {
		return nil
	}
	switch retry.HTTPStatus(err) {
	case http.StatusNotFound:
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("s3: access to bucket %s denied for access key %s (wrong key or secret, or no permission): %w", s.bucket, s.opts.AccessKeyID, err)
	default:
		return fmt.Errorf("s3: checking bucket %s: %w", s.bucket, err)
	}
	if s.opts.ReadOnly {
		return &storage.MissingError{Kind: "s3 bucket", Name: s.bucket, Suggestions: suggest.Closest(s.bucket, s.bucketNames(ctx), 3)}
	}
	in := &awss3.CreateBucketInput{Bucket: &s.bucket}
	if s.opts.Region != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(s.opts.Region)}
	}
	err = s.do(ctx, "create bucket "+s.bucket, func(ctx context.Context) error {
		_, err := s.client.CreateBucket(ctx, in)
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil // created meanwhile, by us
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("s3: creating bucket %s: %w", s.bucket, err)
	}
	s.log.Info("s3: created bucket", "bucket", s.bucket)
	return nil
}

// bucketNames lists the account's buckets, for suggestions (nil when the
// listing fails: it is only a hint).
func (s *Store) bucketNames(ctx context.Context) []string {
	var names []string
	err := s.do(ctx, "list buckets", func(ctx context.Context) error {
		out, err := s.client.ListBuckets(ctx, &awss3.ListBucketsInput{})
		if err != nil {
			return err
		}
		names = names[:0]
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		return nil
	})
	if err != nil {
		s.log.Debug("s3: cannot list the buckets for suggestions", "err", err)
	}
	return names
}

// do runs one idempotent request under the store's retry policy, with its
// error made an *apiError.
func (s *Store) do(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	return s.opts.Retry.Do(ctx, what, retry.IsTransient, func(int) error { return s.wrap(fn(ctx)) })
}

// apiError carries an S3 error's HTTP status, code and Retry-After for
// the retry policy; its message is the SDK's, scrubbed.
type apiError struct {
	status     int
	code       string
	retryAfter time.Duration
	msg        string
	err        error
}

func (e *apiError) Error() string { return e.msg }

func (e *apiError) Unwrap() error { return e.err }

// HTTPStatus is read by retry.HTTPStatus.
func (e *apiError) HTTPStatus() int { return e.status }

// RetryAfter is read by retry.RetryAfter.
func (e *apiError) RetryAfter() time.Duration { return e.retryAfter }

// wrap turns an SDK error into an *apiError (nil stays nil): the status,
// the S3 error code, and a message that never carries the secret nor a
// request URL's query.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return err
	}
	e := &apiError{err: err}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		e.status = re.HTTPStatusCode()
		if ra := re.Response.Header.Get("Retry-After"); ra != "" {
			if n, perr := strconv.Atoi(ra); perr == nil && n > 0 {
				e.retryAfter = time.Duration(n) * time.Second
			}
		}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.code = api.ErrorCode()
	}
	msg := secret.RedactURLs(err).Error()
	if k := s.opts.SecretAccessKey.Reveal(); len(k) >= 3 {
		msg = strings.ReplaceAll(msg, k, secret.Redacted)
	}
	e.msg = msg
	return e
}

func isNotFound(err error) bool { return retry.HTTPStatus(err) == http.StatusNotFound }

func errCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return ""
}

// List implements storage.Store: a paged ListObjectsV2 under prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	var out []storage.Object
	p := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3: listing %s/%s: %w", s.bucket, prefix, s.wrap(err))
		}
		for _, o := range page.Contents {
			out = append(out, storage.Object{Name: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b storage.Object) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete implements storage.Store: one DELETE per object, a few at a time
// (a multi-object delete needs a Content-MD5 or checksum header that not
// every S3-compatible store accepts in the same form). A missing object is
// not an error.
func (s *Store) Delete(ctx context.Context, names ...string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, 8)
	)
	for _, name := range names {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: &name})
			if err = s.wrap(err); err != nil && !isNotFound(err) {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("s3: deleting %s: %w", name, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// uploadSep separates an object's name from an upload id in the names
// Orphans returns.
const uploadSep = " (multipart upload "

// Orphans implements storage.Orphans: the multipart uploads under prefix
// begun more than olderThan ago and never completed nor aborted (a process
// killed mid-upload), named "KEY (multipart upload ID)".
func (s *Store) Orphans(ctx context.Context, prefix string, olderThan time.Duration) ([]string, error) {
	var out []string
	in := &awss3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	cutoff := time.Now().Add(-olderThan)
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("s3: listing the multipart uploads of %s/%s: %w", s.bucket, prefix, s.wrap(err))
		}
		for _, u := range page.Uploads {
			if olderThan <= 0 || aws.ToTime(u.Initiated).Before(cutoff) {
				out = append(out, aws.ToString(u.Key)+uploadSep+aws.ToString(u.UploadId)+")")
			}
		}
		if !aws.ToBool(page.IsTruncated) || (aws.ToString(page.NextKeyMarker) == "" && aws.ToString(page.NextUploadIdMarker) == "") {
			break
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
	slices.Sort(out)
	return out, nil
}

// DeleteOrphans implements storage.Orphans: it aborts the uploads Orphans
// listed (an upload gone meanwhile is not an error).
func (s *Store) DeleteOrphans(ctx context.Context, names []string) error {
	for _, n := range names {
		i := strings.LastIndex(n, uploadSep)
		if i < 0 || !strings.HasSuffix(n, ")") {
			return fmt.Errorf("s3: %q is not a multipart upload named by Orphans", n)
		}
		key, id := n[:i], n[i+len(uploadSep):len(n)-1]
		if err := s.abort(ctx, key, id); err != nil {
			return err
		}
	}
	return nil
}

// abort aborts a multipart upload; a missing one is not an error.
func (s *Store) abort(ctx context.Context, key, id string) error {
	err := s.do(ctx, "abort upload of "+key, func(ctx context.Context) error {
		_, err := s.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &id})
		return err
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3: aborting the multipart upload %s of %s: %w", id, key, err)
	}
	return nil
}

var (
	_ storage.Store   = (*Store)(nil)
	_ storage.Orphans = (*Store)(nil)
)
