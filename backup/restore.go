package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/mysql/schema"
	"github.com/opsteam/ops/backup/mysql/sqltext"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/storage"
)

// BackupRestoreOptions configure restoring a stored backup.
type BackupRestoreOptions struct {
	Store  storage.Store
	Backup *catalog.BackupInfo
	MySQL  conn.Config
	// Threads is the number of connections loading data and digesting
	// the restored tables: the job's threads (Job.RestoreOptions).
	Threads int
	// Databases maps SRC → DST; when set, only these are restored.
	Databases  map[string]string
	Identities []age.Identity // needed for encrypted backups
	Logger     *slog.Logger
	Progress   func(stored int64)
	// Restore is the SQL sink; restore.Restore when nil (tests pass a fake).
	Restore RestoreFunc
	// Replace drops and recreates target databases that exist and are
	// not empty (otherwise they are refused); KeepPartial keeps what a
	// failed restore created.
	Replace, KeepPartial bool
	// DeferSwap: see restore.RestoreOptions.DeferSwap.
	DeferSwap bool
	// TrustUnauthenticated restores a backup whose manifest no key
	// authenticated (a new machine without the job's key); the statement
	// guard stays on.
	TrustUnauthenticated bool
	// RequireEncryption refuses a backup that is not encrypted (the job
	// encrypts its backups: a plain one was put there by someone else).
	RequireEncryption bool
	// Digest computes the content digests of restored tables for the
	// restore test; dump.DigestTables when nil (tests pass a fake).
	Digest func(ctx context.Context, cfg conn.Config, logger *slog.Logger, databases []string, threads int) (map[dump.TableRef]dump.TableDigest, error)
}

// RestoreOptions are what every restore of the job's backups takes from
// the job: its store, the restore account (RestoreConn: restore_mysql, else
// mysql), its threads, and whether its backups must be encrypted.
func (j *Job) RestoreOptions(store storage.Store) BackupRestoreOptions {
	return BackupRestoreOptions{Store: store, MySQL: j.RestoreConn(), Threads: j.Threads, RequireEncryption: len(j.EncryptTo) > 0}
}

// RestoreFunc loads an SQL stream (compressed or not) into a server.
type RestoreFunc func(ctx context.Context, opts restore.RestoreOptions, r io.Reader) (*restore.RestoreResult, error)

// RestoreBackup streams a complete backup from its store into a server:
// read → verify → (age decrypt) → decompress → SQL. The stored stream is
// read one chunk (ChunkSize) at a time; each chunk's SHA-256 is checked
// against the manifest's list before any of its bytes go further, so no
// statement derived from a byte the backup did not write reaches the
// server. The whole stream's SHA-256 is checked again at its end.
// A backup written before the chunk list existed is hashed whole first
// (a second read of the object), then streamed with the end check.
//
// A manifest that no key authenticated is refused unless
// TrustUnauthenticated is set: without a key, whoever can write to the
// storage can write a matching manifest for any stream.
func RestoreBackup(ctx context.Context, o BackupRestoreOptions) (*restore.RestoreResult, error) {
	m := o.Backup.ManifestData()
	if m == nil {
		return nil, fmt.Errorf("backup %s is %s: refusing to restore it", o.Backup.ID, o.Backup.Describe())
	}
	if err := checkAuthenticated(o); err != nil {
		return nil, err
	}
	if o.RequireEncryption && m.Encryption == nil {
		return nil, fmt.Errorf("backup %s is not encrypted, but its job encrypts every backup: refusing it (it was not written by this job): %w", m.ID, catalog.ErrNotComplete)
	}
	if c := m.Chunks; c != nil && (c.Size < minChunkSize || c.Size > maxChunkSize) {
		return nil, fmt.Errorf("backup %s: the manifest's chunk size %d is out of range (%d to %d): %w", m.ID, c.Size, minChunkSize, maxChunkSize, ErrChunkMismatch)
	}
	if m.Chunks == nil {
		logger := o.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		logger.Warn("the backup's manifest has no chunk hashes (written by an older ops): the stored stream is read and hashed whole before the restore reads it again", "id", m.ID, "object", m.Object.Name)
		if err := checkWholeStream(ctx, o.Store, m); err != nil {
			return nil, err
		}
	}
	rc, err := o.Store.Open(ctx, m.Object.Name)
	if err != nil {
		return nil, fmt.Errorf("restore of backup %s: %w", m.ID, err)
	}
	defer rc.Close()
	h := sha256.New()
	var src io.Reader = io.TeeReader(rc, h)
	if m.Chunks != nil {
		src = newVerifiedReader(src, m.Chunks)
	}
	if o.Progress != nil {
		src = &progressReader{r: src, fn: o.Progress}
	}
	if m.Encryption != nil {
		if len(o.Identities) == 0 {
			return nil, fmt.Errorf("backup %s is encrypted to %s: an age identity file is needed (--identity FILE)", m.ID, strings.Join(m.Encryption.Recipients, ", "))
		}
		if src, err = age.Decrypt(src, o.Identities...); err != nil {
			return nil, fmt.Errorf("backup %s: age: %w", m.ID, err)
		}
	}
	mapping := o.Databases
	if len(mapping) == 0 { // every database of the backup, under its own name
		mapping = map[string]string{}
		for _, db := range m.Databases {
			mapping[db] = db
		}
	}
	// The stream's SHA-256 is known only at its end: Finish checks it
	// (a second line behind the chunk hashes) before the restore is reported done, so that a mismatch
	// drops what was restored like any other failure.
	finish := func() error {
		if _, err := io.Copy(io.Discard, src); err != nil { // age/zstd trailers
			return fmt.Errorf("reading the end of the stream: %w", err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != m.StreamSHA256 {
			return fmt.Errorf("the stored stream's SHA-256 is %s, the manifest says %s: the restored data is suspect and was dropped: %w", got, m.StreamSHA256, ErrStreamMismatch)
		}
		return nil
	}
	load := o.Restore
	if load == nil {
		load = restore.Restore
	}
	// Definers (and enabled events) are kept only for what an authenticated
	// manifest lists (backup/mysql/guard/definer.go).
	var trusted []schema.StoredObject
	if o.Backup.Authenticated {
		trusted = m.Objects
	}
	res, err := load(ctx, restore.RestoreOptions{MySQL: o.MySQL, Databases: mapping, Threads: o.Threads, Logger: o.Logger,
		Replace: o.Replace, DeferSwap: o.DeferSwap, KeepPartial: o.KeepPartial, Compression: m.Compression, Finish: finish, TrustedObjects: trusted}, src)
	if err != nil {
		return nil, fmt.Errorf("restore of backup %s: %w", m.ID, err)
	}
	return res, nil
}

// The chunk sizes a manifest may name: a forged size must not make the
// restore allocate without bound.
const (
	minChunkSize = 64 << 10
	maxChunkSize = 64 << 20
)

// sizeHash hashes and counts what is written to it.
type sizeHash struct {
	h hash.Hash
	n int64
}

func (s *sizeHash) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	return s.h.Write(p)
}

// checkWholeStream reads a stored stream once and checks its size and
// SHA-256 against the manifest (for manifests without chunk hashes).
func checkWholeStream(ctx context.Context, s storage.Store, m *catalog.Manifest) error {
	rc, err := s.Open(ctx, m.Object.Name)
	if err != nil {
		return fmt.Errorf("restore of backup %s: %w", m.ID, err)
	}
	defer rc.Close()
	h := &sizeHash{h: sha256.New()}
	if _, err := io.Copy(h, storage.ContextReader(ctx, rc)); err != nil {
		return fmt.Errorf("restore of backup %s: reading %s: %w", m.ID, m.Object.Name, err)
	}
	if got := hex.EncodeToString(h.h.Sum(nil)); h.n != m.Object.Size || got != m.StreamSHA256 {
		return fmt.Errorf("restore of backup %s: the stored stream has %d bytes and SHA-256 %s, the manifest says %d and %s: nothing was restored: %w",
			m.ID, h.n, got, m.Object.Size, m.StreamSHA256, ErrStreamMismatch)
	}
	return nil
}

// checkAuthenticated refuses a backup whose manifest no key authenticated,
// unless the caller accepted the risk.
func checkAuthenticated(o BackupRestoreOptions) error {
	if o.Backup.Authenticated || o.TrustUnauthenticated {
		return nil
	}
	return fmt.Errorf("backup %s: its manifest is not authenticated (the job has no manifest key here): anyone who can write to the storage could have forged it with the stream; "+
		"give the job's key (manifest_key_file), or accept the risk with --trust-unauthenticated-manifest: %w", o.Backup.ID, ErrUnauthenticated)
}

// ErrUnauthenticated is matched by the error of a restore of a backup whose
// manifest no key authenticated, without TrustUnauthenticated.
var ErrUnauthenticated = errors.New("manifest not authenticated")

// ErrStreamMismatch is matched by the error of a stream whose SHA-256
// differs from its manifest's.
var ErrStreamMismatch = errors.New("stream does not match the manifest")

// TableCheck compares one table after a test restore.
type TableCheck struct {
	Database, Table string
	WantRows        int64
	GotRows         int64
	WantChecksum    *uint64
	GotChecksum     *uint64
	WantDigest      string
	GotDigest       string
}

// OK reports whether the restored table matches the manifest.
func (c TableCheck) OK() bool {
	if c.WantRows != c.GotRows {
		return false
	}
	if c.WantChecksum != nil && (c.GotChecksum == nil || *c.GotChecksum != *c.WantChecksum) {
		return false
	}
	return c.WantDigest == c.GotDigest
}

// RestoreTest restores a backup into scratch databases (ops_verify_<rand>_<db>)
// on the given server, compares every table's row count (and CHECKSUM TABLE
// when the manifest has it) with the manifest, and drops the scratch
// databases again.
func RestoreTest(ctx context.Context, o BackupRestoreOptions) ([]TableCheck, error) {
	m := o.Backup.ManifestData()
	if m == nil {
		return nil, fmt.Errorf("backup %s is partial (no manifest)", o.Backup.ID)
	}
	if err := checkAuthenticated(o); err != nil { // before the server is touched
		return nil, err
	}
	tag := conn.ScratchTag()
	mapping := map[string]string{}
	for _, db := range m.Databases {
		mapping[db] = scratchName(tag, db)
	}
	db, err := conn.Connect(ctx, o.MySQL, o.Logger)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	defer func() {
		for _, dst := range mapping {
			_, _ = db.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+sqltext.QuoteIdent(dst))
		}
	}()
	ro := o
	ro.Databases = mapping
	if _, err := RestoreBackup(ctx, ro); err != nil {
		return nil, err
	}
	digest := o.Digest
	if digest == nil {
		digest = dump.DigestTables
	}
	var digests map[dump.TableRef]dump.TableDigest
	if hasDigests(m) {
		scratch := make([]string, 0, len(mapping))
		for _, dst := range mapping {
			scratch = append(scratch, dst)
		}
		if digests, err = digest(ctx, o.MySQL, o.Logger, scratch, o.Threads); err != nil {
			return nil, fmt.Errorf("restore test: %w", err)
		}
	}
	return checkTables(m, func(t catalog.TableInfo) (TableState, error) {
		if t.Digest != "" {
			d, ok := digests[dump.TableRef{Database: mapping[t.Database], Name: t.Name}]
			if !ok {
				return TableState{}, fmt.Errorf("not restored")
			}
			return TableState{Rows: d.Rows, Digest: d.Digest}, nil
		}
		return tableState(ctx, db, sqltext.QuoteIdent(mapping[t.Database])+"."+sqltext.QuoteIdent(t.Name), t.Checksum != nil)
	})
}

// hasDigests reports whether the manifest records content digests.
func hasDigests(m *catalog.Manifest) bool {
	for _, t := range m.Tables {
		if t.Digest != "" {
			return true
		}
	}
	return false
}

// TableState is what a restored table holds: its row count and, when
// asked for, its CHECKSUM TABLE (nil when the server gives none).
type TableState struct {
	Rows     int64
	Checksum *uint64
	Digest   string
}

// checkTables compares every table of the manifest with what state reports
// of its restored copy.
func checkTables(m *catalog.Manifest, state func(catalog.TableInfo) (TableState, error)) ([]TableCheck, error) {
	out := make([]TableCheck, 0, len(m.Tables))
	for _, t := range m.Tables {
		got, err := state(t)
		if err != nil {
			return nil, fmt.Errorf("restore test: %s.%s: %w", t.Database, t.Name, err)
		}
		out = append(out, TableCheck{Database: t.Database, Table: t.Name, WantRows: t.Rows, GotRows: got.Rows,
			WantChecksum: t.Checksum, GotChecksum: got.Checksum, WantDigest: t.Digest, GotDigest: got.Digest})
	}
	return out, nil
}

// tableState counts the rows of a table (quoted name q) and takes its
// CHECKSUM TABLE when withChecksum is set.
func tableState(ctx context.Context, db *sql.DB, q string, withChecksum bool) (TableState, error) {
	var st TableState
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(&st.Rows); err != nil {
		return st, fmt.Errorf("counting rows: %w", err)
	}
	if !withChecksum {
		return st, nil
	}
	var name string
	var sum *string
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+q).Scan(&name, &sum); err != nil {
		return st, fmt.Errorf("CHECKSUM TABLE: %w", err)
	}
	if sum != nil {
		v, err := strconv.ParseUint(*sum, 10, 64)
		if err != nil {
			return st, fmt.Errorf("CHECKSUM TABLE: %q is not a checksum: %w", *sum, err)
		}
		st.Checksum = &v
	}
	return st, nil
}

func scratchName(tag, db string) string {
	n := "ops_verify_" + tag + "_" + db
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}
