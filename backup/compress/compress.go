package compress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Method is a compression format of a dump stream. Its string form is the
// config and manifest value ("zstd", "gzip", "none").
type Method string

// The supported methods. The zero value means the default, Zstd.
const (
	Zstd Method = "zstd"
	Gzip Method = "gzip"
	None Method = "none"
)

// Default is the method used when none is configured.
const Default = Zstd

// format is everything ops knows about one method, in one place.
type format struct {
	suffix   string // object-name suffix after ".sql"
	magic    []byte // first bytes of a stream ("" = anything else)
	maxLevel int    // highest compression_level (0 = the codec's default)
	newCodec func(level, concurrency int) (Codec, error)
	reader   func(r io.Reader) (io.Reader, func(), error)
}

var formats = map[Method]format{
	Zstd: {suffix: ".zst", magic: []byte{0x28, 0xb5, 0x2f, 0xfd}, maxLevel: 22, newCodec: newZstd, reader: zstdReader},
	Gzip: {suffix: ".gz", magic: []byte{0x1f, 0x8b}, maxLevel: 9, newCodec: newGzip, reader: gzipReader},
	None: {maxLevel: 22, newCodec: func(int, int) (Codec, error) { return noneCodec{}, nil },
		reader: func(r io.Reader) (io.Reader, func(), error) { return r, func() {}, nil }},
}

// order is the order methods are listed in messages.
var order = []Method{Zstd, Gzip, None}

// Parse returns the method named s (a config or manifest value).
func Parse(s string) (Method, error) {
	m := Method(s)
	if _, ok := formats[m]; !ok {
		return "", fmt.Errorf("%q: expected zstd, gzip or none", s)
	}
	return m, nil
}

// OrDefault returns m, or Default when m is empty.
func (m Method) OrDefault() Method {
	if m == "" {
		return Default
	}
	return m
}

// Suffix is what follows ".sql" in a stream object's name: ".zst", ".gz"
// or "" for an uncompressed stream.
func (m Method) Suffix() string { return formats[m.OrDefault()].suffix }

// CheckLevel validates a compression level for m: 0 is the codec's
// default, otherwise 1 to the method's maximum.
func (m Method) CheckLevel(level int) error {
	f := formats[m.OrDefault()]
	if level < 0 || level > 22 {
		return fmt.Errorf("%d is out of range: expected 0 (default) to 22 for zstd, 1 to 9 for gzip", level)
	}
	if m.OrDefault() != Zstd && level > f.maxLevel {
		return fmt.Errorf("%d is out of range for %s: expected 0 (default) to %d", level, m, f.maxLevel)
	}
	return nil
}

// Codec compresses independent frames: zstd frames and gzip members
// concatenate into a valid stream, so parts compressed in parallel can be
// written one after the other.
type Codec interface {
	// Compress appends the compressed form of src to dst.
	Compress(dst, src []byte) ([]byte, error)
	// Close releases the codec's resources.
	Close()
}

// NewCodec returns a frame codec for m at the given level (0 = default)
// using up to concurrency goroutines.
func (m Method) NewCodec(level, concurrency int) (Codec, error) {
	f, ok := formats[m.OrDefault()]
	if !ok {
		return nil, fmt.Errorf("compression %q: expected zstd, gzip or none", string(m))
	}
	return f.newCodec(level, concurrency)
}

func newZstd(level, concurrency int) (Codec, error) {
	// Default: zstd level 1 ("fastest"): SQL dumps compress almost as well
	// as at level 3 and the dumper is not held back by it.
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
}

func newGzip(level, _ int) (Codec, error) {
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
}

type zstdCodec struct{ enc *zstd.Encoder }

func (z zstdCodec) Compress(dst, src []byte) ([]byte, error) { return z.enc.EncodeAll(src, dst), nil }
func (z zstdCodec) Close()                                   { z.enc.Close() }

type gzipCodec struct{ pool sync.Pool }

func (g *gzipCodec) Compress(dst, src []byte) ([]byte, error) {
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
func (g *gzipCodec) Close() {}

type noneCodec struct{}

func (noneCodec) Compress(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
func (noneCodec) Close()                                   {}

// zstdReader decodes in the reader's goroutine (concurrency 1): a restore
// reads far less than one core decodes, and on the cores it shares with
// the server the handing of blocks between goroutines cost more system
// time than it saved.
func zstdReader(r io.Reader) (io.Reader, func(), error) {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false), zstd.WithDecoderMaxWindow(1<<30))
	if err != nil {
		return nil, nil, fmt.Errorf("zstd: %w", err)
	}
	return dec, dec.Close, nil
}

func gzipReader(r io.Reader) (io.Reader, func(), error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("gzip: %w", err)
	}
	return zr, func() { zr.Close() }, nil
}

// Detect returns the method whose magic bytes start head (None when no
// compressed format's do).
func Detect(head []byte) Method {
	for _, m := range order {
		if f := formats[m]; len(f.magic) > 0 && bytes.HasPrefix(head, f.magic) {
			return m
		}
	}
	return None
}

// NewReader detects zstd, gzip or plain data by the first bytes of r and
// returns a decompressing reader, the method found, and a function that
// releases decoder resources.
func NewReader(r io.Reader) (io.Reader, Method, func(), error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, "", nil, err
	}
	m := Detect(head)
	dr, closeFn, err := formats[m].reader(br)
	if err != nil {
		return nil, "", nil, err
	}
	return dr, m, closeFn, nil
}
