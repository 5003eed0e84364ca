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

	"github.com/opsteam/ops/backup/mysql"
	"github.com/opsteam/ops/backup/storage"
)

// RunOptions configure one backup of one job.
type RunOptions struct {
	Job    Job
	Store  storage.Store
	Tool   ToolInfo
	Logger *slog.Logger
	// Now is the clock (tests inject one); time.Now when nil.
	Now func() time.Time
	// Progress, when set, is called with the bytes stored so far.
	Progress func(stored int64)
}

// RunBackup dumps the job's databases and streams them — compressed, then
// encrypted when the job has recipients — into the store, then writes the
// manifest last. On any failure nothing is left under a final name that
// `list` or `restore` would take for a backup.
func RunBackup(ctx context.Context, o RunOptions) (*Manifest, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	job := o.Job
	recips, err := ParseRecipients(job.EncryptTo)
	if err != nil {
		return nil, err
	}
	started := now().UTC().Truncate(time.Millisecond)
	id := NewID(started)
	// Two runs of a job in the same second get distinct IDs. Only the
	// objects under this ID are listed, not every backup's manifest.
	for n := 2; idTaken(ctx, o.Store, JobPrefix(job.Prefix, job.Name)+id+"/"); n++ {
		id = fmt.Sprintf("%s-%d", NewID(started), n)
	}
	dir := JobPrefix(job.Prefix, job.Name) + id
	objName := path.Join(dir, streamName(job.Compression, len(recips) > 0))
	log.Info("backup started", "job", job.Name, "id", id, "target", o.Store.String(), "object", objName)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	type dumpDone struct {
		res *mysql.DumpResult
		err error
	}
	done := make(chan dumpDone, 1)
	go func() {
		var w io.Writer = pw
		var enc io.WriteCloser
		if len(recips) > 0 {
			var err error
			if enc, err = age.Encrypt(pw, recips...); err != nil {
				pw.CloseWithError(err)
				done <- dumpDone{nil, fmt.Errorf("age: %w", err)}
				return
			}
			w = enc
		}
		res, err := mysql.Dump(ctx, mysql.DumpOptions{
			MySQL:            job.MySQL,
			Databases:        job.Databases,
			ExcludeTables:    job.ExcludeTables,
			Threads:          job.Threads,
			Compression:      job.Compression,
			CompressionLevel: job.CompressionLevel,
			ChunkRows:        job.ChunkRows,
			Checksums:        job.Checksums,
			Logger:           log,
		}, w)
		if err == nil && enc != nil {
			if err = enc.Close(); err != nil {
				err = fmt.Errorf("age: %w", err)
			}
		}
		if err != nil {
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
		done <- dumpDone{res, err}
	}()

	var src io.Reader = pr
	if o.Progress != nil {
		src = &progressReader{r: pr, fn: o.Progress}
	}
	obj, putErr := o.Store.Put(ctx, objName, src)
	if putErr != nil {
		cancel()
		pr.CloseWithError(putErr)
	}
	d := <-done
	switch {
	case d.err != nil && !errors.Is(d.err, context.Canceled):
		return nil, fmt.Errorf("backup %s of job %s failed, nothing was kept: %w", id, job.Name, d.err)
	case putErr != nil:
		return nil, fmt.Errorf("backup %s of job %s failed, nothing was kept: storing %s in %s: %w", id, job.Name, objName, o.Store, putErr)
	case d.err != nil:
		return nil, fmt.Errorf("backup %s of job %s: %w", id, job.Name, d.err)
	}
	res := d.res
	m := &Manifest{
		Format:           ManifestFormat,
		Tool:             o.Tool,
		Job:              job.Name,
		ID:               id,
		StartedAt:        started,
		FinishedAt:       now().UTC().Truncate(time.Millisecond),
		Server:           ServerInfo{Version: res.ServerVersion},
		Consistency:      ConsistencyInfo{Mode: res.ConsistencyMode, BinlogFile: res.BinlogFile, BinlogPos: res.BinlogPos, GTID: res.GTID},
		Databases:        res.Databases,
		Compression:      res.Compression,
		CompressionLevel: job.CompressionLevel,
		Object:           obj,
		StreamSHA256:     obj.SHA256,
		SQLBytes:         res.RawBytes,
	}
	if m.Tool.Name == "" {
		m.Tool.Name = "ops"
	}
	for _, t := range res.Tables {
		m.Tables = append(m.Tables, TableInfo{Database: t.Database, Name: t.Name, Rows: t.Rows, Checksum: t.Checksum})
	}
	if len(recips) > 0 {
		m.Encryption = &Encryption{Type: "age", Recipients: append([]string(nil), job.EncryptTo...)}
	}
	if _, err := WriteManifest(ctx, o.Store, dir, m); err != nil {
		return nil, fmt.Errorf("backup %s of job %s: writing the manifest (the backup stays partial and will be pruned): %w", id, job.Name, err)
	}
	log.Info("backup complete", "job", job.Name, "id", id, "object", objName, "stored_bytes", obj.Size,
		"sql_bytes", res.RawBytes, "tables", len(res.Tables), "consistency", res.ConsistencyMode,
		"duration", m.FinishedAt.Sub(started).Round(time.Millisecond).String())
	return m, nil
}

// idTaken reports whether any object exists under a backup directory (a
// listing error counts as free: the Put would then fail on its own).
func idTaken(ctx context.Context, s storage.Store, dir string) bool {
	objs, err := s.List(ctx, dir)
	return err == nil && len(objs) > 0
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
