package backup

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// codec compresses one independent frame: zstd frames and gzip members
// concatenate into a valid stream, so parts compressed in parallel can be
// written one after the other.
type codec interface {
	// compress appends the compressed form of src to dst.
	compress(dst, src []byte) ([]byte, error)
	close()
}

func newCodec(name string, level, concurrency int) (codec, error) {
	switch name {
	case "", "zstd":
		// Default: zstd level 1 ("fastest"): SQL dumps compress almost as
		// well as at level 3 and the dumper is not held back by it.
		lvl := zstd.SpeedFastest
		if level > 0 {
			lvl = zstd.EncoderLevelFromZstd(level)
		}
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(max(concurrency, 1)),
			zstd.WithEncoderCRC(true), zstd.WithWindowSize(4<<20), zstd.WithZeroFrames(true))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
		return zstdCodec{enc}, nil
	case "gzip":
		lvl := gzip.DefaultCompression
		if level > 0 {
			lvl = level
		}
		if _, err := gzip.NewWriterLevel(io.Discard, lvl); err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		return &gzipCodec{pool: sync.Pool{New: func() any {
			w, _ := gzip.NewWriterLevel(io.Discard, lvl)
			return w
		}}}, nil
	case "none":
		return noneCodec{}, nil
	default:
		return nil, fmt.Errorf("compression %q: expected zstd, gzip or none", name)
	}
}

type zstdCodec struct{ enc *zstd.Encoder }

func (z zstdCodec) compress(dst, src []byte) ([]byte, error) { return z.enc.EncodeAll(src, dst), nil }
func (z zstdCodec) close()                                   { z.enc.Close() }

type gzipCodec struct{ pool sync.Pool }

func (g *gzipCodec) compress(dst, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w := g.pool.Get().(*gzip.Writer)
	defer g.pool.Put(w)
	w.Reset(buf)
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
func (g *gzipCodec) close() {}

type noneCodec struct{}

func (noneCodec) compress(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
func (noneCodec) close()                                   {}

// Magic bytes of the compressed formats.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// decompressReader detects zstd, gzip or plain SQL by the first bytes of r.
// The returned close function releases decoder resources.
func decompressReader(r io.Reader) (io.Reader, string, func(), error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, "", nil, err
	}
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		dec, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(false), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, "", nil, fmt.Errorf("zstd: %w", err)
		}
		return dec, "zstd", dec.Close, nil
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, "gzip", func() { zr.Close() }, nil
	default:
		return br, "none", func() {}, nil
	}
}
