package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is what the backup pipeline needs from a storage target. It is kept
// small: the local directory and Swift implement it,
// and decorators (retries, dry runs) wrap it.
type Store interface {
	// Put stores the stream under name. The object becomes visible under
	// name only once it is complete and confirmed (a local rename, a Swift
	// manifest PUT); a failed or interrupted Put leaves nothing under name.
	Put(ctx context.Context, name string, r io.Reader) (Object, error)
	// Open reads an object. Missing objects give an error matching ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the complete objects whose names start with prefix, in
	// name order.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes objects (with their segments); missing ones are not an error.
	Delete(ctx context.Context, names ...string) error
	// String names the store for logs, e.g. "local:/var/backups".
	String() string
}

// Object describes a stored object.
type Object struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"-"`
	// SHA256 of the whole object, hex; set by Put (and by List where the
	// store knows it).
	SHA256 string `json:"sha256,omitempty"`
	// Segments of a large object, in order (empty for a single object).
	Segments []Segment `json:"segments,omitempty"`
}

// Segment is one part of a large object.
type Segment struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	MD5    string `json:"md5,omitempty"`
}

// ErrNotExist is matched (errors.Is) by the error of reading a missing object.
var ErrNotExist = errors.New("object does not exist")

// ErrChanged is matched (errors.Is) by the error of resuming a read whose
// object was replaced since the read began: the bytes already read and the
// rest would not belong together.
var ErrChanged = errors.New("object changed while it was read")

// Resumable is implemented by the readers of stores that can continue a
// read after a failed Read, from the byte the reader reached (an HTTP
// request with a Range), instead of starting over. Resume replaces the
// failed connection; the next Read goes on where the last good one
// stopped. It fails with an error matching ErrChanged when the object is no
// longer the one the read began with. Whatever the reader checks over the
// whole object (a length, a hash) is still checked across resumptions.
type Resumable interface {
	Resume(ctx context.Context) error
}

// Orphans is implemented by stores that can leave parts behind when a
// process is killed mid-upload (temporary files, unreferenced segments).
type Orphans interface {
	// Orphans lists leftover parts under prefix older than the given age.
	Orphans(ctx context.Context, prefix string, olderThan time.Duration) ([]string, error)
	// DeleteOrphans removes what Orphans listed.
	DeleteOrphans(ctx context.Context, names []string) error
}

// ContextReader returns a reader that stops with ctx's error once ctx is
// done, so that a long copy ends promptly on cancellation.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
