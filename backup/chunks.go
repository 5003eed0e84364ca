package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/catalog"
	"hash"
	"io"
)

// ChunkSize is the size of the pieces of a stored object whose SHA-256 the
// manifest lists (the last piece may be shorter).
//
// Why 4 MiB of the stored bytes, and not age's 64 KiB chunks: the list is
// over what the store holds, so it is the same for plain, compressed and
// encrypted streams and for segmented objects, and it needs no knowledge
// of age's framing. A restore holds one chunk in memory at a time; a
// 100 GiB object lists 25 600 hashes (about 1.7 MB of manifest), where
// 64 KiB chunks would list 1.6 million.
const ChunkSize = 4 << 20

// chunkHasher hashes every size bytes of what goes through it (it is fed by
// a TeeReader over what the store's Put reads, i.e. the stored bytes).
type chunkHasher struct {
	size   int64
	h      hash.Hash
	n      int64 // bytes in the current chunk
	total  int64
	hashes []string
}

func newChunkHasher(size int64) *chunkHasher {
	return &chunkHasher{size: size, h: sha256.New()}
}

func (c *chunkHasher) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := int(min(int64(len(p)), c.size-c.n))
		c.h.Write(p[:k])
		c.n += int64(k)
		c.total += int64(k)
		p = p[k:]
		if c.n == c.size {
			c.cut()
		}
	}
	return total, nil
}

func (c *chunkHasher) cut() {
	c.hashes = append(c.hashes, hex.EncodeToString(c.h.Sum(nil)))
	c.h.Reset()
	c.n = 0
}

// list ends the last chunk and returns the list; storedSize is what the
// store says it stored, which must be what went through the hasher.
func (c *chunkHasher) list(storedSize int64) (*catalog.ChunkHashes, error) {
	if c.n > 0 {
		c.cut()
	}
	if c.total != storedSize {
		return nil, fmt.Errorf("the store reports %d bytes stored, %d were hashed", storedSize, c.total)
	}
	return &catalog.ChunkHashes{Size: c.size, SHA256: c.hashes}, nil
}

// ErrChunkMismatch is matched by the error of a stored chunk whose SHA-256
// differs from the manifest's, or of an object with more or fewer chunks.
var ErrChunkMismatch = errors.New("stored chunk does not match the manifest")

// verifiedReader reads a stored object one chunk at a time into memory,
// checks the chunk's SHA-256 against the manifest and only then releases
// its bytes to the reader (age → decompress → SQL): no byte of a chunk
// that does not match is ever returned. It holds one chunk.
type verifiedReader struct {
	src    io.Reader
	want   *catalog.ChunkHashes
	buf    []byte
	cur    []byte // verified bytes not yet returned
	i      int    // next chunk to read
	err    error  // sticky
	served int64
}

func newVerifiedReader(src io.Reader, want *catalog.ChunkHashes) *verifiedReader {
	return &verifiedReader{src: src, want: want, buf: make([]byte, want.Size)}
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	if len(v.cur) == 0 {
		if v.err != nil {
			return 0, v.err
		}
		if err := v.next(); err != nil {
			v.err = err
			return 0, err
		}
	}
	n := copy(p, v.cur)
	v.cur = v.cur[n:]
	v.served += int64(n)
	return n, nil
}

// next reads and checks chunk i; io.EOF after the last one.
func (v *verifiedReader) next() error {
	n, err := io.ReadFull(v.src, v.buf)
	switch {
	case errors.Is(err, io.EOF): // nothing more
		if v.i != len(v.want.SHA256) {
			return fmt.Errorf("the stored object ends after %d of the manifest's %d chunks (truncated): %w", v.i, len(v.want.SHA256), ErrChunkMismatch)
		}
		return io.EOF
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("reading chunk %d of the stored object: %w", v.i, err)
	}
	if v.i >= len(v.want.SHA256) {
		return fmt.Errorf("the stored object has more than the manifest's %d chunks: %w", len(v.want.SHA256), ErrChunkMismatch)
	}
	sum := sha256.Sum256(v.buf[:n])
	if got := hex.EncodeToString(sum[:]); got != v.want.SHA256[v.i] {
		return fmt.Errorf("chunk %d of the stored object (bytes %d–%d) has SHA-256 %s, the manifest says %s: nothing of it was used: %w",
			v.i, int64(v.i)*v.want.Size, int64(v.i)*v.want.Size+int64(n), got, v.want.SHA256[v.i], ErrChunkMismatch)
	}
	v.i++
	v.cur = v.buf[:n]
	return nil
}
