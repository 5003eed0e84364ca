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
	"sort"
	"strings"

	"github.com/ncw/swift/v2"

	"github.com/opsteam/ops/backup/storage"
)

// Open implements Store: a streaming GET (an SLO GET returns the
// concatenation of its segments). The reader checks the length, the MD5 of
// a plain object and the SHA-256 stored at upload, and fails at the end of
// the stream on a mismatch.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, h, err := s.call(ctx, swift.RequestOpts{Container: s.container, ObjectName: name, Operation: "GET"})
	if swiftIsNotFound(err) {
		return nil, fmt.Errorf("swift: opening %s: %w", name, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("swift: opening %s: %w", name, err)
	}
	v := &swiftVerifyReader{rc: resp.Body, name: name, length: resp.ContentLength}
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
	rc               io.ReadCloser
	name             string
	length, n        int64
	md5, sha         hash.Hash
	wantMD5, wantSHA string
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
		case v.length >= 0 && v.n != v.length:
			return n, fmt.Errorf("swift: reading %s: got %d bytes, expected %d: %w", v.name, v.n, v.length, io.ErrUnexpectedEOF)
		case v.md5 != nil && hex.EncodeToString(v.md5.Sum(nil)) != v.wantMD5:
			return n, fmt.Errorf("swift: reading %s: MD5 differs from the object's ETag: corrupted download", v.name)
		case v.sha != nil && hex.EncodeToString(v.sha.Sum(nil)) != v.wantSHA:
			return n, fmt.Errorf("swift: reading %s: SHA-256 differs from the one stored at upload: corrupted download", v.name)
		}
	}
	return n, err
}

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
