package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/storage"
)

// ManifestName is the object written last in a backup's directory: its
// presence is what makes a backup complete.
const ManifestName = "manifest.json"

// ManifestFormat is the version of the manifest layout.
const ManifestFormat = 1

// Manifest describes one complete backup.
type Manifest struct {
	Format     int       `json:"format"`
	Tool       ToolInfo  `json:"tool"`
	Job        string    `json:"job"`
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`

	Server      ServerInfo      `json:"server"`
	Consistency ConsistencyInfo `json:"consistency"`
	Databases   []string        `json:"databases"`
	Tables      []TableInfo     `json:"tables"`

	Compression      compress.Method `json:"compression"`
	CompressionLevel int             `json:"compression_level,omitempty"`
	Encryption       *Encryption     `json:"encryption,omitempty"`

	// Object is the SQL stream as stored (compressed, then encrypted), with
	// its segments when the target split it.
	Object storage.Object `json:"object"`
	// StreamSHA256 is the SHA-256 of the whole stored stream.
	StreamSHA256 string `json:"stream_sha256"`
	// SQLBytes is the size of the uncompressed SQL.
	SQLBytes int64 `json:"sql_bytes"`
}

// ToolInfo names the ops build that wrote a backup.
type ToolInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

// ServerInfo describes the dumped server.
type ServerInfo struct {
	Version string `json:"version"`
}

// ConsistencyInfo records how the snapshot was taken and its binlog position.
type ConsistencyInfo struct {
	Mode       string `json:"mode"`
	BinlogFile string `json:"binlog_file,omitempty"`
	BinlogPos  uint64 `json:"binlog_pos,omitempty"`
	GTID       string `json:"gtid,omitempty"`
}

// TableInfo is one dumped table.
type TableInfo struct {
	Database string `json:"database"`
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	// Checksum is CHECKSUM TABLE taken inside the dump's snapshot, when
	// known; verify --restore-test compares it after a restore.
	Checksum *uint64 `json:"checksum,omitempty"`
}

// Encryption lists the public part of the age recipients.
type Encryption struct {
	Type       string   `json:"type"` // "age"
	Recipients []string `json:"recipients"`
}

// BackupInfo is one backup as `list` shows it.
type BackupInfo struct {
	Job         string          `json:"job"`
	ID          string          `json:"id"`
	StartedAt   time.Time       `json:"started_at"`
	FinishedAt  time.Time       `json:"finished_at,omitzero"`
	Complete    bool            `json:"complete"`
	Object      string          `json:"object"`
	Manifest    string          `json:"manifest"`
	Size        int64           `json:"size"`
	Databases   []string        `json:"databases"`
	Compression compress.Method `json:"compression"`
	Encrypted   bool            `json:"encrypted"`

	manifest *Manifest
	objects  []string // every object under the backup's directory
}

// Manifest returns the parsed manifest of a complete backup.
func (b *BackupInfo) ManifestData() *Manifest { return b.manifest }

// Objects lists every stored object of the backup (data, manifest, leftovers).
func (b *BackupInfo) Objects() []string { return b.objects }

// idLayout is the layout of backup IDs: the start time in UTC.
const idLayout = "20060102T150405Z"

// NewID returns the ID of a backup started at t.
func NewID(t time.Time) string { return t.UTC().Format(idLayout) }

// JobPrefix is the object-name prefix of every backup of a job.
func JobPrefix(prefix, job string) string { return prefix + job + "/" }

// streamName is the name of the SQL stream object inside a backup.
func streamName(m compress.Method, encrypted bool) string {
	n := "dump.sql" + m.Suffix()
	if encrypted {
		n += ".age"
	}
	return n
}

// ListBackups reads a job's backups from a store, newest first. Backups
// without a manifest are partial; they are returned only when all is set.
func ListBackups(ctx context.Context, s storage.Store, prefix, job string, all bool) ([]*BackupInfo, error) {
	jp := JobPrefix(prefix, job)
	objs, err := s.List(ctx, jp)
	if err != nil {
		return nil, fmt.Errorf("listing backups of job %s in %s: %w", job, s, err)
	}
	byID := map[string]*BackupInfo{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Name, jp)
		id, file, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(file, "/") {
			continue // not ours
		}
		t, err := time.Parse(idLayout, strings.SplitN(id, "-", 2)[0])
		if err != nil {
			continue
		}
		b := byID[id]
		if b == nil {
			b = &BackupInfo{Job: job, ID: id, StartedAt: t}
			byID[id] = b
		}
		b.objects = append(b.objects, o.Name)
		if file == ManifestName {
			b.Manifest = o.Name
		} else if strings.HasPrefix(file, "dump.sql") {
			b.Object = o.Name
			b.Size = o.Size
		}
	}
	var out []*BackupInfo
	for _, b := range byID {
		if b.Manifest != "" {
			m, err := ReadManifest(ctx, s, b.Manifest)
			if err != nil {
				return nil, err
			}
			b.manifest = m
			b.Complete = m.Object.Name != "" && b.Object == m.Object.Name
			b.StartedAt, b.FinishedAt = m.StartedAt, m.FinishedAt
			b.Databases, b.Compression, b.Encrypted = m.Databases, m.Compression, m.Encryption != nil
			b.Size = m.Object.Size
		}
		if !b.Complete && !all {
			continue
		}
		if b.Databases == nil {
			b.Databases = []string{}
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// ReadManifest fetches and parses a manifest.
func ReadManifest(ctx context.Context, s storage.Store, name string) (*Manifest, error) {
	rc, err := s.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", name, err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %s is corrupt: %w", name, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("manifest %s has format %d; this ops reads format %d", name, m.Format, ManifestFormat)
	}
	return &m, nil
}

// WriteManifest stores a manifest; it must be the last object of a backup.
func WriteManifest(ctx context.Context, s storage.Store, dir string, m *Manifest) (storage.Object, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return storage.Object{}, err
	}
	return s.Put(ctx, path.Join(dir, ManifestName), bytes.NewReader(append(data, '\n')))
}

// FindBackup picks a complete backup by ID, or the newest for "latest" / "".
func FindBackup(ctx context.Context, s storage.Store, prefix, job, id string) (*BackupInfo, error) {
	list, err := ListBackups(ctx, s, prefix, job, true)
	if err != nil {
		return nil, err
	}
	for _, b := range list {
		if (id == "" || id == "latest") && b.Complete {
			return b, nil
		}
		if b.ID == id {
			if !b.Complete {
				return nil, fmt.Errorf("backup %s of job %s is partial (no manifest): refusing to use it", id, job)
			}
			return b, nil
		}
	}
	if id == "" || id == "latest" {
		return nil, fmt.Errorf("job %s has no complete backup in %s: %w", job, s, ErrNoBackup)
	}
	return nil, fmt.Errorf("job %s has no backup %s in %s: %w", job, id, s, ErrNoBackup)
}

// ErrNoBackup is matched by errors for a backup that does not exist.
var ErrNoBackup = errors.New("no such backup")
