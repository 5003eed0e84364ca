package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
)

// Open implements storage.Store: a streaming GET. The reader checks the
// length and, for a single-PUT object, the MD5 of its ETag, and fails at
// the end of the stream on a mismatch. It is storage.Resumable: after a
// broken connection, Resume asks for the rest of the same object.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &s.bucket, Key: &name})
	if err = s.wrap(err); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("s3: opening %s: %w (%w)", name, storage.ErrNotExist, err)
		}
		return nil, fmt.Errorf("s3: opening %s: %w", name, err)
	}
	v := &verifyReader{s: s, name: name, length: aws.ToInt64(out.ContentLength), etag: aws.ToString(out.ETag),
		modified: aws.ToTime(out.LastModified)}
	v.rc = newIdleReader(out.Body, s.opts.Timeout)
	if et := strings.ToLower(strings.Trim(v.etag, `"`)); len(et) == 32 && isHex(et) {
		v.md5, v.wantMD5 = md5.New(), et // a multipart ETag ("…-N") is not an MD5 of the bytes
	}
	return v, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

type verifyReader struct {
	s         *Store
	rc        io.ReadCloser
	name      string
	length, n int64
	md5       hash.Hash
	wantMD5   string
	etag      string    // of the first response: a resumed read must find the same
	modified  time.Time // idem
	done      bool
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.n += int64(n)
	if v.md5 != nil {
		v.md5.Write(p[:n])
	}
	if err == io.EOF && !v.done {
		v.done = true
		switch {
		case v.n < v.length: // cut short: resumable
			return n, fmt.Errorf("s3: reading %s: got %d bytes, expected %d: %w", v.name, v.n, v.length, io.ErrUnexpectedEOF)
		case v.n > v.length:
			return n, fmt.Errorf("s3: reading %s: got %d bytes, expected %d: corrupted download", v.name, v.n, v.length)
		case v.md5 != nil && hex.EncodeToString(v.md5.Sum(nil)) != v.wantMD5:
			return n, fmt.Errorf("s3: reading %s: MD5 differs from the object's ETag: corrupted download", v.name)
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.rc.Close() }

// Resume implements storage.Resumable: a GET of the rest of the object,
// "Range: bytes=N-" from the byte reached, with "If-Match" on the ETag the
// read began with (412: the object was replaced). The answer's ETag and
// Last-Modified are compared again, and its Content-Range must start at N.
// A replaced or deleted object fails with storage.ErrChanged.
func (v *verifyReader) Resume(ctx context.Context) error {
	_ = v.rc.Close()
	v.rc, v.done = io.NopCloser(errReader{fmt.Errorf("s3: reading %s: %w", v.name, io.ErrUnexpectedEOF)}), false
	if v.n >= v.length {
		v.rc = io.NopCloser(strings.NewReader("")) // all there: only the end was missed
		return nil
	}
	at := v.n
	in := &awss3.GetObjectInput{Bucket: &v.s.bucket, Key: &v.name, Range: aws.String(fmt.Sprintf("bytes=%d-", at))}
	if v.etag != "" {
		in.IfMatch = aws.String(v.etag)
	}
	out, err := v.s.client.GetObject(ctx, in)
	err = v.s.wrap(err)
	switch code := retry.HTTPStatus(err); {
	case code == http.StatusPreconditionFailed:
		return fmt.Errorf("s3: resuming %s at byte %d: the object was replaced since the read began (ETag %s no longer matches): %w", v.name, at, v.etag, storage.ErrChanged)
	case code == http.StatusNotFound:
		return fmt.Errorf("s3: resuming %s at byte %d: the object was deleted since the read began: %w", v.name, at, storage.ErrChanged)
	case err != nil:
		return fmt.Errorf("s3: resuming %s at byte %d: %w", v.name, at, err)
	}
	et, mod := aws.ToString(out.ETag), aws.ToTime(out.LastModified)
	if et != v.etag || !mod.Equal(v.modified) {
		_ = out.Body.Close()
		return fmt.Errorf("s3: resuming %s at byte %d: the object was replaced since the read began (ETag %s, Last-Modified %s; now %s, %s): %w",
			v.name, at, v.etag, v.modified.Format(time.RFC3339), et, mod.Format(time.RFC3339), storage.ErrChanged)
	}
	var first, last, total int64
	cr := aws.ToString(out.ContentRange)
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &total); err != nil || first != at || total != v.length || last != total-1 {
		_ = out.Body.Close()
		return fmt.Errorf("s3: resuming %s at byte %d: the server answered Content-Range %q, expected bytes %d-%d/%d", v.name, at, cr, at, v.length-1, v.length)
	}
	v.rc = newIdleReader(out.Body, v.s.opts.Timeout)
	v.s.log.Info("s3: download resumed", "object", v.name, "at_byte", at)
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// idleReader fails a read that waits longer than timeout for a byte (a
// connection left open by a server that stopped sending): the body is
// closed and the read fails with a timeout, which the retry policy treats
// as transient (the read is resumed).
type idleReader struct {
	rc      io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	mu      sync.Mutex
	stalled bool
}

func newIdleReader(rc io.ReadCloser, timeout time.Duration) *idleReader {
	r := &idleReader{rc: rc, timeout: timeout}
	r.timer = time.AfterFunc(timeout, func() {
		r.mu.Lock()
		r.stalled = true
		r.mu.Unlock()
		_ = rc.Close()
	})
	r.timer.Stop() // runs only while a Read waits
	return r
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.timer.Reset(r.timeout)
	n, err := r.rc.Read(p)
	r.timer.Stop()
	r.mu.Lock()
	stalled := r.stalled
	r.mu.Unlock()
	if stalled && err != nil && err != io.EOF {
		err = stallError{r.timeout}
	}
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	return r.rc.Close()
}

type stallError struct{ d time.Duration }

func (e stallError) Error() string   { return fmt.Sprintf("no data for %s: transfer stalled", e.d) }
func (e stallError) Timeout() bool   { return true }
func (e stallError) Temporary() bool { return true }
