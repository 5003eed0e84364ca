package swift

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ncw/swift/v2"
	"golang.org/x/sync/semaphore"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
)

// baseSegmentSize is the first segment size of a Put: the configured size,
// raised so that an object of the expected size needs at most half the
// server's max_manifest_segments (leaving room for the growth below when
// the hint is too low).
func (s *Store) baseSegmentSize(ctx context.Context) int64 {
	size := s.opts.SegmentSize
	expected := s.opts.ExpectedSize
	if v, ok := ctx.Value(expectedSizeKey{}).(int64); ok {
		expected = v
	}
	if half := int64(s.limits.MaxManifestSegments / 2); expected > 0 && half > 0 {
		if need := (expected + half - 1) / half; need > size {
			const mib = 1 << 20
			if need > mib {
				need = (need + mib - 1) / mib * mib
			}
			size = need
		}
	}
	return s.clampSegment(size)
}

// segmentSizeAt implements the growth for streams longer than expected:
// segment idx of at most limit is base × 2^k, where k grows by one each time
// the remaining segment count halves (at limit/2, 3/4, 7/8, …), capped at
// the server's max_file_size. A 1000-segment limit so holds about 5000 base
// segments worth of data instead of 1000.
func segmentSizeAt(base, maxSize int64, limit, idx int) int64 {
	remaining := limit - idx
	size := base
	for k := 1; remaining > 0 && limit>>k >= remaining && size < maxSize; k++ {
		size *= 2
	}
	return min(size, maxSize)
}

// maxObjectSize is the largest stream a Put accepts with the given first
// segment size under the server's limits.
func (s *Store) maxObjectSize(base int64) int64 {
	var total int64
	for i := 0; i < s.limits.MaxManifestSegments; i++ {
		total += segmentSizeAt(base, s.limits.MaxFileSize, s.limits.MaxManifestSegments, i)
	}
	return total
}

// swiftUpload is the state of one Put of a large object.
type swiftUpload struct {
	s      *Store
	name   string
	uid    string
	ctx    context.Context
	cancel context.CancelCauseFunc
	sem    *semaphore.Weighted // memory: buffers filling, waiting or uploading
	budget int64
	slots  chan struct{} // uploads in flight
	wg     sync.WaitGroup

	mu         sync.Mutex
	free       map[int64][]*[]byte // buffer pool of this upload, by size
	allocated  int                 // buffers made
	err        error               // the first failure
	segs       []storage.Segment   // by index
	etags      []string
	dispatched []string // segment object names sent (or being sent)
	cut        bool     // an upload was cancelled mid-request

	// Reading state, touched by Put's goroutine only.
	first *swiftChunk // segment 0, held until we know there is more
	total int64
	whole hash.Hash // SHA-256 of the whole stream
	grown bool      // the segment size was raised (logged once)
}

type swiftChunk struct {
	buf    *[]byte
	n      int
	weight int64
}

func (u *swiftUpload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel(err)
}

func (u *swiftUpload) firstErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// acquire reserves memory for a segment buffer of the given size. The
// budget is (Concurrency+1) × the first segment size; a segment larger than
// the whole budget (after growth) takes all of it.
func (u *swiftUpload) acquire(size int64) (*swiftChunk, error) {
	w := min(size, u.budget)
	if err := u.sem.Acquire(u.ctx, w); err != nil {
		return nil, err
	}
	u.mu.Lock()
	var b *[]byte
	if l := u.free[size]; len(l) > 0 {
		b, u.free[size] = l[len(l)-1], l[:len(l)-1]
	} else {
		for k := range u.free {
			delete(u.free, k) // the segment size grew: let the smaller buffers go
		}
	}
	u.mu.Unlock()
	if b == nil {
		buf := make([]byte, size)
		b = &buf
		u.mu.Lock()
		u.allocated++
		u.mu.Unlock()
	}
	return &swiftChunk{buf: b, weight: w}, nil
}

// release returns a buffer to the pool: the buffers of an upload are
// reused, so its memory stays within the budget (the pool dies with it).
func (u *swiftUpload) release(c *swiftChunk) {
	u.mu.Lock()
	if u.free == nil {
		u.free = map[int64][]*[]byte{}
	}
	size := int64(cap(*c.buf))
	u.free[size] = append(u.free[size], c.buf)
	u.mu.Unlock()
	u.sem.Release(c.weight)
}

func (u *swiftUpload) segName(idx int) string { return fmt.Sprintf("%s/%s/%08d", u.name, u.uid, idx) }

// dispatch uploads chunk idx in the background.
func (u *swiftUpload) dispatch(c *swiftChunk, idx int) {
	name := u.segName(idx)
	u.mu.Lock()
	u.dispatched = append(u.dispatched, name)
	for len(u.segs) <= idx {
		u.segs = append(u.segs, storage.Segment{})
		u.etags = append(u.etags, "")
	}
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.release(c)
		data := (*c.buf)[:c.n]
		m := md5.Sum(data)
		sh := sha256.Sum256(data)
		md5hex := hex.EncodeToString(m[:])
		select {
		case u.slots <- struct{}{}:
			defer func() { <-u.slots }()
		case <-u.ctx.Done():
			return
		}
		start := time.Now()
		if _, err := u.s.putBytes(u.ctx, u.s.segContainer, name, data, md5hex, nil, nil); err != nil {
			if u.ctx.Err() == nil {
				u.fail(fmt.Errorf("swift: uploading %s: segment %d (%s/%s): %w", u.name, idx, u.s.segContainer, name, err))
			} else {
				u.mu.Lock()
				u.cut = true
				u.mu.Unlock()
			}
			return
		}
		u.s.log.Debug("swift: segment uploaded", "object", u.name, "segment", idx, "bytes", c.n,
			"seconds", time.Since(start).Seconds())
		u.mu.Lock()
		u.segs[idx] = storage.Segment{Name: u.s.segContainer + "/" + name, Size: int64(c.n), SHA256: hex.EncodeToString(sh[:]), MD5: md5hex}
		u.etags[idx] = md5hex
		u.mu.Unlock()
	}()
}

// Put implements storage.Store. See Store for the layout. The memory used is
// at most (Concurrency+1) segments. If the stream, a segment or the context
// fails, the uploads in flight are cancelled, the segments already stored
// are deleted (best effort) and nothing appears under name.
func (s *Store) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	if err := s.checkName(name); err != nil {
		return storage.Object{}, err
	}
	base := s.baseSegmentSize(ctx)
	uctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u := &swiftUpload{s: s, name: name, uid: s.newUploadID(), ctx: uctx, cancel: cancel,
		budget: int64(s.opts.Concurrency+1) * base, slots: make(chan struct{}, s.opts.Concurrency), whole: sha256.New()}
	u.sem = semaphore.NewWeighted(u.budget)
	if err := u.readAll(storage.ContextReader(uctx, r), base); err != nil {
		return u.abort(ctx, err)
	}
	sum := hex.EncodeToString(u.whole.Sum(nil))
	if u.first != nil || u.total == 0 {
		// The whole stream fits in one segment: a single verified PUT.
		var data []byte
		if u.first != nil {
			data = (*u.first.buf)[:u.first.n]
			defer u.release(u.first)
		}
		return s.putSingle(ctx, name, data, sum)
	}
	u.wg.Wait()
	if err := u.firstErr(); err != nil {
		s.cleanupUpload(ctx, u)
		return storage.Object{}, err
	}
	if uctx.Err() != nil {
		return u.abort(ctx, u.ctxErr())
	}
	return s.putManifest(ctx, u, u.total, sum)
}

// abort fails the upload with err (unless it failed before), waits for the
// segments in flight and deletes what was stored.
func (u *swiftUpload) abort(ctx context.Context, err error) (storage.Object, error) {
	u.fail(err)
	u.wg.Wait()
	if u.first != nil {
		u.release(u.first)
	}
	u.s.cleanupUpload(ctx, u)
	return storage.Object{}, u.firstErr()
}

// ctxErr is the error of an upload whose context ended.
func (u *swiftUpload) ctxErr() error {
	if e := u.firstErr(); e != nil {
		return e
	}
	return fmt.Errorf("swift: uploading %s: %w", u.name, context.Cause(u.ctx))
}

// readAll reads the stream into segments and dispatches them; segment 0 is
// held in u.first until more data shows that the object is large.
func (u *swiftUpload) readAll(rd io.Reader, base int64) error {
	limit := u.s.limits.MaxManifestSegments
	for idx := 0; ; idx++ {
		if idx == limit {
			return u.checkEnd(rd, base, limit)
		}
		size := base
		if idx > 0 {
			size = segmentSizeAt(base, u.s.limits.MaxFileSize, limit, idx)
			if size > base && !u.grown {
				u.grown = true
				u.s.log.Warn("swift: object larger than expected, growing the segment size", "object", u.name,
					"segment", idx, "max_manifest_segments", limit, "segment_size", size)
			}
		}
		eof, err := u.readSegment(rd, idx, size, base)
		if err != nil || eof {
			return err
		}
	}
}

// checkEnd is called when the manifest is full: the stream must end here.
func (u *swiftUpload) checkEnd(rd io.Reader, base int64, limit int) error {
	var one [1]byte
	if n, err := io.ReadAtLeast(rd, one[:], 1); n > 0 {
		return fmt.Errorf("swift: uploading %s: the object exceeds %d bytes, the most %d segments of at first %d bytes can hold; raise segment_size or give an expected size",
			u.name, u.s.maxObjectSize(base), limit, base)
	} else if err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("swift: uploading %s: reading the stream: %w", u.name, err)
	}
	return nil
}

// readSegment fills segment idx (of at most size bytes) from the stream and
// dispatches it; eof reports the end of the stream.
func (u *swiftUpload) readSegment(rd io.Reader, idx int, size, base int64) (eof bool, err error) {
	c, err := u.acquire(size)
	if err != nil {
		return false, u.ctxErr()
	}
	buf := (*c.buf)[:size]
	n, err := io.ReadAtLeast(rd, buf, 1)
	if n > 0 && err == nil && u.first != nil {
		// More data after segment 0: this is a large object.
		if !u.s.limits.SLO {
			u.release(c)
			return false, fmt.Errorf("swift: uploading %s: the stream is larger than segment_size (%d bytes) but the server does not support Static Large Objects", u.name, base)
		}
		u.dispatch(u.first, 0)
		u.first = nil
	}
	if err == nil && n < len(buf) {
		var m int
		m, err = io.ReadFull(rd, buf[n:])
		n += m
	}
	eof = err == io.EOF || err == io.ErrUnexpectedEOF
	if err != nil && !eof {
		u.release(c)
		if u.ctx.Err() != nil {
			return false, u.ctxErr()
		}
		return false, fmt.Errorf("swift: uploading %s: reading the stream: %w", u.name, err)
	}
	c.n = n
	u.whole.Write(buf[:n])
	u.total += int64(n)
	switch {
	case n == 0:
		u.release(c)
	case idx == 0:
		u.first = c
	default:
		u.dispatch(c, idx)
	}
	return eof, nil
}

const metaSHA256 = "X-Object-Meta-Ops-Sha256"

func (s *Store) putSingle(ctx context.Context, name string, data []byte, sum string) (storage.Object, error) {
	old := s.oldSegments(ctx, name)
	m := md5.Sum(data)
	h, err := s.putBytes(ctx, s.container, name, data, hex.EncodeToString(m[:]), nil, swift.Headers{metaSHA256: sum})
	if err != nil {
		return storage.Object{}, fmt.Errorf("swift: uploading %s: %w", name, err)
	}
	s.deleteReplaced(ctx, name, old)
	return storage.Object{Name: name, Size: int64(len(data)), Modified: swiftLastModified(h), SHA256: sum}, nil
}

// sloEntry is one segment of a manifest PUT.
type sloEntry struct {
	Path string `json:"path"`
	Etag string `json:"etag"`
	Size int64  `json:"size_bytes"`
}

func (s *Store) putManifest(ctx context.Context, u *swiftUpload, total int64, sum string) (storage.Object, error) {
	entries := make([]sloEntry, len(u.segs))
	for i, seg := range u.segs {
		if seg.Name == "" {
			s.cleanupUpload(ctx, u)
			return storage.Object{}, fmt.Errorf("swift: uploading %s: segment %d missing (internal error)", u.name, i)
		}
		entries[i] = sloEntry{Path: seg.Name, Etag: seg.MD5, Size: seg.Size}
	}
	body, _ := json.Marshal(entries)
	old := s.oldSegments(ctx, u.name)
	// The SLO middleware checks every segment's size and ETag before it
	// stores the manifest.
	h, err := s.putBytes(ctx, s.container, u.name, body, "", url.Values{"multipart-manifest": {"put"}},
		swift.Headers{metaSHA256: sum})
	if err != nil {
		s.cleanupUpload(ctx, u)
		return storage.Object{}, fmt.Errorf("swift: uploading %s: manifest of %d segments: %w", u.name, len(entries), err)
	}
	s.deleteReplaced(ctx, u.name, old)
	s.log.Debug("swift: static large object stored", "object", u.name, "bytes", total, "segments", len(entries),
		"buffers", u.allocated)
	return storage.Object{Name: u.name, Size: total, Modified: swiftLastModified(h), SHA256: sum, Segments: u.segs}, nil
}

func swiftLastModified(h swift.Headers) time.Time {
	if t, err := http.ParseTime(h["Last-Modified"]); err == nil {
		return t
	}
	return time.Now().UTC().Truncate(time.Second)
}

// swiftCleanupCtx outlives a cancelled Put so that cleanup still runs.
func swiftCleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// cleanupUpload deletes the segments of a failed upload: those sent and
// whatever the listing shows under the upload's prefix (a segment whose
// response was lost may still have been stored). Best effort: what is left
// is found by storage.Orphans.
func (s *Store) cleanupUpload(ctx context.Context, u *swiftUpload) {
	cctx, cancel := swiftCleanupCtx(ctx)
	defer cancel()
	u.mu.Lock()
	names := append([]string(nil), u.dispatched...)
	cut := u.cut
	u.mu.Unlock()
	prefix := u.name + "/" + u.uid + "/"
	deleted := 0
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			// A PUT cancelled after its body was sent may still land on the
			// server after the first pass: look once more.
			if !cut || retry.Sleep(cctx, s.cleanupSettle) != nil {
				break
			}
			names = nil
		}
		if listed, err := s.listNames(cctx, s.segContainer, prefix); err == nil {
			names = append(names, listed...)
		}
		names = swiftDedupe(names)
		if len(names) == 0 {
			continue
		}
		if err := s.deleteMany(cctx, s.segContainer, names); err != nil {
			s.log.Warn("swift: could not delete the segments of a failed upload; `ops backup prune` removes them later",
				"object", u.name, "upload", u.uid, "err", s.scrub(err))
			return
		}
		deleted += len(names)
	}
	if deleted > 0 {
		s.log.Info("swift: deleted the segments of a failed upload", "object", u.name, "upload", u.uid)
	}
}
