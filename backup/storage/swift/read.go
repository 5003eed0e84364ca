package swift

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/ncw/swift/v2"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
)

// Open implements Store: a streaming GET (an SLO GET returns the
// concatenation of its segments). The reader checks the length, the MD5 of
// a plain object and the SHA-256 stored at upload, and fails at the end of
// the stream on a mismatch. It is storage.Resumable: after a broken
// connection, Resume asks for the rest of the same object (see Resume), and
// the checks still cover every byte.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, h, err := s.call(ctx, swift.RequestOpts{Container: s.container, ObjectName: name, Operation: "GET"})
	if swiftIsNotFound(err) {
		return nil, fmt.Errorf("swift: opening %s: %w", name, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("swift: opening %s: %w", name, err)
	}
	v := &swiftVerifyReader{s: s, rc: resp.Body, name: name, length: resp.ContentLength,
		etag: resp.Header.Get("Etag"), modified: h["Last-Modified"]} // the ETag as sent (h's has its quotes removed)
	if !h.IsLargeObject() {
		if et := strings.ToLower(strings.Trim(h["Etag"], `"`)); len(et) == 32 {
			v.md5, v.wantMD5 = md5.New(), et
		}
	}
	if sum := h[metaSHA256]; len(sum) == 64 {
		v.sha, v.wantSHA = sha256.New(), strings.ToLower(sum)
	}
	return v, nil
}

type swiftVerifyReader struct {
	s                *Store
	rc               io.ReadCloser
	name             string
	length, n        int64
	md5, sha         hash.Hash
	wantMD5, wantSHA string
	etag, modified   string // of the first response: a resumed read must find the same
	done             bool
}

func (v *swiftVerifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.n += int64(n)
	for _, h := range []hash.Hash{v.md5, v.sha} {
		if h != nil {
			h.Write(p[:n])
		}
	}
	if err == io.EOF && !v.done {
		v.done = true
		switch {
		case v.length >= 0 && v.n < v.length: // cut short: resumable
			return n, fmt.Errorf("swift: reading %s: got %d bytes, expected %d: %w", v.name, v.n, v.length, io.ErrUnexpectedEOF)
		case v.length >= 0 && v.n > v.length:
			return n, fmt.Errorf("swift: reading %s: got %d bytes, expected %d: corrupted download", v.name, v.n, v.length)
		case v.md5 != nil && hex.EncodeToString(v.md5.Sum(nil)) != v.wantMD5:
			return n, fmt.Errorf("swift: reading %s: MD5 differs from the object's ETag: corrupted download", v.name)
		case v.sha != nil && hex.EncodeToString(v.sha.Sum(nil)) != v.wantSHA:
			return n, fmt.Errorf("swift: reading %s: SHA-256 differs from the one stored at upload: corrupted download", v.name)
		}
	}
	return n, err
}

// Resume implements storage.Resumable: it replaces the broken response
// with a GET of the rest of the object, "Range: bytes=N-" from the byte
// reached, with "If-Match" on the ETag the read began with (Swift answers
// 412 when the object was replaced). The answer's ETag and Last-Modified
// are compared again, for a server or proxy that ignores If-Match, and
// its Content-Range must start at N; a server that ignores the Range (200)
// has the bytes already read skipped. A changed object fails with
// storage.ErrChanged. The length and hashes go on over the new bytes.
func (v *swiftVerifyReader) Resume(ctx context.Context) error {
	_ = v.rc.Close()
	v.rc, v.done = io.NopCloser(errReader{fmt.Errorf("swift: reading %s: %w", v.name, io.ErrUnexpectedEOF)}), false
	if v.length >= 0 && v.n >= v.length {
		v.rc = io.NopCloser(strings.NewReader("")) // all there: only the end was missed
		return nil
	}
	at := v.n
	h := swift.Headers{"Range": fmt.Sprintf("bytes=%d-", at)}
	if v.etag != "" {
		h["If-Match"] = v.etag
	}
	resp, rh, err := v.s.call(ctx, swift.RequestOpts{Container: v.s.container, ObjectName: v.name, Operation: "GET", Headers: h})
	switch code := retry.HTTPStatus(err); {
	case code == http.StatusPreconditionFailed:
		return fmt.Errorf("swift: resuming %s at byte %d: the object was replaced since the read began (ETag %s no longer matches): %w", v.name, at, v.etag, storage.ErrChanged)
	case code == http.StatusNotFound:
		return fmt.Errorf("swift: resuming %s at byte %d: the object was deleted since the read began: %w", v.name, at, storage.ErrChanged)
	case err != nil:
		return fmt.Errorf("swift: resuming %s at byte %d: %w", v.name, at, err)
	}
	if err := v.checkResumed(resp, rh, at); err != nil {
		_ = resp.Body.Close()
		return err
	}
	v.rc = resp.Body
	how := "from that byte"
	if resp.StatusCode == http.StatusOK {
		how = "the server ignored the Range: the bytes already read were read again and skipped"
	}
	v.s.log.Info("swift: download resumed", "object", v.name, "at_byte", at, "how", how)
	return nil
}

// checkResumed checks that a resumed response is the rest of the same
// object, and skips the bytes already read when the server sent them all.
func (v *swiftVerifyReader) checkResumed(resp *http.Response, rh swift.Headers, at int64) error {
	et := resp.Header.Get("Etag")
	if same := et == v.etag && rh["Last-Modified"] == v.modified; !same {
		return fmt.Errorf("swift: resuming %s at byte %d: the object was replaced since the read began (ETag %s, Last-Modified %s; now %s, %s): %w",
			v.name, at, v.etag, v.modified, et, rh["Last-Modified"], storage.ErrChanged)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		var first, last, total int64
		cr := rh["Content-Range"]
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &total); err != nil || first != at ||
			(v.length >= 0 && (total != v.length || last != total-1)) {
			return fmt.Errorf("swift: resuming %s at byte %d: the server answered Content-Range %q, expected bytes %d-%d/%d", v.name, at, cr, at, v.length-1, v.length)
		}
	case http.StatusOK: // the Range was ignored: the whole object again
		if v.length >= 0 && resp.ContentLength != v.length {
			return fmt.Errorf("swift: resuming %s: the object is now %d bytes, it was %d: %w", v.name, resp.ContentLength, v.length, storage.ErrChanged)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, at); err != nil {
			return fmt.Errorf("swift: resuming %s: skipping the %d bytes already read: %w", v.name, at, err)
		}
	default:
		return fmt.Errorf("swift: resuming %s at byte %d: unexpected %s", v.name, at, resp.Status)
	}
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (v *swiftVerifyReader) Close() error { return v.rc.Close() }

// List implements Store: a paged listing of the container.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	objs, err := s.listObjects(ctx, s.container, prefix)
	if err != nil {
		return nil, fmt.Errorf("swift: listing %s: %w", s.container, err)
	}
	out := make([]storage.Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, storage.Object{Name: o.Name, Size: o.Bytes, Modified: o.LastModified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Store) listObjects(ctx context.Context, container, prefix string) ([]swift.Object, error) {
	var out []swift.Object
	err := s.conn.ObjectsWalk(ctx, container, &swift.ObjectsOpts{Prefix: prefix, Limit: 1000},
		func(ctx context.Context, opts *swift.ObjectsOpts) (any, error) {
			objs, err := s.conn.Objects(ctx, container, opts)
			for _, o := range objs {
				if !o.PseudoDirectory {
					out = append(out, o)
				}
			}
			return objs, err
		})
	if errors.Is(err, swift.ContainerNotFound) {
		return nil, nil
	}
	return out, s.scrub(err)
}

func (s *Store) listNames(ctx context.Context, container, prefix string) ([]string, error) {
	objs, err := s.listObjects(ctx, container, prefix)
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
	}
	return names, err
}
