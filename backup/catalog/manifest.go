package catalog

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/schema"
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
	// Chunks lists the SHA-256 of every ChunkSize bytes of the stored
	// stream: restore checks each chunk before anything in it is used.
	// Manifests written before ops recorded it have none.
	Chunks *ChunkHashes `json:"chunks,omitempty"`
	// SQLBytes is the size of the uncompressed SQL.
	SQLBytes int64 `json:"sql_bytes"`
	// Objects are the views, routines, triggers and events of the dump
	// with their definers: a restore keeps a DEFINER (and an event's
	// ENABLE) only for an object listed here, and only when the manifest's
	// MAC was checked (see restore.RestoreOptions.TrustedObjects).
	Objects []schema.StoredObject `json:"objects,omitempty"`
	// Method is "physical" for a mariadb-backup stream ("" and "logical":
	// an SQL dump); Kind is "full" or "incremental" ("" is full); Base is
	// the ID of the backup an incremental builds on.
	Method string `json:"method,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Base   string `json:"base,omitempty"`
	// Physical is what a physical backup's restore needs (physical only).
	Physical *PhysicalInfo `json:"physical,omitempty"`
	// MAC authenticates the manifest when the job has a manifest_key_file:
	// "hmac-sha256:" and the HMAC of the manifest encoded without it.
	MAC string `json:"mac,omitempty"`
}

// The methods and kinds of backups.
const (
	MethodLogical   = "logical"
	MethodPhysical  = "physical"
	KindFull        = "full"
	KindIncremental = "incremental"
)

// PhysicalInfo is what mariadb-backup's info files said of a physical
// backup, and the server it was taken from (a changed server starts a new
// chain).
type PhysicalInfo struct {
	FromLSN     uint64 `json:"from_lsn"`
	ToLSN       uint64 `json:"to_lsn"`
	LastLSN     uint64 `json:"last_lsn,omitempty"`
	ToolVersion string `json:"tool_version,omitempty"`
	ServerID    uint64 `json:"server_id"`
	Datadir     string `json:"datadir"`
	// StreamBytes is the size of the xbstream before compression.
	StreamBytes int64 `json:"stream_bytes"`
}

// MethodOf is m's method, "logical" when it names none.
func (m *Manifest) MethodOf() string {
	if m.Method == "" {
		return MethodLogical
	}
	return m.Method
}

// KindOf is m's kind, "full" when it names none.
func (m *Manifest) KindOf() string {
	if m.Kind == "" {
		return KindFull
	}
	return m.Kind
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
	// SnapshotAt is the server's clock just after the snapshot: a
	// point-in-time restore to a time after it may start from this backup.
	SnapshotAt time.Time `json:"snapshot_at,omitzero"`
}

// TableInfo is one dumped table.
type TableInfo struct {
	Database string `json:"database"`
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	// Digest is the table's content digest, computed from the rows as they
	// streamed through the dumper inside the snapshot (dump.DigestTables);
	// verify --restore-test computes it again over the restored copy.
	Digest string `json:"digest,omitempty"`
	// Checksum is CHECKSUM TABLE taken inside the dump's snapshot, as
	// backups written before the digest recorded it; verify --restore-test
	// still compares it.
	Checksum *uint64 `json:"checksum,omitempty"`
}

// Encryption lists the public part of the age recipients.
type Encryption struct {
	Type       string   `json:"type"` // "age"
	Recipients []string `json:"recipients"`
}

// The status of a backup in a listing.
const (
	StatusComplete  = "complete"  // manifest read, stream present (and MAC valid when a key is set)
	StatusPartial   = "partial"   // no manifest: interrupted, failed or still running
	StatusCorrupt   = "corrupt"   // the manifest cannot be read or does not describe the stream
	StatusUntrusted = "untrusted" // the job authenticates manifests and this one's MAC is missing or wrong
)

// BackupInfo is one backup as `list` shows it.
type BackupInfo struct {
	Job         string          `json:"job"`
	ID          string          `json:"id"`
	StartedAt   time.Time       `json:"started_at"`
	FinishedAt  time.Time       `json:"finished_at,omitzero"`
	Complete    bool            `json:"complete"`
	Status      string          `json:"status"`
	Problem     string          `json:"problem,omitempty"` // why it is corrupt or untrusted
	Object      string          `json:"object"`
	Manifest    string          `json:"manifest"`
	Size        int64           `json:"size"`
	Databases   []string        `json:"databases"`
	Compression compress.Method `json:"compression"`
	Encrypted   bool            `json:"encrypted"`
	// Authenticated: the manifest's MAC is valid under the job's key.
	Authenticated bool `json:"authenticated"`
	// Method (logical|physical), Kind (full|incremental) and Base (the ID
	// an incremental builds on, "" for a full), from the manifest.
	Method string `json:"method"`
	Kind   string `json:"kind"`
	Base   string `json:"base"`

	manifest *Manifest
	unsigned *Manifest // the manifest of an untrusted backup that has no MAC at all
	objects  []string  // every object under the backup's directory
}

// AcceptUnsigned makes an untrusted backup whose manifest carries no MAC
// at all (written before the job had a key) usable by RestoreBackup and
// VerifyBackup, which still refuse it unless TrustUnauthenticated. It
// reports false, and changes nothing, for any other backup: a wrong MAC is
// never accepted.
func (b *BackupInfo) AcceptUnsigned() bool {
	if b == nil || b.unsigned == nil {
		return false
	}
	b.manifest = b.unsigned
	return true
}

// Complete returns b as List returns a complete backup whose manifest is m
// (for a caller that builds a listing by hand, such as a test of a chain).
func Complete(b BackupInfo, m *Manifest) *BackupInfo {
	b.Complete, b.Status, b.manifest = true, StatusComplete, m
	return &b
}

// ManifestData returns the parsed manifest of a complete backup.
func (b *BackupInfo) ManifestData() *Manifest { return b.manifest }

// Objects lists every stored object of the backup (data, manifest, leftovers).
func (b *BackupInfo) Objects() []string { return b.objects }

// idLayout is the layout of backup IDs: the start time in UTC.
const idLayout = "20060102T150405Z"

// NewID returns the ID of a backup started at t.
func NewID(t time.Time) string { return t.UTC().Format(idLayout) }

// JobPrefix is the object-name prefix of every backup of a job.
func JobPrefix(prefix, job string) string { return prefix + job + "/" }

// StreamName is the name of the SQL stream object inside a backup.
func StreamName(m compress.Method, encrypted bool) string {
	n := "dump.sql" + m.Suffix()
	if encrypted {
		n += ".age"
	}
	return n
}

// PhysicalStreamName is the name of a physical backup's xbstream object.
func PhysicalStreamName(m compress.Method, encrypted bool) string {
	n := physicalStream + m.Suffix()
	if encrypted {
		n += ".age"
	}
	return n
}

const physicalStream = "backup.xbstream"

// Ref names one job's backups in a store: the job's name, its object-name
// prefix (the store's prefix of the job, "" for none) and the key that
// authenticates its manifests (nil: the job has none).
type Ref struct {
	Name, Prefix string
	Key          []byte
}

// List reads a job's backups from a store, newest first. Only complete
// backups are returned unless all is set; then partial, corrupt and
// untrusted ones are listed too, with their Status. One unreadable manifest
// never hides the others.
func List(ctx context.Context, s storage.Store, job Ref, all bool) ([]*BackupInfo, error) {
	key := job.Key
	jp := JobPrefix(job.Prefix, job.Name)
	objs, err := s.List(ctx, jp)
	if err != nil {
		return nil, fmt.Errorf("listing backups of job %s in %s: %w", job.Name, s, err)
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
			b = &BackupInfo{Job: job.Name, ID: id, StartedAt: t, Status: StatusPartial}
			byID[id] = b
		}
		b.objects = append(b.objects, o.Name)
		if file == ManifestName {
			b.Manifest = o.Name
		} else if strings.HasPrefix(file, "dump.sql") || strings.HasPrefix(file, physicalStream) {
			b.Object = o.Name
			b.Size = o.Size
		}
	}
	var out []*BackupInfo
	for _, b := range byID {
		if b.Manifest != "" {
			if err := b.load(ctx, s, key); err != nil {
				return nil, err
			}
		}
		if !b.Complete && !all {
			continue
		}
		if b.Databases == nil {
			b.Databases = []string{}
		}
		if b.Method == "" { // no manifest: the stream's name says the method
			b.Method, b.Kind = MethodLogical, KindFull
			if strings.HasPrefix(path.Base(b.Object), physicalStream) {
				b.Method = MethodPhysical
			}
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return IDAfter(out[i].ID, out[j].ID) })
	return out, nil
}

// load reads the backup's manifest and sets its status. A manifest that
// cannot be read or trusted makes the backup corrupt or untrusted, not the
// listing fail; only a failure to reach the store is an error.
func (b *BackupInfo) load(ctx context.Context, s storage.Store, key []byte) error {
	m, err := ReadManifest(ctx, s, b.Manifest)
	switch {
	case errors.Is(err, ErrCorruptManifest):
		b.Status, b.Problem = StatusCorrupt, err.Error()
		return nil
	case err != nil:
		return err
	}
	b.StartedAt, b.FinishedAt = m.StartedAt, m.FinishedAt
	b.Databases, b.Compression, b.Encrypted = m.Databases, m.Compression, m.Encryption != nil
	b.Size = m.Object.Size
	b.Method, b.Kind, b.Base = m.MethodOf(), m.KindOf(), m.Base
	switch {
	case m.ID != b.ID || m.Object.Name == "" || path.Dir(m.Object.Name) != path.Dir(b.Manifest):
		b.Status, b.Problem = StatusCorrupt, fmt.Sprintf("manifest %s describes backup %q, object %q: not this backup", b.Manifest, m.ID, m.Object.Name)
	case b.Object != m.Object.Name:
		b.Status, b.Problem = StatusCorrupt, fmt.Sprintf("manifest %s names %s, which is missing", b.Manifest, m.Object.Name)
	case key != nil && !m.Authentic(key):
		b.Status, b.Problem = StatusUntrusted, fmt.Sprintf("manifest %s has no valid MAC for the job's manifest_key_file", b.Manifest)
		if m.MAC == "" {
			b.unsigned = m
		}
	default:
		b.Status, b.Complete, b.manifest, b.Authenticated = StatusComplete, true, m, key != nil
	}
	return nil
}

// ErrCorruptManifest is matched by the error of a manifest that cannot be
// parsed or has an unknown format.
var ErrCorruptManifest = errors.New("corrupt manifest")

// ReadManifest fetches and parses a manifest.
func ReadManifest(ctx context.Context, s storage.Store, name string) (*Manifest, error) {
	var m Manifest
	if err := ReadJSON(ctx, s, name, "manifest", 64<<20, &m); err != nil {
		return nil, err
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("manifest %s has format %d; this ops reads format %d: %w", name, m.Format, ManifestFormat, ErrCorruptManifest)
	}
	if _, err := compress.Parse(string(m.Compression)); err != nil {
		return nil, fmt.Errorf("manifest %s: compression %w: %w", name, err, ErrCorruptManifest)
	}
	return &m, nil
}

// WriteManifest stores a manifest; it must be the last object of a backup.
// With a key, the manifest carries its MAC.
func WriteManifest(ctx context.Context, s storage.Store, dir string, m *Manifest, key []byte) (storage.Object, error) {
	m.MAC = ""
	if key != nil {
		m.MAC = m.mac(key)
	}
	return PutJSON(ctx, s, path.Join(dir, ManifestName), m)
}

const macPrefix = "hmac-sha256:"

// mac is the MAC of the manifest encoded without its MAC field.
func (m *Manifest) mac(key []byte) string {
	c := *m
	c.MAC = ""
	return HMACOf(&c, key)
}

// Authentic reports whether the manifest's MAC is valid under key.
func (m *Manifest) Authentic(key []byte) bool { return MACMatches(m.MAC, m.mac(key)) }

// HMACOf is the MAC of v's JSON encoding (the caller clears v's MAC field).
func HMACOf(v any, key []byte) string {
	data, _ := json.Marshal(v) // manifests always encode
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return macPrefix + hex.EncodeToString(h.Sum(nil))
}

// MACMatches compares a stored MAC with the expected one in constant time.
func MACMatches(stored, want string) bool {
	return strings.HasPrefix(stored, macPrefix) && hmac.Equal([]byte(stored), []byte(want))
}

// ReadJSON reads an object of at most limit bytes and decodes it into v;
// what reads fails with an error naming what, what decodes not with one
// matching ErrCorruptManifest.
func ReadJSON(ctx context.Context, s storage.Store, name, what string, limit int64, v any) error {
	rc, err := s.Open(ctx, name)
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", what, name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", what, name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s %s: %w: %v", what, name, ErrCorruptManifest, err)
	}
	return nil
}

// PutJSON stores v as indented JSON under name.
func PutJSON(ctx context.Context, s storage.Store, name string, v any) (storage.Object, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return storage.Object{}, err
	}
	return s.Put(ctx, name, bytes.NewReader(append(data, '\n')))
}

// Find picks a complete backup by ID, or the newest complete one for
// "latest" / "". A partial, corrupt or untrusted backup named by ID is an
// error matching ErrNotComplete.
func Find(ctx context.Context, s storage.Store, job Ref, id string) (*BackupInfo, error) {
	list, err := List(ctx, s, job, true)
	if err != nil {
		return nil, err
	}
	for _, b := range list {
		if (id == "" || id == "latest") && b.Complete {
			return b, nil
		}
		if b.ID == id {
			if !b.Complete {
				return b, fmt.Errorf("backup %s of job %s is %s: refusing to use it: %w", id, job.Name, b.Describe(), ErrNotComplete)
			}
			return b, nil
		}
	}
	if id == "" || id == "latest" {
		return nil, fmt.Errorf("job %s has no complete backup in %s: %w", job.Name, s, ErrNoBackup)
	}
	return nil, fmt.Errorf("job %s has no backup %s in %s: %w", job.Name, id, s, ErrNoBackup)
}

// Describe says what is wrong with a backup that is not complete.
func (b *BackupInfo) Describe() string {
	switch b.Status {
	case StatusPartial:
		return "partial (no manifest)"
	case StatusCorrupt, StatusUntrusted:
		return b.Status + " (" + b.Problem + ")"
	}
	return b.Status
}

// ErrNotComplete is matched by the error of a partial, corrupt or
// untrusted backup asked for by ID.
var ErrNotComplete = errors.New("backup not usable")

// ErrNoBackup is matched by errors for a backup that does not exist.
var ErrNoBackup = errors.New("no such backup")

// ChunkHashes lists the SHA-256 of every Size bytes of a stored object, in
// order. The manifest's MAC covers it: with a key, a chunk cannot be
// changed without the restore noticing before it releases the chunk.
type ChunkHashes struct {
	Size   int64    `json:"size"`
	SHA256 []string `json:"sha256"`
}

// IDAfter reports whether backup ID a was made after b: IDs are the start
// second (idLayout), and freeID suffixes "-2", "-3", … to the runs after the
// first in the same second, compared as numbers ("-10" after "-9"). IDs of
// another form compare as strings.
func IDAfter(a, b string) bool {
	abase, an := splitID(a)
	bbase, bn := splitID(b)
	if abase != bbase || an == 0 || bn == 0 {
		return a > b
	}
	return an > bn
}

// splitID splits an ID into its start second and run number in that second
// (1 without a suffix); 0 when the suffix is not a number.
func splitID(id string) (string, int) {
	base, suf, ok := strings.Cut(id, "-")
	if !ok {
		return id, 1
	}
	n, err := strconv.Atoi(suf)
	if err != nil || n < 2 {
		return id, 0
	}
	return base, n
}

// DeleteManifestFirst deletes one backup or binlog chunk: its manifest
// first, then its other objects, one at a time and in that order. The order
// is what keeps listings honest: an interrupted prune leaves objects without
// a manifest, which every listing shows as partial and the next prune
// removes. Data deleted first would leave, for a while or for good, a
// manifest promising objects that are gone: a backup (or chunk) listed as
// complete that cannot be restored. It returns the names deleted, in order,
// also with an error.
func DeleteManifestFirst(ctx context.Context, s storage.Store, manifest string, objects []string) ([]string, error) {
	names := slices.DeleteFunc(slices.Clone(objects), func(n string) bool { return n == manifest })
	if manifest != "" {
		names = slices.Insert(names, 0, manifest)
	}
	deleted := make([]string, 0, len(names))
	for _, n := range names {
		if err := s.Delete(ctx, n); err != nil {
			return deleted, fmt.Errorf("deleting %s: %w", n, err)
		}
		deleted = append(deleted, n)
	}
	return deleted, nil
}
