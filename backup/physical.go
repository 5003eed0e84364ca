package backup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/storage"
)

// PhysicalFunc writes one mariadb-backup stream to w; physical.Backup is
// the real one, tests of the pipeline pass a fake.
type PhysicalFunc func(ctx context.Context, o physical.Options, w io.Writer) (*physical.Result, error)

// chainStart says where a physical run stands: a full (base nil, why says
// why not an incremental) or an incremental on base.
type chainStart struct {
	base *catalog.Manifest
	why  string
}

// runPhysical is RunBackup for method: physical: mariadb-backup's stream
// goes through the same compression, encryption, chunk hashing and store,
// and the manifest, written last, records the LSNs, the binlog position
// and the chain.
func runPhysical(ctx context.Context, o RunOptions) (*catalog.Manifest, error) {
	job := o.Job
	recips, err := ParseRecipients(job.EncryptTo)
	if err != nil {
		return nil, err
	}
	key, err := job.ManifestKeyForWriting(o.Logger)
	if err != nil {
		return nil, err
	}
	src := o.Physical
	if src == nil {
		src = physical.Backup
	}
	start, err := physicalChainStart(ctx, o, key)
	if err != nil {
		return nil, err
	}
	started := o.Now().UTC().Truncate(time.Millisecond)
	id, err := freeID(ctx, o.Store, catalog.JobPrefix(job.Prefix, job.Name), started)
	if err != nil {
		return nil, err
	}
	dir := catalog.JobPrefix(job.Prefix, job.Name) + id
	objName := path.Join(dir, catalog.PhysicalStreamName(job.Compression, len(recips) > 0))
	kind := catalog.KindFull
	po := physical.Options{MySQL: job.MySQL, Binary: job.Physical.Binary, SlaveInfo: job.Physical.SlaveInfo, Snapshot: job.Threads, Logger: o.Logger}
	physicalProgress(o, &po)
	if start.base != nil {
		kind, po.IncrementalLSN = catalog.KindIncremental, start.base.Physical.ToLSN
	}
	o.Logger.Info("backup started", "job", job.Name, "id", id, "method", MethodPhysical, "kind", kind, "base", baseID(start.base),
		"why_full", start.why, "target", o.Store.String(), "object", objName)
	what := fmt.Sprintf("backup %s of job %s", id, job.Name)
	var res *physical.Result
	obj, chunks, err := streamInto(ctx, o, recips, objName, what, func(ctx context.Context, w io.Writer) error {
		var err error
		res, err = src(ctx, po, w)
		return err
	})
	if o.Stored != nil {
		var n int64
		if res != nil {
			n = res.StreamBytes
		}
		o.Stored(n)
	}
	if err != nil {
		if res != nil {
			res.Snapshot.Close()
		}
		return nil, err
	}
	if start.base != nil && res.Server != serverOf(start.base) {
		res.Snapshot.Close()
		return nil, fmt.Errorf("%s: the server changed while the backup ran (%+v, its base was taken from %+v): the backup is left partial", what, res.Server, serverOf(start.base))
	}
	tables := physicalTables(ctx, o, res)
	m := &catalog.Manifest{
		Format: catalog.ManifestFormat, Tool: o.Tool, Job: job.Name, ID: id, StartedAt: started,
		FinishedAt:  o.Now().UTC().Truncate(time.Millisecond),
		Server:      catalog.ServerInfo{Version: res.Server.Version},
		Consistency: catalog.ConsistencyInfo{Mode: "mariadb-backup", BinlogFile: res.Binlog.File, BinlogPos: res.Binlog.Pos, GTID: res.Binlog.GTID, SnapshotAt: res.SnapshotAt},
		Databases:   append([]string{}, res.Databases...), Compression: job.Compression.OrDefault(), CompressionLevel: job.CompressionLevel,
		Object: obj, StreamSHA256: obj.SHA256, Chunks: chunks, Tables: tables,
		Method: MethodPhysical, Kind: kind, Base: baseID(start.base),
		Physical: &catalog.PhysicalInfo{FromLSN: res.FromLSN, ToLSN: res.ToLSN, LastLSN: res.LastLSN, ToolVersion: res.ToolVersion,
			ServerID: res.Server.ServerID, Datadir: res.Server.Datadir, StreamBytes: res.StreamBytes},
	}
	if m.Tool.Name == "" {
		m.Tool.Name = "ops"
	}
	if len(job.EncryptTo) > 0 {
		m.Encryption = &catalog.Encryption{Type: "age", Recipients: append([]string(nil), job.EncryptTo...)}
	}
	if _, err := catalog.WriteManifest(ctx, o.Store, dir, m, key); err != nil {
		return nil, fmt.Errorf("%s: writing the manifest (the backup stays partial and will be pruned): %w", what, err)
	}
	o.Logger.Info("backup complete", "job", job.Name, "id", id, "method", MethodPhysical, "kind", kind, "object", objName,
		"stored_bytes", obj.Size, "stream_bytes", res.StreamBytes, "to_lsn", res.ToLSN, "binlog_file", res.Binlog.File,
		"binlog_pos", res.Binlog.Pos, "gtid", res.Binlog.GTID, "duration", m.FinishedAt.Sub(started).Round(time.Millisecond).String())
	return m, nil
}

// physicalTables reads every table's rows, and its digest when the job
// has checksums, in the snapshot sessions held at the backup's point, and
// closes them. A backup is good without them: when there is no snapshot or
// reading fails, a warning says why and the manifest records no tables
// (verify --restore-test then checks the tables without comparing them).
func physicalTables(ctx context.Context, o RunOptions, res *physical.Result) []catalog.TableInfo {
	what := "row counts"
	read := dump.CountIn
	if o.Job.Checksums {
		what, read = "row counts and digests", dump.DigestIn
	}
	if res.Snapshot == nil {
		log := o.Logger.Warn
		if res.NoBinlog { // every night the same: said, not warned about (cron would mail it)
			log = o.Logger.Info
		}
		log("no table "+what+" recorded for this physical backup: "+res.NoSnapshot, "job", o.Job.Name)
		return nil
	}
	defer res.Snapshot.Close()
	started := time.Now()
	digests, skipped, err := read(ctx, res.Snapshot.Conns, res.Databases, res.Snapshot.At)
	if err != nil {
		o.Logger.Warn("no table "+what+" recorded for this physical backup: reading the tables at the backup's point failed", "job", o.Job.Name, "err", err)
		return nil
	}
	tables := make([]catalog.TableInfo, 0, len(digests))
	for ref, d := range digests {
		tables = append(tables, catalog.TableInfo{Database: ref.Database, Name: ref.Name, Rows: d.Rows, Digest: d.Digest})
	}
	slices.SortFunc(tables, func(a, b catalog.TableInfo) int {
		return cmp.Or(cmp.Compare(a.Database, b.Database), cmp.Compare(a.Name, b.Name))
	})
	o.Logger.Info("table "+what+" read at the backup's point", "job", o.Job.Name, "tables", len(tables), "duration", time.Since(started).Round(time.Millisecond).String())
	for _, t := range skipped {
		o.Logger.Info("table not recorded: not InnoDB (a snapshot does not hold its rows), or created, altered or renamed since the backup's point", "job", o.Job.Name, "database", t.Database, "table", t.Name)
	}
	return tables
}

// progressItem names the datadir for the progress hooks, which count
// tables for a dump.
const progressItem = "the datadir"

// physicalProgress feeds the dump's progress hooks: the datadir's size as
// the one planned item, the stream's bytes as written to it.
func physicalProgress(o RunOptions, po *physical.Options) {
	if o.DumpPlanned != nil {
		po.Planned = func(n int64) { o.DumpPlanned(map[string]TableEstimate{progressItem: {Bytes: n}}) }
	}
	if o.DumpProgress != nil {
		var last int64
		po.Progress = func(n int64) {
			o.DumpProgress(DumpProgress{Table: progressItem, RawBytes: n, PartBytes: n - last})
			last = n
		}
	}
}

func baseID(m *catalog.Manifest) string {
	if m == nil {
		return ""
	}
	return m.ID
}

// serverOf is the server a physical manifest was taken from.
func serverOf(m *catalog.Manifest) physical.Server {
	return physical.Server{Version: m.Server.Version, ServerID: m.Physical.ServerID, Datadir: m.Physical.Datadir}
}

// physicalChainStart decides between a full and an incremental: an
// incremental needs physical.incremental, no --full, a previous complete
// and authenticated physical backup of the job whose chain is shorter than
// full_every, and the same server (server_id, version, datadir).
func physicalChainStart(ctx context.Context, o RunOptions, key []byte) (chainStart, error) {
	job := o.Job
	switch {
	case !job.Physical.Incremental:
		return chainStart{why: "physical.incremental is off"}, nil
	case job.Physical.ForceFull:
		return chainStart{why: "--full"}, nil
	}
	list, err := catalog.List(ctx, o.Store, catalog.Ref{Name: job.Name, Prefix: job.Prefix, Key: key}, false)
	if err != nil {
		return chainStart{}, err
	}
	chain, err := latestChain(list)
	if err != nil {
		return chainStart{why: err.Error()}, nil
	}
	if chain == nil {
		return chainStart{why: "no previous physical backup"}, nil
	}
	if len(chain) >= job.Physical.FullEvery {
		return chainStart{why: fmt.Sprintf("the chain of %s holds %d backups (physical.full_every: %d)", chain[0].ID, len(chain), job.Physical.FullEvery)}, nil
	}
	last := chain[len(chain)-1]
	facts := o.ServerFacts
	if facts == nil {
		facts = func(ctx context.Context) (physical.Server, error) { return physical.Facts(ctx, job.MySQL, o.Logger) }
	}
	srv, err := facts(ctx)
	if err != nil {
		return chainStart{}, err
	}
	if srv != serverOf(last) {
		why := fmt.Sprintf("the server changed since backup %s (server_id %d → %d, version %s → %s, datadir %s → %s)",
			last.ID, last.Physical.ServerID, srv.ServerID, last.Server.Version, srv.Version, last.Physical.Datadir, srv.Datadir)
		o.Logger.Warn("taking a full backup: "+why, "job", job.Name)
		return chainStart{why: why}, nil
	}
	return chainStart{base: last}, nil
}

// latestChain is the chain of the newest complete backup when it is a
// physical one: its full first, then each incremental in order (nil when
// the newest backup is not physical). A chain with a missing or unusable
// link is an error (the next backup must then be a full).
func latestChain(list []*catalog.BackupInfo) ([]*catalog.Manifest, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := list[0].ManifestData()
	if m == nil || m.MethodOf() != MethodPhysical || m.Physical == nil {
		return nil, nil
	}
	return ChainOf(list, list[0].ID)
}

// ChainOf returns the chain that ends at backup id: its full first, then
// every incremental up to id, each one's base the one before it. A base
// that is missing or not complete is an error matching ErrBrokenChain.
func ChainOf(list []*catalog.BackupInfo, id string) ([]*catalog.Manifest, error) {
	byID := map[string]*catalog.Manifest{}
	for _, b := range list {
		if m := b.ManifestData(); m != nil {
			byID[b.ID] = m
		}
	}
	var chain []*catalog.Manifest
	for cur := id; ; {
		m, ok := byID[cur]
		if !ok {
			return nil, fmt.Errorf("backup %s (in the chain of %s) is missing or not complete: %w", cur, id, ErrBrokenChain)
		}
		if m.MethodOf() != MethodPhysical || m.Physical == nil {
			return nil, fmt.Errorf("backup %s (in the chain of %s) is not a physical backup: %w", cur, id, ErrBrokenChain)
		}
		chain = append([]*catalog.Manifest{m}, chain...)
		if len(chain) > len(byID) {
			return nil, fmt.Errorf("the chain of %s loops: %w", id, ErrBrokenChain)
		}
		if m.KindOf() == catalog.KindFull {
			return chain, nil
		}
		if m.Base == "" {
			return nil, fmt.Errorf("incremental backup %s names no base: %w", cur, ErrBrokenChain)
		}
		if base, ok := byID[m.Base]; ok && base.Physical != nil && base.Physical.ToLSN != m.Physical.FromLSN {
			return nil, fmt.Errorf("incremental backup %s starts at LSN %d, its base %s ends at %d: %w", cur, m.Physical.FromLSN, m.Base, base.Physical.ToLSN, ErrBrokenChain)
		}
		cur = m.Base
	}
}

// ErrBrokenChain is matched by the error of a physical chain with a
// missing, incomplete or mismatched link.
var ErrBrokenChain = errors.New("broken backup chain")

// streamInto stores what produce writes, through the job's compression and
// (with recipients) age, under objName (storeStream).
func streamInto(ctx context.Context, o RunOptions, recips []age.Recipient, objName, what string, produce func(context.Context, io.Writer) error) (storage.Object, *catalog.ChunkHashes, error) {
	return storeStream(ctx, o, objName, what, func(ctx context.Context, w io.Writer) error {
		return produceEncoded(ctx, o.Job, recips, w, produce)
	})
}

// produceEncoded runs produce into compression, then age, then w.
func produceEncoded(ctx context.Context, job Job, recips []age.Recipient, w io.Writer, produce func(context.Context, io.Writer) error) error {
	var enc io.WriteCloser
	if len(recips) > 0 {
		var err error
		if enc, err = age.Encrypt(w, recips...); err != nil {
			return fmt.Errorf("age: %w", err)
		}
		w = enc
	}
	// One encoder per frame that can be in flight (the codec's concurrency
	// bounds how many frames it compresses at once).
	codec, err := job.Compression.NewCodec(job.CompressionLevel, frameWorkers+1)
	if err != nil {
		return err
	}
	defer codec.Close()
	fw := newFrameWriter(w, codec, frameWorkers)
	if err := produce(ctx, fw); err != nil {
		fw.abort()
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return fmt.Errorf("age: %w", err)
		}
	}
	return nil
}

// frameSize is the uncompressed size of each compressed frame of a
// physical stream (zstd and gzip readers read concatenated frames), and
// frameWorkers how many frames are compressed at once.
const (
	frameSize    = 4 << 20
	frameWorkers = 2
)

// frameWriter compresses what it is given frameSize bytes at a time, up to
// workers frames at once, and writes the frames to w in order.
type frameWriter struct {
	codec compress.Codec
	buf   []byte
	order chan chan frame // frames in flight, in order (its capacity bounds them)
	done  chan error      // the writing goroutine's end
	err   error
	// failed is set by the writing goroutine when w failed: Write stops
	// taking bytes (Close returns the error).
	failed atomic.Bool
}

type frame struct {
	data []byte
	err  error
}

func newFrameWriter(w io.Writer, codec compress.Codec, workers int) *frameWriter {
	f := &frameWriter{codec: codec, buf: framePool.Get().([]byte), order: make(chan chan frame, workers), done: make(chan error, 1)}
	go func() {
		var err error
		for ch := range f.order {
			fr := <-ch
			if err == nil && fr.err != nil {
				err = fr.err
			}
			if err == nil {
				_, err = w.Write(fr.data)
			}
			//lint:ignore SA6002 a slice header: the backing array is what is reused
			framePool.Put(fr.data[:0])
			if err != nil {
				f.failed.Store(true)
			}
		}
		f.done <- err
	}()
	return f
}

func (f *frameWriter) Write(p []byte) (int, error) {
	if f.failed.Load() {
		return 0, errFrameWrite
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), frameSize-len(f.buf))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == frameSize {
			f.submit()
		}
	}
	return n, nil
}

// errFrameWrite is what Write returns once writing a frame failed.
var errFrameWrite = errors.New("writing the compressed stream failed")

// submit hands the buffered bytes to a compressing goroutine.
func (f *frameWriter) submit() {
	if len(f.buf) == 0 {
		return
	}
	data := f.buf
	f.buf = framePool.Get().([]byte)
	ch := make(chan frame, 1)
	f.order <- ch
	go func() {
		out, err := f.codec.Compress(framePool.Get().([]byte), data)
		//lint:ignore SA6002 a slice header: the backing array is what is reused
		framePool.Put(data[:0])
		ch <- frame{out, err}
	}()
}

// framePool holds frameSize buffers: the frames being filled and their
// compressed forms (a physical stream is many gigabytes: reusing them
// spares the allocator and the collector clearing and scanning 8 MiB per
// frame).
var framePool = sync.Pool{New: func() any { return make([]byte, 0, frameSize) }}

// Close compresses what is buffered and waits until every frame is written.
func (f *frameWriter) Close() error {
	f.submit()
	close(f.order)
	f.err = <-f.done
	return f.err
}

// abort ends the writing goroutine after a failed produce.
func (f *frameWriter) abort() {
	f.buf = f.buf[:0]
	close(f.order)
	<-f.done
}
