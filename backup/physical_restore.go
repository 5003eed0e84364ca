package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/storage"
)

// PhysicalRestoreOptions configure restoring a physical backup (and the
// chain it ends) into a data directory.
type PhysicalRestoreOptions struct {
	Store storage.Store
	// List is the job's listing (ListBackups, complete ones suffice) and
	// ID the backup to restore: its chain is taken from the listing.
	List []*catalog.BackupInfo
	ID   string
	// Datadir is where the prepared data directory is left: it must be
	// absent or empty.
	Datadir    string
	Identities []age.Identity
	Logger     *slog.Logger
	// Binary is mariadb-backup (the job's physical.binary); Mbstream the
	// extractor (mbstream when empty).
	Binary, Mbstream string
	// TrustUnauthenticated and RequireEncryption: as for RestoreBackup,
	// for every backup of the chain.
	TrustUnauthenticated, RequireEncryption bool
	// Progress, when set, is called with the stored bytes read so far
	// (every object is read twice: checked, then extracted).
	Progress func(read int64)
}

// ErrDatadirNotEmpty is matched by the error of a --datadir that exists
// and is not an empty directory.
var ErrDatadirNotEmpty = errors.New("the data directory is not empty")

// CheckDatadir refuses a target that exists and is not an empty directory.
func CheckDatadir(dir string) error {
	if dir == "" {
		return fmt.Errorf("no data directory given: %w", ErrDatadirNotEmpty)
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("data directory %s: %w: %w", dir, err, ErrDatadirNotEmpty)
	case len(ents) > 0:
		return fmt.Errorf("data directory %s holds %d entries: a restore needs an absent or empty directory (ops never restores over data): %w", dir, len(ents), ErrDatadirNotEmpty)
	}
	return nil
}

// RestorePhysical restores the chain ending at o.ID into o.Datadir: every
// object of the chain is read and checked first (size, SHA-256, every
// chunk's SHA-256, the manifests' MACs), and only then is anything
// extracted; then the full is extracted and prepared, and each incremental
// extracted beside it and applied in order (--incremental-dir). The
// directory is left owned by mysql when run as root. On failure what the
// restore wrote is removed. It returns the chain restored.
func RestorePhysical(ctx context.Context, o PhysicalRestoreOptions) ([]*catalog.Manifest, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := CheckDatadir(o.Datadir); err != nil {
		return nil, err
	}
	chain, err := ChainOf(o.List, o.ID)
	if err != nil {
		return nil, err
	}
	byID := map[string]*catalog.BackupInfo{}
	for _, b := range o.List {
		byID[b.ID] = b
	}
	var read int64
	progress := func(n int64) {
		read += n
		if o.Progress != nil {
			o.Progress(read)
		}
	}
	for _, m := range chain {
		if err := checkRestorable(o, byID[m.ID], m); err != nil {
			return nil, err
		}
		if err := checkStored(ctx, o.Store, m, progress); err != nil {
			return nil, err
		}
	}
	o.Logger.Info("physical restore: every object of the chain checked", "backups", len(chain), "datadir", o.Datadir)
	created, err := makeDatadir(o.Datadir)
	if err != nil {
		return nil, err
	}
	if err := extractAndPrepare(ctx, o, chain, progress); err != nil {
		cleanDatadir(o.Datadir, created)
		return nil, err
	}
	if err := physical.ChownMySQL(o.Datadir); err != nil {
		cleanDatadir(o.Datadir, created)
		return nil, err
	}
	return chain, nil
}

// checkRestorable applies RestoreBackup's refusals to one backup of a chain.
func checkRestorable(o PhysicalRestoreOptions, b *catalog.BackupInfo, m *catalog.Manifest) error {
	if b == nil {
		return fmt.Errorf("backup %s is not in the listing: %w", m.ID, ErrBrokenChain)
	}
	if err := checkAuthenticated(BackupRestoreOptions{Backup: b, TrustUnauthenticated: o.TrustUnauthenticated}); err != nil {
		return err
	}
	if o.RequireEncryption && m.Encryption == nil {
		return fmt.Errorf("backup %s is not encrypted, but its job encrypts every backup: refusing it (it was not written by this job): %w", m.ID, catalog.ErrNotComplete)
	}
	if m.Encryption != nil && len(o.Identities) == 0 {
		return fmt.Errorf("backup %s is encrypted: an age identity file is needed (--identity FILE)", m.ID)
	}
	if c := m.Chunks; c != nil && (c.Size < minChunkSize || c.Size > maxChunkSize) {
		return fmt.Errorf("backup %s: the manifest's chunk size %d is out of range (%d to %d): %w", m.ID, c.Size, minChunkSize, maxChunkSize, ErrChunkMismatch)
	}
	return nil
}

// checkStored reads a stored stream whole and checks every chunk, its size
// and its SHA-256 against the manifest.
func checkStored(ctx context.Context, s storage.Store, m *catalog.Manifest, progress func(int64)) error {
	if m.Chunks == nil {
		return checkWholeStream(ctx, s, m)
	}
	src, h, closeFn, err := openVerified(ctx, s, m, progress)
	if err != nil {
		return err
	}
	defer closeFn()
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("backup %s: nothing was extracted: %w", m.ID, err)
	}
	return h.check(m)
}

// streamCheck counts and hashes a whole stored stream.
type streamCheck struct{ sizeHash }

func (c *streamCheck) check(m *catalog.Manifest) error {
	if got := hex.EncodeToString(c.h.Sum(nil)); c.n != m.Object.Size || got != m.StreamSHA256 {
		return fmt.Errorf("backup %s: the stored stream has %d bytes and SHA-256 %s, the manifest says %d and %s: %w",
			m.ID, c.n, got, m.Object.Size, m.StreamSHA256, ErrStreamMismatch)
	}
	return nil
}

// openVerified opens a stored stream for reading through the chunk check.
func openVerified(ctx context.Context, s storage.Store, m *catalog.Manifest, progress func(int64)) (io.Reader, *streamCheck, func(), error) {
	rc, err := s.Open(ctx, m.Object.Name)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backup %s: %w", m.ID, err)
	}
	h := &streamCheck{sizeHash{h: sha256.New()}}
	var src io.Reader = io.TeeReader(storage.ContextReader(ctx, rc), h)
	if m.Chunks != nil {
		src = newVerifiedReader(src, m.Chunks)
	}
	return &deltaReader{r: src, fn: progress}, h, func() { rc.Close() }, nil
}

// deltaReader calls fn with the bytes of each read.
type deltaReader struct {
	r  io.Reader
	fn func(int64)
}

func (d *deltaReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.fn(int64(n))
	return n, err
}

// extractAndPrepare extracts and prepares the full, then each incremental.
func extractAndPrepare(ctx context.Context, o PhysicalRestoreOptions, chain []*catalog.Manifest, progress func(int64)) error {
	for i, m := range chain {
		dir := o.Datadir
		if i > 0 {
			inc, err := os.MkdirTemp(filepath.Dir(filepath.Clean(o.Datadir)), "."+filepath.Base(o.Datadir)+".ops-incremental-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(inc)
			dir = inc
		}
		if err := extractOne(ctx, o, m, dir, progress); err != nil {
			return err
		}
		if i == 0 {
			o.Logger.Info("physical restore: preparing the full backup", "id", m.ID)
			if err := physical.Prepare(ctx, o.Logger, o.Binary, o.Datadir, ""); err != nil {
				return fmt.Errorf("backup %s: %w", m.ID, err)
			}
			continue
		}
		o.Logger.Info("physical restore: applying an incremental backup", "id", m.ID, "base", m.Base)
		if err := physical.Prepare(ctx, o.Logger, o.Binary, o.Datadir, dir); err != nil {
			return fmt.Errorf("backup %s: %w", m.ID, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

// extractOne streams one backup (checked chunk by chunk again: the store
// could change between the two reads) through age and decompression into
// mbstream, and checks the whole stream's SHA-256 at its end.
func extractOne(ctx context.Context, o PhysicalRestoreOptions, m *catalog.Manifest, dir string, progress func(int64)) error {
	src, h, closeFn, err := openVerified(ctx, o.Store, m, progress)
	if err != nil {
		return err
	}
	defer closeFn()
	if m.Encryption != nil {
		if src, err = age.Decrypt(src, o.Identities...); err != nil {
			return fmt.Errorf("backup %s: age: %w", m.ID, err)
		}
	}
	dr, _, release, err := compress.NewReader(src)
	if err != nil {
		return fmt.Errorf("backup %s: %w", m.ID, err)
	}
	defer release()
	if err := physical.Extract(ctx, o.Logger, o.Mbstream, dr, dir); err != nil {
		return fmt.Errorf("backup %s: %w", m.ID, err)
	}
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("backup %s: reading the end of the stream: %w", m.ID, err)
	}
	return h.check(m)
}

// makeDatadir creates dir (0750) when absent; created says whether it did.
func makeDatadir(dir string) (bool, error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return false, fmt.Errorf("creating the data directory: %w", err)
	}
	return true, nil
}

// cleanDatadir removes what a failed restore wrote: dir itself when it
// created it, else dir's contents (it was empty).
func cleanDatadir(dir string, created bool) {
	if created {
		os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
