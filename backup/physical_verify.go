package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/physical"
)

// PhysicalRestoreTest is verify --restore-test of a physical backup: the
// chain is restored (checked, extracted, prepared) into a directory under
// scratchDir (os.TempDir when empty), a throw-away stock mariadbd
// (mariadbd when empty) is started on it (no network, its own socket) and
// every table outside the system databases is checked (CHECK TABLE) and
// counted; then the server is shut down and the directory removed.
// o.Datadir is ignored.
func PhysicalRestoreTest(ctx context.Context, o PhysicalRestoreOptions, scratchDir, mariadbd string) ([]physical.TableCheck, []*catalog.Manifest, error) {
	dir, err := os.MkdirTemp(scratchDir, "ops-physical-verify-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // the server runs as mysql
		return nil, nil, err
	}
	o.Datadir = filepath.Join(dir, "data")
	chain, err := RestorePhysical(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o750); err != nil {
		return nil, nil, err
	}
	srv, err := physical.StartScratch(ctx, o.Logger, mariadbd, o.Datadir, run)
	if err != nil {
		return nil, chain, fmt.Errorf("restore test of backup %s: %w", o.ID, err)
	}
	checks, err := physical.CheckTables(ctx, srv.DB)
	if serr := srv.Stop(); err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return nil, chain, fmt.Errorf("restore test of backup %s: %w", o.ID, err)
	}
	return checks, chain, nil
}
