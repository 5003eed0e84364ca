package backup

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/mysql/physical"
)

// PhysicalRestoreTest is verify --restore-test of a physical backup: the
// chain is restored (checked, extracted, prepared) into a directory under
// scratchDir (os.TempDir when empty), a throw-away stock mariadbd
// (mariadbd when empty) is started on it (no network, its own socket) and
// every table outside the system databases is checked (CHECK TABLE) and
// counted; then the server is shut down and the directory removed.
// o.Datadir is ignored.
func PhysicalRestoreTest(ctx context.Context, o PhysicalRestoreOptions, scratchDir, mariadbd string) ([]PhysicalTableCheck, []*catalog.Manifest, error) {
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
	var out []PhysicalTableCheck
	if err == nil {
		var digests map[dump.TableRef]dump.TableDigest
		if digests, err = recordedDigests(ctx, o, chain[len(chain)-1], srv.Socket); err == nil {
			out = compareRecorded(chain[len(chain)-1], checks, digests)
		}
	}
	if serr := srv.Stop(); err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return nil, chain, fmt.Errorf("restore test of backup %s: %w", o.ID, err)
	}
	return out, chain, nil
}

// PhysicalTableCheck is what the restore test found in one table: CHECK
// TABLE and COUNT(*) on the restored copy and, when the manifest recorded
// the table, its rows and digest at the backup's point against the copy's.
type PhysicalTableCheck struct {
	physical.TableCheck
	// Recorded is set when the manifest lists the table; Record then
	// holds its figures against the copy's (compared as a logical restore
	// test compares them: TableCheck.OK).
	Recorded bool
	Record   TableCheck
	// Problem says what is wrong ("" for a sound table equal to the
	// record).
	Problem string
}

// recordedDigests reads the digests of the restored copy (on the
// throw-away server at socket) of the databases whose tables the manifest
// recorded with a digest; nil when it recorded none.
func recordedDigests(ctx context.Context, o PhysicalRestoreOptions, m *catalog.Manifest, socket string) (map[dump.TableRef]dump.TableDigest, error) {
	var dbs []string
	for _, t := range m.Tables {
		if t.Digest != "" && !slices.Contains(dbs, t.Database) {
			dbs = append(dbs, t.Database)
		}
	}
	if len(dbs) == 0 {
		return nil, nil
	}
	d, err := dump.DigestTables(ctx, conn.Config{Socket: socket, User: "root"}, o.Logger, dbs, 1)
	if err != nil {
		return nil, fmt.Errorf("reading the restored tables' digests: %w", err)
	}
	return d, nil
}

// compareRecorded pairs CHECK TABLE's results (and the copy's digests)
// with the manifest's tables: a recorded table must be in the copy with
// the same rows and digest; a table the manifest does not list is checked
// only (a backup taken without a provable snapshot lists none).
func compareRecorded(m *catalog.Manifest, checks []physical.TableCheck, digests map[dump.TableRef]dump.TableDigest) []PhysicalTableCheck {
	recorded := map[dump.TableRef]catalog.TableInfo{}
	for _, t := range m.Tables {
		recorded[dump.TableRef{Database: t.Database, Name: t.Name}] = t
	}
	out := make([]PhysicalTableCheck, 0, len(checks))
	for _, c := range checks {
		r := PhysicalTableCheck{TableCheck: c}
		if c.Status != "OK" {
			r.Problem = "CHECK TABLE: " + c.Status
		}
		ref := dump.TableRef{Database: c.Database, Name: c.Table}
		if want, ok := recorded[ref]; ok {
			delete(recorded, ref)
			r.Recorded = true
			r.Record = TableCheck{Database: c.Database, Table: c.Table, WantRows: want.Rows, GotRows: c.Rows, WantDigest: want.Digest}
			if want.Digest != "" { // a record of rows only is compared by rows
				r.Record.GotDigest = digests[ref].Digest
			}
			switch {
			case r.Problem != "" || r.Record.OK():
			case c.Rows != want.Rows:
				r.Problem = fmt.Sprintf("%d rows, the backup recorded %d", c.Rows, want.Rows)
			default:
				r.Problem = fmt.Sprintf("digest %s, the backup recorded %s", r.Record.GotDigest, want.Digest)
			}
		}
		out = append(out, r)
	}
	for _, t := range recorded {
		out = append(out, PhysicalTableCheck{TableCheck: physical.TableCheck{Database: t.Database, Table: t.Name, Status: "missing"},
			Recorded: true, Record: TableCheck{Database: t.Database, Table: t.Name, WantRows: t.Rows, WantDigest: t.Digest},
			Problem: "the backup recorded it, the restored copy does not have it"})
	}
	slices.SortFunc(out, func(a, b PhysicalTableCheck) int {
		return cmp.Or(cmp.Compare(a.Database, b.Database), cmp.Compare(a.Table, b.Table))
	})
	return out
}
