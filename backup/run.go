package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"

	"filippo.io/age"
)

// RunOptions configure one backup of one job.
type RunOptions struct {
	Job    Job
	Store  Store
	Tool   ToolInfo
	Logger *slog.Logger
	// Now is the clock (tests inject one); time.Now when nil.
	Now func() time.Time
	// Progress, when set, is called with the bytes stored so far.
	Progress func(stored int64)
}

// ParseRecipients parses age recipients (age1…).
func ParseRecipients(list []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for i, s := range list {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("encrypt_to[%d]: %q is not an age recipient (age1…): %w", i, s, err)
		}
		out = append(out, r)
	}
	return out, nil
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
		res *DumpResult
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
		res, err := Dump(ctx, DumpOptions{
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
func idTaken(ctx context.Context, s Store, dir string) bool {
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

// VerifyResult is the outcome of checking a backup's objects.
type VerifyResult struct {
	Backup   *BackupInfo
	Problems []string // empty when every checksum matched
}

// OK reports whether the backup verified.
func (v *VerifyResult) OK() bool { return len(v.Problems) == 0 }

// VerifyBackup re-reads the stored stream and checks its size and SHA-256
// (and every segment's) against the manifest.
func VerifyBackup(ctx context.Context, s Store, b *BackupInfo) (*VerifyResult, error) {
	m := b.manifest
	if m == nil {
		return nil, fmt.Errorf("backup %s is partial (no manifest)", b.ID)
	}
	res := &VerifyResult{Backup: b}
	rc, err := s.Open(ctx, m.Object.Name)
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: missing", m.Object.Name))
			return res, nil
		}
		return nil, err
	}
	defer rc.Close()
	whole := sha256.New()
	var segs *segmentHasher
	if len(m.Object.Segments) > 0 {
		segs = &segmentHasher{segs: m.Object.Segments}
	}
	var w io.Writer = whole
	if segs != nil {
		w = io.MultiWriter(whole, segs)
	}
	n, err := io.Copy(w, ctxReader{ctx, rc})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.Object.Name, err)
	}
	if n != m.Object.Size {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: size %d, manifest says %d", m.Object.Name, n, m.Object.Size))
	}
	if got := hex.EncodeToString(whole.Sum(nil)); got != m.StreamSHA256 {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: SHA-256 %s, manifest says %s", m.Object.Name, got, m.StreamSHA256))
	}
	if segs != nil {
		res.Problems = append(res.Problems, segs.finish()...)
	}
	return res, nil
}

// segmentHasher checks each segment's SHA-256 as the stream goes by.
type segmentHasher struct {
	segs     []Segment
	i        int
	left     int64
	h        hash.Hash
	problems []string
}

func (s *segmentHasher) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 && s.i < len(s.segs) {
		if s.h == nil {
			s.h, s.left = sha256.New(), s.segs[s.i].Size
		}
		k := int(min(int64(len(p)), s.left))
		s.h.Write(p[:k])
		s.left -= int64(k)
		p = p[k:]
		if s.left == 0 {
			s.check()
		}
	}
	return total, nil
}

func (s *segmentHasher) check() {
	seg := s.segs[s.i]
	if got := hex.EncodeToString(s.h.Sum(nil)); got != seg.SHA256 {
		s.problems = append(s.problems, fmt.Sprintf("segment %s: SHA-256 %s, manifest says %s", seg.Name, got, seg.SHA256))
	}
	s.i++
	s.h = nil
}

func (s *segmentHasher) finish() []string {
	if s.h != nil && s.i < len(s.segs) {
		s.problems = append(s.problems, fmt.Sprintf("segment %s: truncated", s.segs[s.i].Name))
	}
	return s.problems
}

// PruneOptions configure retention for one job.
type PruneOptions struct {
	Job      Job
	Store    Store
	DryRun   bool
	Location *time.Location // calendar for daily/weekly/monthly; time.Local when nil
	Logger   *slog.Logger
	// PartialGrace protects backups that may still be running: partial
	// backups and orphaned parts younger than this are left alone.
	PartialGrace time.Duration
	Now          func() time.Time
}

// PruneResult says what prune kept and removed.
type PruneResult struct {
	Decisions []Decision // complete backups, newest first
	Partial   []string   // IDs of partial backups removed (or that would be)
	Orphans   []string   // leftover parts removed (or that would be)
	Deleted   []string   // every object deleted
}

// Prune applies the job's retention to its complete backups, removes
// partial backups and orphaned parts older than the grace period, and never
// removes the newest complete backup. With DryRun nothing is deleted.
func Prune(ctx context.Context, o PruneOptions) (*PruneResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	grace := o.PartialGrace
	if grace == 0 {
		grace = 6 * time.Hour
	}
	list, err := ListBackups(ctx, o.Store, o.Job.Prefix, o.Job.Name, true)
	if err != nil {
		return nil, err
	}
	var snaps []Snapshot
	byID := map[string]*BackupInfo{}
	res := &PruneResult{}
	for _, b := range list {
		byID[b.ID] = b
		if b.Complete {
			snaps = append(snaps, Snapshot{ID: b.ID, Time: b.StartedAt})
		} else if now().Sub(b.StartedAt) > grace {
			res.Partial = append(res.Partial, b.ID)
		}
	}
	res.Decisions = ApplyRetention(snaps, o.Job.Retention, o.Location)
	var doomed []*BackupInfo
	for _, d := range res.Decisions {
		if !d.Keep {
			doomed = append(doomed, byID[d.ID])
		}
	}
	for _, id := range res.Partial {
		doomed = append(doomed, byID[id])
	}
	if orph, ok := o.Store.(Orphans); ok {
		names, err := orph.Orphans(ctx, JobPrefix(o.Job.Prefix, o.Job.Name), grace)
		if err != nil {
			return nil, fmt.Errorf("listing orphaned parts: %w", err)
		}
		res.Orphans = names
	}
	if o.DryRun {
		return res, nil
	}
	for _, b := range doomed {
		// The manifest goes first: if prune is interrupted, what remains
		// is a partial backup, which is never listed and pruned next time.
		var names []string
		if b.Manifest != "" {
			names = append(names, b.Manifest)
		}
		for _, n := range b.objects {
			if n != b.Manifest {
				names = append(names, n)
			}
		}
		for _, n := range names {
			if err := o.Store.Delete(ctx, n); err != nil {
				return res, fmt.Errorf("pruning backup %s of job %s: deleting %s: %w", b.ID, o.Job.Name, n, err)
			}
			res.Deleted = append(res.Deleted, n)
		}
		log.Info("pruned backup", "job", o.Job.Name, "id", b.ID, "complete", b.Complete)
	}
	if orph, ok := o.Store.(Orphans); ok && len(res.Orphans) > 0 {
		if err := orph.DeleteOrphans(ctx, res.Orphans); err != nil {
			return res, fmt.Errorf("deleting orphaned parts: %w", err)
		}
		res.Deleted = append(res.Deleted, res.Orphans...)
	}
	return res, nil
}
