package pitr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/sync/errgroup"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/storage"
)

// The archived binary log of a job lives under <prefix><job>/binlog/, one
// directory per binary log file of the server, one chunk per object:
//
//	<prefix><job>/binlog/<binlog file>/<start position, 10 digits>.bin[.zst|.gz][.age]
//	<prefix><job>/binlog/<binlog file>/<start position, 10 digits>.json
//
// A chunk is a valid binary log file (magic, format description, the
// events from the start position on) as `mariadb-binlog`/`mysqlbinlog`
// read it, compressed and encrypted like the job's dumps. Its manifest,
// the .json object, is written last: a chunk without one is partial
// (a killed or failed archiver) and is never part of the chain.

// BinlogDir is the directory of a job's archived binary log, under the job's prefix.
const BinlogDir = "binlog"

// ChunkFormat is the version of the chunk manifest layout.
const ChunkFormat = 1

// ChunkKind is the "kind" of a chunk manifest.
const ChunkKind = "binlog-chunk"

// Why a chunk was closed (ChunkManifest.ClosedBy).
const (
	ClosedByRotate   = "rotate"   // the server's binary log rotated (or the server switched files)
	ClosedByInterval = "interval" // flush_interval elapsed
	ClosedBySize     = "size"     // the chunk reached its size limit
	ClosedByOnce     = "once"     // --once reached the server's position
	ClosedByStop     = "stop"     // the archiver was stopped (SIGTERM/SIGINT)
)

// ChunkManifest describes one stored chunk: where its events are in the
// server's binary log and everything a replay needs to find, read and
// check it.
type ChunkManifest struct {
	Format int              `json:"format"`
	Kind   string           `json:"kind"`
	Tool   catalog.ToolInfo `json:"tool"`
	Job    string           `json:"job"`
	// Server is the server the events were read from.
	Server BinlogServerInfo `json:"server"`

	// Follows is where the archive stood when this chunk began: the Next
	// of the chunk before it when the chain is continuous. It differs from
	// Start only when the server switched files without a rotate event in
	// between (after a restart), as the server said while streaming.
	Follows binlog.BinlogPos `json:"follows"`
	// Start is the position of the chunk's first event in the server's
	// binary log, End the end_log_pos of its last event.
	Start binlog.BinlogPos `json:"start"`
	End   binlog.BinlogPos `json:"end"`
	// Next is where the chain continues: End, or after a rotate event the
	// file it names at its position (4).
	Next binlog.BinlogPos `json:"next"`
	// ClosedBy says why the chunk ended: rotate, interval, size, once, stop.
	ClosedBy string `json:"closed_by"`
	// EndsFile: the chunk's last event ends its binary log file (a rotate
	// or stop event); nothing of that file comes after End.
	EndsFile bool `json:"ends_file,omitempty"`
	// StartGTID is the GTID position before the chunk's first event and
	// EndGTID after its last (gtid_binlog_pos form on MariaDB,
	// gtid_executed on MySQL; empty when not known).
	StartGTID string `json:"start_gtid"`
	EndGTID   string `json:"end_gtid"`
	// FirstEvent and LastEvent are the timestamps of the first and last
	// events (the server's clock, seconds).
	FirstEvent time.Time `json:"first_event"`
	LastEvent  time.Time `json:"last_event"`
	// MaxEvent is the greatest timestamp of the chunk's events (its
	// format description aside: a replay does not stop at one). Timestamps
	// can go backwards (events replayed into the server's binary log by a
	// recovery keep their original time; the clock can step back), so it
	// can be later than LastEvent. Zero in chunks written before it was
	// recorded (ChunkInfo.Newest then falls back to LastEvent).
	MaxEvent time.Time `json:"max_event,omitzero"`
	// Events and Transactions count what the chunk holds (the format
	// description written at its start not included).
	Events       int `json:"events"`
	Transactions int `json:"transactions"`

	// DataOffset is the offset, in the chunk's binary log file, of the
	// event at Start: the event at position P of the server's file is at
	// offset P - Start.Pos + DataOffset of the chunk (for
	// `mariadb-binlog --start-position`). Events keep their original
	// end_log_pos.
	DataOffset int64 `json:"data_offset"`
	// BinlogBytes and BinlogSHA256 describe the chunk's binary log file
	// (decrypted, decompressed).
	BinlogBytes  int64  `json:"binlog_bytes"`
	BinlogSHA256 string `json:"binlog_sha256"`

	Compression      compress.Method     `json:"compression"`
	CompressionLevel int                 `json:"compression_level,omitempty"`
	Encryption       *catalog.Encryption `json:"encryption,omitempty"`
	// Object is the stored object (compressed, then encrypted).
	Object   storage.Object `json:"object"`
	StoredAt time.Time      `json:"stored_at"`
	// MAC authenticates the manifest when the job has a manifest_key_file.
	MAC string `json:"mac,omitempty"`
}

// BinlogServerInfo describes the server a chunk was read from.
type BinlogServerInfo struct {
	Version      string `json:"version"`
	Flavor       string `json:"flavor"`
	ServerID     uint32 `json:"server_id"`
	BinlogFormat string `json:"binlog_format"`
}

// ChunkInfo is one chunk as listed: its manifest when it has a usable one.
type ChunkInfo struct {
	Job      string           `json:"job"`
	File     string           `json:"file"`
	Start    binlog.BinlogPos `json:"start"`
	End      binlog.BinlogPos `json:"end,omitzero"`
	Next     binlog.BinlogPos `json:"next,omitzero"`
	Follows  binlog.BinlogPos `json:"follows,omitzero"`
	Status   string           `json:"status"` // complete, partial, corrupt, untrusted
	Problem  string           `json:"problem,omitempty"`
	Object   string           `json:"object"`
	Manifest string           `json:"manifest"`
	Size     int64            `json:"size"`

	FirstEvent   time.Time `json:"first_event,omitzero"`
	LastEvent    time.Time `json:"last_event,omitzero"`
	MaxEvent     time.Time `json:"max_event,omitzero"`
	StartGTID    string    `json:"start_gtid,omitempty"`
	EndGTID      string    `json:"end_gtid,omitempty"`
	Events       int       `json:"events,omitempty"`
	Transactions int       `json:"transactions,omitempty"`
	ClosedBy     string    `json:"closed_by,omitempty"`

	manifest *ChunkManifest
	objects  []string
	modified time.Time // newest Modified of its objects (for the partial grace)
}

// Newest is the greatest event timestamp of the chunk: MaxEvent, or for a
// chunk written before it was recorded its last event's.
func (c *ChunkInfo) Newest() time.Time {
	if c.MaxEvent.IsZero() {
		return c.LastEvent
	}
	return c.MaxEvent
}

// latest is the latest of ts (zero when all are).
func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// ManifestData is the chunk's manifest (nil unless complete).
func (c *ChunkInfo) ManifestData() *ChunkManifest { return c.manifest }

// Complete reports whether the chunk has a valid, trusted manifest and its data.
func (c *ChunkInfo) Complete() bool { return c.Status == catalog.StatusComplete }

// BinlogPrefix is the object-name prefix of a job's archived binary log.
func BinlogPrefix(prefix, job string) string { return catalog.JobPrefix(prefix, job) + BinlogDir + "/" }

// chunkBase is the object name of a chunk without its suffix.
func chunkBase(binlogPrefix string, start binlog.BinlogPos) string {
	return fmt.Sprintf("%s%s/%010d", binlogPrefix, start.File, start.Pos)
}

// chunkDataSuffix is the data object's suffix for a codec and encryption.
func chunkDataSuffix(m compress.Method, encrypted bool) string {
	s := ".bin" + m.Suffix()
	if encrypted {
		s += ".age"
	}
	return s
}

// checkBinlogFileName refuses a binary log file name that cannot be an
// object-name segment.
func checkBinlogFileName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") {
		return fmt.Errorf("binary log file name %q cannot be stored", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("binary log file name %q has control characters", name)
		}
	}
	return nil
}

// parseChunkName splits an object name below the binlog prefix into the
// chunk's start position and what follows the number (".json", ".bin.zst"…).
func parseChunkName(rest string) (start binlog.BinlogPos, suffix string, ok bool) {
	file, base, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(base, "/") || len(base) < 10 {
		return start, "", false
	}
	n, err := strconv.ParseUint(base[:10], 10, 64)
	if err != nil {
		return start, "", false
	}
	suffix = base[10:]
	if suffix != ".json" && !strings.HasPrefix(suffix, ".bin") {
		return start, "", false
	}
	return binlog.BinlogPos{File: file, Pos: n}, suffix, true
}

// ListBinlogChunks lists a job's chunks in chain order (by start
// position), complete or not. Each manifest is read and checked: a
// manifest that cannot be read is corrupt, one without a valid MAC (when
// the job has a manifest key) untrusted, a data object without a manifest
// partial. Only a failure to reach the store is an error.
func ListBinlogChunks(ctx context.Context, s storage.Store, job backup.Job) ([]*ChunkInfo, error) {
	key, err := job.ManifestKey()
	if err != nil {
		return nil, err
	}
	chunks, err := listChunkObjects(ctx, s, job)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, c := range chunks {
		if c.Manifest == "" {
			continue
		}
		g.Go(func() error { return c.load(gctx, s, key, job.Name) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return chunks, nil
}

// listChunkObjects lists the job's chunk objects, grouped by chunk and in
// chain order, without reading any manifest (every chunk partial).
func listChunkObjects(ctx context.Context, s storage.Store, job backup.Job) ([]*ChunkInfo, error) {
	bp := BinlogPrefix(job.Prefix, job.Name)
	objs, err := s.List(ctx, bp)
	if err != nil {
		return nil, fmt.Errorf("listing the archived binary log of job %s in %s: %w", job.Name, s, err)
	}
	byStart := map[binlog.BinlogPos]*ChunkInfo{}
	for _, o := range objs {
		start, suffix, ok := parseChunkName(strings.TrimPrefix(o.Name, bp))
		if !ok {
			continue
		}
		c := byStart[start]
		if c == nil {
			c = &ChunkInfo{Job: job.Name, File: start.File, Start: start, Status: catalog.StatusPartial}
			byStart[start] = c
		}
		c.objects = append(c.objects, o.Name)
		if o.Modified.After(c.modified) {
			c.modified = o.Modified
		}
		if suffix == ".json" {
			c.Manifest = o.Name
		} else {
			c.Object, c.Size = o.Name, o.Size
		}
	}
	chunks := make([]*ChunkInfo, 0, len(byStart))
	for _, c := range byStart {
		chunks = append(chunks, c)
	}
	sortChunks(chunks)
	return chunks, nil
}

// binlogChainEnd returns the newest complete chunk of the job (nil when
// there is none), reading manifests from the newest back. A newest
// manifest that is corrupt or untrusted is an error: the archiver will not
// write past it before someone looks at it.
func binlogChainEnd(ctx context.Context, s storage.Store, job backup.Job) (*ChunkInfo, error) {
	key, err := job.ManifestKey()
	if err != nil {
		return nil, err
	}
	chunks, err := listChunkObjects(ctx, s, job)
	if err != nil {
		return nil, err
	}
	for i := len(chunks) - 1; i >= 0; i-- {
		c := chunks[i]
		if c.Manifest == "" {
			continue // partial: a killed archiver's chunk, read again from the server
		}
		if err := c.load(ctx, s, key, job.Name); err != nil {
			return nil, err
		}
		switch c.Status {
		case catalog.StatusComplete:
			return c, nil
		case catalog.StatusCorrupt, catalog.StatusUntrusted:
			return nil, fmt.Errorf("the newest chunk of the archived binary log of job %s is %s (%s): check it, and delete %s and %s to archive that part again: %w",
				job.Name, c.Status, c.Problem, c.Manifest, c.Object, ErrChainBroken)
		}
	}
	return nil, nil
}

// ErrChainBroken is matched by the error of an archive the archiver
// refuses to extend (a corrupt or untrusted newest chunk, a server whose
// binary log was reset).
var ErrChainBroken = errors.New("archived binary log cannot be extended")

func sortChunks(chunks []*ChunkInfo) {
	sort.Slice(chunks, func(i, j int) bool { return binlog.CompareBinlogPos(chunks[i].Start, chunks[j].Start) < 0 })
}

// load reads the chunk's manifest and sets its status.
func (c *ChunkInfo) load(ctx context.Context, s storage.Store, key []byte, job string) error {
	m, err := ReadChunkManifest(ctx, s, c.Manifest)
	switch {
	case errors.Is(err, catalog.ErrCorruptManifest):
		c.Status, c.Problem = catalog.StatusCorrupt, err.Error()
		return nil
	case err != nil:
		return err
	}
	switch {
	case m.Start != c.Start || m.Object.Name == "" || path.Dir(m.Object.Name) != path.Dir(c.Manifest) || m.Job != job:
		c.Status, c.Problem = catalog.StatusCorrupt, fmt.Sprintf("manifest %s describes chunk %s of job %q (object %q): not this chunk", c.Manifest, m.Start, m.Job, m.Object.Name)
	case c.Object != m.Object.Name:
		c.Status, c.Problem = catalog.StatusCorrupt, fmt.Sprintf("manifest %s names %s, which is missing", c.Manifest, m.Object.Name)
	case binlog.CompareBinlogPos(m.End, m.Start) < 0 || binlog.CompareBinlogPos(m.Next, m.End) < 0 || binlog.CompareBinlogPos(m.Follows, m.Start) > 0:
		c.Status, c.Problem = catalog.StatusCorrupt, fmt.Sprintf("manifest %s: positions out of order (follows %s, start %s, end %s, next %s)", c.Manifest, m.Follows, m.Start, m.End, m.Next)
	case key != nil && !hmacValid(m, m.MAC, key):
		c.Status, c.Problem = catalog.StatusUntrusted, fmt.Sprintf("manifest %s has no valid MAC for the job's manifest_key_file", c.Manifest)
	default:
		c.Status, c.manifest = catalog.StatusComplete, m
		c.End, c.Next, c.Follows = m.End, m.Next, m.Follows
		c.FirstEvent, c.LastEvent, c.MaxEvent = m.FirstEvent, m.LastEvent, m.MaxEvent
		c.StartGTID, c.EndGTID = m.StartGTID, m.EndGTID
		c.Events, c.Transactions, c.ClosedBy = m.Events, m.Transactions, m.ClosedBy
		c.Size = m.Object.Size
	}
	return nil
}

// ReadChunkManifest fetches and parses a chunk manifest.
func ReadChunkManifest(ctx context.Context, s storage.Store, name string) (*ChunkManifest, error) {
	var m ChunkManifest
	if err := catalog.ReadJSON(ctx, s, name, "chunk manifest", 1<<20, &m); err != nil {
		return nil, err
	}
	if m.Format != ChunkFormat || m.Kind != ChunkKind {
		return nil, fmt.Errorf("chunk manifest %s has format %d kind %q; this ops reads format %d %q: %w", name, m.Format, m.Kind, ChunkFormat, ChunkKind, catalog.ErrCorruptManifest)
	}
	if _, err := compress.Parse(string(m.Compression)); err != nil {
		return nil, fmt.Errorf("chunk manifest %s: compression %w: %w", name, err, catalog.ErrCorruptManifest)
	}
	return &m, nil
}

// writeChunkManifest stores a chunk's manifest (with its MAC when key is set).
func writeChunkManifest(ctx context.Context, s storage.Store, name string, m *ChunkManifest, key []byte) error {
	m.MAC = ""
	if key != nil {
		m.MAC = catalog.HMACOf(m, key)
	}
	_, err := catalog.PutJSON(ctx, s, name, m)
	return err
}

// hmacValid checks a chunk manifest's MAC.
func hmacValid(m *ChunkManifest, mac string, key []byte) bool {
	c := *m
	c.MAC = ""
	return catalog.MACMatches(mac, catalog.HMACOf(&c, key))
}

// OpenChunk returns the chunk's binary log file (decrypted with ids when
// the chunk is encrypted, decompressed). The stored bytes are hashed as
// they are read: reading to the end and then closing returns an error
// when the object's size or SHA-256 differs from the manifest.
func OpenChunk(ctx context.Context, s storage.Store, c *ChunkInfo, ids []age.Identity) (io.ReadCloser, error) {
	m := c.manifest
	if m == nil {
		return nil, fmt.Errorf("chunk %s is %s: refusing to read it", c.Start, c.Status)
	}
	rc, err := s.Open(ctx, m.Object.Name)
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", c.Start, err)
	}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(storage.ContextReader(ctx, rc), h)}
	var src io.Reader = cr
	if m.Encryption != nil {
		if len(ids) == 0 {
			rc.Close()
			return nil, fmt.Errorf("chunk %s is encrypted to %s: an age identity file is needed (--identity FILE)", c.Start, strings.Join(m.Encryption.Recipients, ", "))
		}
		if src, err = age.Decrypt(src, ids...); err != nil {
			rc.Close()
			return nil, fmt.Errorf("chunk %s: age: %w", c.Start, err)
		}
	}
	dr, method, release, err := compress.NewReader(src)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("chunk %s: %w", c.Start, err)
	}
	if method != m.Compression.OrDefault() {
		release()
		rc.Close()
		return nil, fmt.Errorf("chunk %s: the stored data is %s, its manifest says %s", c.Start, method, m.Compression)
	}
	return &chunkReader{r: dr, rc: rc, release: release, h: h, cr: cr, m: m}, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type chunkReader struct {
	r       io.Reader
	rc      io.Closer
	release func()
	h       interface{ Sum([]byte) []byte }
	cr      *countingReader
	m       *ChunkManifest
	eof     bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

func (c *chunkReader) Close() error {
	c.release()
	defer c.rc.Close()
	if !c.eof {
		return nil
	}
	_, _ = io.Copy(io.Discard, c.cr) // what follows the compressed stream (age padding)
	if c.cr.n != c.m.Object.Size {
		return fmt.Errorf("chunk %s: %d bytes stored, manifest says %d", c.m.Start, c.cr.n, c.m.Object.Size)
	}
	if got := hex.EncodeToString(c.h.Sum(nil)); got != c.m.Object.SHA256 {
		return fmt.Errorf("chunk %s: SHA-256 %s, manifest says %s", c.m.Start, got, c.m.Object.SHA256)
	}
	return nil
}
