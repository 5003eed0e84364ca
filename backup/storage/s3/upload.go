package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/semaphore"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
)

// abortTimeout bounds the abort of a failed or cancelled upload (it runs
// after the caller's context is done).
const abortTimeout = 30 * time.Second

var errETagMismatch = errors.New("the ETag the server returned is not the MD5 of the bytes sent")

// partSizeAt is the size of part idx (0-based) of an upload whose first
// part is base: base for the first 5000 parts, then doubling every 500
// parts, capped at MaxPartSize. A stream of unknown length so never needs
// more than MaxParts parts up to the protocol's 5 TiB object limit: with
// 8 MiB parts, the first 40 GB go up in 8 MiB parts, the next 8 GB in
// 16 MiB parts, and so on. Most backups never leave the first size, which
// keeps the memory of a Put small.
func partSizeAt(base int64, idx int) int64 {
	if idx < MaxParts/2 {
		return base
	}
	size := base
	for k := 0; k <= (idx-MaxParts/2)/(MaxParts/20) && size < MaxPartSize; k++ {
		size *= 2
	}
	return min(size, MaxPartSize)
}

// Put implements storage.Store. A stream that fits in one part is a single
// PUT with its Content-MD5; a longer one is a multipart upload (see Store).
// Memory: at most Concurrency+1 first-size parts are held at once (a grown
// part larger than that budget goes up alone).
func (s *Store) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	if err := checkKey(name); err != nil {
		return storage.Object{}, err
	}
	r = storage.ContextReader(ctx, r)
	whole := sha256.New()
	base := s.opts.PartSize
	// Small objects (manifests, binlog chunks) are common: they are read
	// into a small buffer first, a whole part is allocated only for more.
	head := make([]byte, min(smallObject, base))
	n, err := io.ReadFull(r, head)
	whole.Write(head[:n])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return s.putSingle(ctx, name, head[:n], whole)
	}
	if err != nil {
		return storage.Object{}, fmt.Errorf("s3: uploading %s: reading the stream: %w", name, err)
	}
	buf := make([]byte, base)
	copy(buf, head)
	m, err := io.ReadFull(r, buf[n:])
	whole.Write(buf[n : n+m])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return s.putSingle(ctx, name, buf[:n+m], whole)
	case err != nil:
		return storage.Object{}, fmt.Errorf("s3: uploading %s: reading the stream: %w", name, err)
	}
	// A stream of exactly one part is still a single PUT: look one byte ahead.
	var next [1]byte
	k, err := io.ReadFull(r, next[:])
	switch {
	case err == io.EOF:
		return s.putSingle(ctx, name, buf, whole)
	case err != nil:
		return storage.Object{}, fmt.Errorf("s3: uploading %s: reading the stream: %w", name, err)
	}
	return s.putMultipart(ctx, name, io.MultiReader(bytes.NewReader(next[:k]), r), buf, whole)
}

// smallObject is the size of the first read of a Put.
const smallObject = 256 << 10

func checkKey(name string) error {
	if name == "" || len(name) > 1024 || strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") || !utf8.ValidString(name) {
		return fmt.Errorf("s3: invalid object name %q (expected 1 to 1024 bytes of UTF-8, not starting with /)", name)
	}
	return nil
}

func md5Of(data []byte) (b64, hexSum string) {
	sum := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(sum[:]), hex.EncodeToString(sum[:])
}

// checkETag compares a returned ETag with the MD5 sent, when the ETag
// looks like one (an encrypting store returns something else).
func checkETag(etag, md5hex string) error {
	et := strings.ToLower(strings.Trim(etag, `"`))
	if len(et) == 32 && isHex(et) && et != md5hex {
		return fmt.Errorf("%w: sent %s, got %s", errETagMismatch, md5hex, et)
	}
	return nil
}

// partRetryable: transient errors, and an upload whose bytes did not
// arrive intact (the part is still in memory: it is sent again).
func partRetryable(err error) bool {
	if retry.IsTransient(err) || errors.Is(err, errETagMismatch) {
		return true
	}
	switch errCode(err) {
	case "BadDigest", "RequestTimeout", "IncompleteBody":
		return true
	}
	return false
}

func (s *Store) storageClass() types.StorageClass { return types.StorageClass(s.opts.StorageClass) }

// unsignedPayload signs a PUT without hashing its body (x-amz-content-sha256:
// UNSIGNED-PAYLOAD): the body's integrity is the Content-MD5 the server
// checks, and that header is signed. It saves a SHA-256 pass over every
// byte uploaded.
func unsignedPayload(o *awss3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

func (s *Store) putSingle(ctx context.Context, name string, data []byte, whole hash.Hash) (storage.Object, error) {
	b64, hexSum := md5Of(data)
	err := s.opts.Retry.Do(ctx, "put "+name, partRetryable, func(int) error {
		out, err := s.client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket: &s.bucket, Key: &name, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			ContentMD5: &b64, ContentType: aws.String("application/octet-stream"), StorageClass: s.storageClass(),
		}, unsignedPayload)
		if err != nil {
			return s.wrap(err)
		}
		return checkETag(aws.ToString(out.ETag), hexSum)
	})
	if err != nil {
		return storage.Object{}, fmt.Errorf("s3: uploading %s: %w", name, err)
	}
	return storage.Object{Name: name, Size: int64(len(data)), Modified: time.Now(), SHA256: hex.EncodeToString(whole.Sum(nil))}, nil
}

// upload is the state of one multipart upload.
type upload struct {
	s      *Store
	key    string
	id     string
	ctx    context.Context
	cancel context.CancelCauseFunc
	mem    *semaphore.Weighted // bytes of part buffers held
	budget int64
	spool  int64         // a part larger than this goes through a temporary file
	slots  chan struct{} // part uploads in flight
	free   chan []byte   // first-size buffers of finished parts, for reuse
	wg     sync.WaitGroup

	mu    sync.Mutex
	err   error
	parts []types.CompletedPart
}

func (u *upload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel(err)
}

func (u *upload) firstErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (s *Store) putMultipart(ctx context.Context, name string, r io.Reader, first []byte, whole hash.Hash) (storage.Object, error) {
	var id string
	err := s.do(ctx, "create upload of "+name, func(ctx context.Context) error {
		out, err := s.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
			Bucket: &s.bucket, Key: &name, ContentType: aws.String("application/octet-stream"), StorageClass: s.storageClass(),
		})
		if err == nil {
			id = aws.ToString(out.UploadId)
		}
		return err
	})
	if err != nil {
		return storage.Object{}, fmt.Errorf("s3: uploading %s: starting the multipart upload: %w", name, err)
	}
	uctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	budget := int64(s.opts.Concurrency+1) * s.opts.PartSize
	spool := budget
	if s.opts.spoolAbove > 0 {
		spool = s.opts.spoolAbove
	}
	u := &upload{s: s, key: name, id: id, ctx: uctx, cancel: cancel, mem: semaphore.NewWeighted(budget), budget: budget, spool: spool,
		slots: make(chan struct{}, s.opts.Concurrency), free: make(chan []byte, s.opts.Concurrency+1)}
	s.log.Debug("s3: multipart upload started", "object", name, "upload_id", id)
	total, err := u.send(r, first, whole)
	if err == nil {
		err = u.complete()
	}
	if err != nil {
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer acancel()
		if aerr := s.abort(actx, name, id); aerr != nil {
			s.log.Warn("s3: the failed upload could not be aborted; prune aborts it after the grace period", "object", name, "upload_id", id, "err", aerr)
		}
		return storage.Object{}, fmt.Errorf("s3: uploading %s: %w", name, err)
	}
	return storage.Object{Name: name, Size: total, Modified: time.Now(), SHA256: hex.EncodeToString(whole.Sum(nil))}, nil
}

// send reads the stream part by part and hands each part to an upload
// goroutine; it returns the stream's length once every part is up.
func (u *upload) send(r io.Reader, first []byte, whole hash.Hash) (int64, error) {
	base := u.s.opts.PartSize
	total := int64(len(first))
	if err := u.mem.Acquire(u.ctx, base); err != nil {
		return 0, u.stopped(err)
	}
	u.dispatch(1, first, base)
	for idx := 1; ; idx++ {
		if idx >= MaxParts {
			u.fail(fmt.Errorf("the stream is longer than %d parts can hold (first part %d bytes)", MaxParts, base))
			break
		}
		size := partSizeAt(base, idx)
		weight := min(size, u.budget)
		if err := u.mem.Acquire(u.ctx, weight); err != nil {
			break // failed or cancelled: the cause is in u.err or ctx
		}
		if size > u.spool {
			// a grown part larger than the memory budget: through a
			// temporary file, alone (it holds the whole budget)
			n, err := u.spoolPart(idx+1, r, size, whole, weight)
			total += n
			if err != nil || n < size {
				break // failed, or the last, short part
			}
			continue
		}
		buf := u.buffer(size)
		n, err := io.ReadFull(r, buf)
		whole.Write(buf[:n])
		total += int64(n)
		if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			u.mem.Release(weight)
			u.recycle(buf)
			break
		}
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			u.mem.Release(weight)
			u.fail(fmt.Errorf("reading the stream: %w", err))
			break
		}
		if size != base && n == int(size) {
			u.s.log.Debug("s3: part size raised to stay under the part limit", "object", u.key, "part", idx+1, "size", size)
		}
		u.dispatch(idx+1, buf[:n], weight)
		if err != nil {
			break // the last, short part
		}
	}
	u.wg.Wait()
	if err := u.firstErr(); err != nil {
		return 0, err
	}
	if err := u.ctx.Err(); err != nil {
		return 0, u.stopped(err)
	}
	return total, nil
}

// spoolPart copies the next part (at most size bytes) of r into a temporary
// file and uploads it from there in the background, like dispatch; the file
// is removed when the part is done. It returns the bytes read; an error
// (already recorded with fail) stops the upload. Memory stays at the copy
// buffer: the parts that need this are 64 MiB and more, only in streams past
// about 60 GiB (partSizeAt).
func (u *upload) spoolPart(num int, r io.Reader, size int64, whole hash.Hash, weight int64) (int64, error) {
	f, err := os.CreateTemp(u.s.opts.SpoolDir, "ops-s3-part-*")
	if err != nil {
		u.mem.Release(weight)
		u.fail(fmt.Errorf("part %d: spooling it to a temporary file: %w", num, err))
		return 0, err
	}
	drop := func() { f.Close(); os.Remove(f.Name()) }
	sum := md5.New()
	n, err := io.CopyN(io.MultiWriter(f, sum, whole), r, size)
	if err != nil && err != io.EOF {
		drop()
		u.mem.Release(weight)
		if werr := u.ctx.Err(); werr == nil {
			u.fail(fmt.Errorf("part %d: reading the stream into %s: %w", num, f.Name(), err))
		}
		return n, err
	}
	if n == 0 {
		drop()
		u.mem.Release(weight)
		return 0, nil
	}
	digest := sum.Sum(nil)
	u.wg.Go(func() {
		defer u.mem.Release(weight)
		defer drop()
		u.uploadPart(num, func() io.ReadSeeker { return io.NewSectionReader(f, 0, n) }, n, digest)
	})
	return n, nil
}

// buffer is a part buffer of the given size, a reused one when it has the
// first size.
func (u *upload) buffer(size int64) []byte {
	if size == u.s.opts.PartSize {
		select {
		case b := <-u.free:
			return b[:size]
		default:
		}
	}
	return make([]byte, size)
}

// recycle keeps a first-size buffer for the next part.
func (u *upload) recycle(b []byte) {
	if int64(cap(b)) != u.s.opts.PartSize {
		return
	}
	select {
	case u.free <- b[:cap(b)]:
	default:
	}
}

func (u *upload) stopped(err error) error {
	if first := u.firstErr(); first != nil {
		return first
	}
	if c := context.Cause(u.ctx); c != nil {
		return c
	}
	return err
}

// dispatch uploads part number num in the background; its buffer's weight
// is released when it is done.
func (u *upload) dispatch(num int, data []byte, weight int64) {
	u.wg.Go(func() {
		defer u.mem.Release(weight) // after the recycle: memory stays within the budget
		defer u.recycle(data)
		sum := md5.Sum(data)
		u.uploadPart(num, func() io.ReadSeeker { return bytes.NewReader(data) }, int64(len(data)), sum[:])
	})
}

// uploadPart sends part number num (body gives a fresh reader of its bytes
// for each attempt) with its Content-MD5, retried, and records its ETag.
func (u *upload) uploadPart(num int, body func() io.ReadSeeker, size int64, digest []byte) {
	select {
	case u.slots <- struct{}{}:
		defer func() { <-u.slots }()
	case <-u.ctx.Done():
		return
	}
	b64, hexSum := base64.StdEncoding.EncodeToString(digest), hex.EncodeToString(digest)
	var etag string
	err := u.s.opts.Retry.Do(u.ctx, fmt.Sprintf("upload part %d of %s", num, u.key), partRetryable, func(int) error {
		out, err := u.s.client.UploadPart(u.ctx, &awss3.UploadPartInput{
			Bucket: &u.s.bucket, Key: &u.key, UploadId: &u.id, PartNumber: aws.Int32(int32(num)),
			Body: body(), ContentLength: aws.Int64(size), ContentMD5: &b64,
		}, unsignedPayload)
		if err != nil {
			return u.s.wrap(err)
		}
		etag = aws.ToString(out.ETag)
		return checkETag(etag, hexSum)
	})
	if err != nil {
		if u.ctx.Err() == nil {
			u.fail(fmt.Errorf("part %d: %w", num, err))
		}
		return
	}
	u.mu.Lock()
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(int32(num)), ETag: aws.String(etag)})
	u.mu.Unlock()
}

// complete makes the object visible. A retried Complete that finds the
// upload gone (the first one succeeded, its answer was lost) checks that
// the object is there with the right number of parts.
func (u *upload) complete() error {
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	in := &awss3.CompleteMultipartUploadInput{Bucket: &u.s.bucket, Key: &u.key, UploadId: &u.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts}}
	err := u.s.opts.Retry.Do(u.ctx, "complete upload of "+u.key, retry.IsTransient, func(attempt int) error {
		_, err := u.s.client.CompleteMultipartUpload(u.ctx, in)
		err = u.s.wrap(err)
		if attempt > 1 && retry.HTTPStatus(err) == http.StatusNotFound {
			if done := u.completedMeanwhile(); done {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("completing the multipart upload: %w", err)
	}
	return nil
}

func (u *upload) completedMeanwhile() bool {
	out, err := u.s.client.HeadObject(u.ctx, &awss3.HeadObjectInput{Bucket: &u.s.bucket, Key: &u.key})
	return err == nil && strings.HasSuffix(strings.Trim(aws.ToString(out.ETag), `"`), fmt.Sprintf("-%d", len(u.parts)))
}
