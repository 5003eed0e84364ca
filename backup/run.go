package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"time"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/storage"
)

// DumpFunc writes one dump of the job's databases to w (compressed as the
// options say). dump.Dump is the real one; tests of the pipeline pass a
// fake.
type DumpFunc func(ctx context.Context, opts dump.DumpOptions, w io.Writer) (*dump.DumpResult, error)

// RunOptions configure one backup of one job.
type RunOptions struct {
	Job    Job
	Store  storage.Store
	Tool   catalog.ToolInfo
	Logger *slog.Logger
	// Now is the clock (tests inject one); time.Now when nil.
	Now func() time.Time
	// Progress, when set, is called with the bytes stored so far.
	Progress func(stored int64)
	// DumpProgress, when set, is called by the dump after each part of the
	// stream it writes: the table just written and the SQL bytes so far.
	DumpProgress func(DumpProgress)
	// DumpPlanned, when set, is called once the dump knows its tables,
	// before DumpProgress, with the server's estimate of each one's size
	// (by "db.table"; for progress bars only).
	DumpPlanned func(map[string]TableEstimate)
	// Stored, when set, is called once the stream is stored (or failed),
	// before the manifest is written and "backup complete" logged, with the
	// SQL bytes the dump wrote (0 when it failed): a progress bar ends
	// there, not under the summary.
	Stored func(sqlBytes int64)
	// Dump is the dump source; dump.Dump when nil.
	Dump DumpFunc
	// Physical is the physical backup source; physical.Backup when nil.
	Physical PhysicalFunc
	// ServerFacts identifies the server before an incremental run (a
	// changed server forces a full); physical.Facts when nil.
	ServerFacts func(ctx context.Context) (physical.Server, error)
}

func (o *RunOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Dump == nil {
		o.Dump = dump.Dump
	}
}

// RunBackup dumps the job's databases and streams them — compressed, then
// encrypted when the job has recipients — into the store, then writes the
// manifest last. On any failure nothing is left under a final name that
// `list` or `restore` would take for a backup.
func RunBackup(ctx context.Context, o RunOptions) (*catalog.Manifest, error) {
	o.defaults()
	if o.Job.IsPhysical() {
		return runPhysical(ctx, o)
	}
	job := o.Job
	recips, err := ParseRecipients(job.EncryptTo)
	if err != nil {
		return nil, err
	}
	key, err := job.ManifestKeyForWriting(o.Logger)
	if err != nil {
		return nil, err
	}
	started := o.Now().UTC().Truncate(time.Millisecond)
	id, err := freeID(ctx, o.Store, catalog.JobPrefix(job.Prefix, job.Name), started)
	if err != nil {
		return nil, err
	}
	dir := catalog.JobPrefix(job.Prefix, job.Name) + id
	objName := path.Join(dir, catalog.StreamName(job.Compression, len(recips) > 0))
	o.Logger.Info("backup started", "job", job.Name, "id", id, "target", o.Store.String(), "object", objName)

	res, obj, chunks, err := dumpInto(ctx, o, recips, objName, fmt.Sprintf("backup %s of job %s", id, job.Name))
	if o.Stored != nil {
		var n int64
		if res != nil {
			n = res.RawBytes
		}
		o.Stored(n)
	}
	if err != nil {
		return nil, err
	}
	m := newManifest(o, id, started, res, obj)
	m.Chunks = chunks
	if _, err := catalog.WriteManifest(ctx, o.Store, dir, m, key); err != nil {
		return nil, fmt.Errorf("backup %s of job %s: writing the manifest (the backup stays partial and will be pruned): %w", id, job.Name, err)
	}
	o.Logger.Info("backup complete", "job", job.Name, "id", id, "object", objName, "stored_bytes", obj.Size,
		"sql_bytes", res.RawBytes, "tables", len(res.Tables), "consistency", res.ConsistencyMode,
		"duration", m.FinishedAt.Sub(started).Round(time.Millisecond).String())
	return m, nil
}

// freeID returns the ID of a backup started at t that no object of the job
// uses yet: two runs of a job in the same second get distinct IDs. Only the
// objects under each candidate ID are listed, not every backup's manifest.
func freeID(ctx context.Context, s storage.Store, jobPrefix string, t time.Time) (string, error) {
	id := catalog.NewID(t)
	for n := 2; ; n++ {
		objs, err := s.List(ctx, jobPrefix+id+"/")
		if err != nil {
			return "", fmt.Errorf("checking that backup ID %s is free in %s: %w", id, s, err)
		}
		if len(objs) == 0 {
			return id, nil
		}
		id = fmt.Sprintf("%s-%d", catalog.NewID(t), n)
	}
}

// dumpInto runs the dump and stores its stream (through age when there are
// recipients) under objName (storeStream: a failed dump or Put leaves
// nothing under objName; the stored bytes are hashed chunk by chunk). what
// names the backup in errors.
func dumpInto(ctx context.Context, o RunOptions, recips []age.Recipient, objName, what string) (*dump.DumpResult, storage.Object, *catalog.ChunkHashes, error) {
	var res *dump.DumpResult
	obj, chunks, err := storeStream(ctx, o, objName, what, func(ctx context.Context, w io.Writer) error {
		var err error
		res, err = dumpEncrypted(ctx, o, recips, w)
		return err
	})
	if err != nil {
		return nil, obj, nil, err
	}
	return res, obj, chunks, nil
}

// storeStream runs write in a goroutine and stores what it writes under
// objName, hashed chunk by chunk on its way to the store (ChunkHashes, for
// the manifest), with the job's progress. Either both succeed or the error
// says what failed first ("... failed, nothing was kept"); a failed Put
// leaves nothing under objName. Logical dumps and physical streams both
// go through it.
func storeStream(ctx context.Context, o RunOptions, objName, what string, write func(context.Context, io.Writer) error) (storage.Object, *catalog.ChunkHashes, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := write(ctx, pw)
		pw.CloseWithError(err) // nil closes normally
		done <- err
	}()
	chunks := newChunkHasher(ChunkSize)
	var src io.Reader = io.TeeReader(pr, chunks)
	if o.Progress != nil {
		src = &progressReader{r: src, fn: o.Progress}
	}
	obj, putErr := o.Store.Put(ctx, objName, src)
	if putErr != nil {
		cancel()
		pr.CloseWithError(putErr)
	}
	err := <-done
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		return obj, nil, fmt.Errorf("%s failed, nothing was kept: %w", what, err)
	case putErr != nil:
		return obj, nil, fmt.Errorf("%s failed, nothing was kept: storing %s in %s: %w", what, objName, o.Store, putErr)
	case err != nil:
		return obj, nil, fmt.Errorf("%s: %w", what, err)
	}
	list, err := chunks.list(obj.Size)
	if err != nil {
		return obj, nil, fmt.Errorf("%s: %w", what, err)
	}
	return obj, list, nil
}

// dumpEncrypted writes the dump to w, through age when there are
// recipients.
func dumpEncrypted(ctx context.Context, o RunOptions, recips []age.Recipient, w io.Writer) (*dump.DumpResult, error) {
	var enc io.WriteCloser
	if len(recips) > 0 {
		var err error
		if enc, err = age.Encrypt(w, recips...); err != nil {
			return nil, fmt.Errorf("age: %w", err)
		}
		w = enc
	}
	job := o.Job
	res, err := o.Dump(ctx, dump.DumpOptions{
		MySQL:            job.MySQL,
		Databases:        job.Databases,
		ExcludeTables:    job.ExcludeTables,
		Threads:          job.Threads,
		Compression:      job.Compression,
		CompressionLevel: job.CompressionLevel,
		ChunkRows:        job.ChunkRows,
		Checksums:        job.Checksums,
		Logger:           o.Logger,
		Progress:         dumpProgress(o.DumpProgress),
		Planned:          dumpPlanned(o.DumpPlanned),
	}, w)
	if err == nil && enc != nil {
		if err = enc.Close(); err != nil {
			err = fmt.Errorf("age: %w", err)
		}
	}
	return res, err
}

// newManifest describes a backup whose stream was stored as obj.
func newManifest(o RunOptions, id string, started time.Time, res *dump.DumpResult, obj storage.Object) *catalog.Manifest {
	job := o.Job
	m := &catalog.Manifest{
		Format:           catalog.ManifestFormat,
		Tool:             o.Tool,
		Job:              job.Name,
		ID:               id,
		StartedAt:        started,
		FinishedAt:       o.Now().UTC().Truncate(time.Millisecond),
		Server:           catalog.ServerInfo{Version: res.ServerVersion},
		Consistency:      catalog.ConsistencyInfo{Mode: res.ConsistencyMode, BinlogFile: res.BinlogFile, BinlogPos: res.BinlogPos, GTID: res.GTID, SnapshotAt: res.SnapshotAt},
		Databases:        res.Databases,
		Compression:      res.Compression,
		CompressionLevel: job.CompressionLevel,
		Object:           obj,
		StreamSHA256:     obj.SHA256,
		SQLBytes:         res.RawBytes,
		Objects:          res.Objects,
	}
	if m.Tool.Name == "" {
		m.Tool.Name = "ops"
	}
	for _, t := range res.Tables {
		m.Tables = append(m.Tables, catalog.TableInfo{Database: t.Database, Name: t.Name, Rows: t.Rows, Digest: t.Digest})
	}
	if len(job.EncryptTo) > 0 {
		m.Encryption = &catalog.Encryption{Type: "age", Recipients: append([]string(nil), job.EncryptTo...)}
	}
	return m
}

// DumpProgress is where a running dump is.
type DumpProgress struct {
	Table       string // "db.table" just written ("" for schema parts)
	RawBytes    int64  // SQL written so far (before compression)
	StoredBytes int64  // what it compressed to so far (before encryption)
	PartBytes   int64  // SQL of the part just written (of Table, or of no table)
	PartRows    int64  // rows of the part just written
	Ended       string // "db.table" whose data is now all written ("" if none)
}

func dumpProgress(fn func(DumpProgress)) func(dump.Progress) {
	if fn == nil {
		return nil
	}
	return func(p dump.Progress) {
		t, ended := "", ""
		if p.Table != "" {
			t = p.Database + "." + p.Table
		}
		if p.Ended != "" {
			ended = p.Database + "." + p.Ended
		}
		fn(DumpProgress{Table: t, RawBytes: p.RawBytes, StoredBytes: p.StoredBytes, PartBytes: p.PartBytes, PartRows: p.PartRows, Ended: ended})
	}
}

// TableEstimate is the server's estimate of a table's size when the dump
// planned it (information_schema: DATA_LENGTH, TABLE_ROWS).
type TableEstimate struct {
	Bytes, Rows int64
}

func dumpPlanned(fn func(map[string]TableEstimate)) func([]dump.TableEstimate) {
	if fn == nil {
		return nil
	}
	return func(est []dump.TableEstimate) {
		m := make(map[string]TableEstimate, len(est))
		for _, t := range est {
			m[t.Database+"."+t.Table] = TableEstimate{Bytes: t.Bytes, Rows: t.Rows}
		}
		fn(m)
	}
}

type progressReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	p.fn(p.n)
	return n, err
}
