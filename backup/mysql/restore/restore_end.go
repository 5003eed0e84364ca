package restore

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/guard"
	"log/slog"
	"time"
)

// prepareTargets checks the target databases (a non-empty one is refused
// without Replace) and, with Replace, has each non-empty target built
// under a temporary name, swapped in at the end (replace.go); guardMap is
// SRC → the name written, for the guard.
func prepareTargets(ctx context.Context, opts RestoreOptions, db *sql.DB, rn *renamer) (tg *targets, rp *replacer, guardMap map[string]string, err error) {
	tg = newTargets(db, opts.Replace)
	for _, dst := range sortedValues(opts.Databases) {
		if err := tg.check(ctx, dst); err != nil {
			return nil, nil, nil, err
		}
	}
	rp = newReplacer(tg)
	guardMap = opts.Databases
	if opts.Replace {
		rn.alias = rp.alias(ctx)
		guardMap = map[string]string{}
		for src, dst := range opts.Databases {
			w, err := rn.written(dst)
			if err != nil {
				return nil, nil, nil, err
			}
			guardMap[src] = w
		}
	}
	return tg, rp, guardMap, nil
}

// endRestore ends a restore whose statements have all run (err is their
// outcome): with Replace, the new copies are swapped in (or, with
// DeferSwap, the swap is handed to the caller); on failure what the
// restore created is dropped (kept with KeepPartial).
func endRestore(ctx context.Context, opts RestoreOptions, log *slog.Logger, res *RestoreResult, ex *restoreExec, cr *countingReader,
	rn *renamer, tg *targets, rp *replacer, db *sql.DB, lockWait int, err error) (*RestoreResult, error) {
	if err == nil && !opts.DeferSwap {
		// Complete and verified: only now is an original replaced.
		err = rp.swap(ctx, db, log)
	}
	if err != nil {
		err = explainLockWait(err, lockWait)
		if !opts.KeepPartial {
			tg.rollback(log)
		} else if made := tg.made(); len(made) > 0 {
			log.Warn("restore failed: keeping what it created (--keep-partial)", "databases", made)
		}
		for _, r := range rp.replacements() {
			log.Warn("restore --replace failed: the original database was not replaced", "database", r.dst, "new_copy", r.tmp, "kept", opts.KeepPartial)
		}
		return nil, err
	}
	res.RawBytes = cr.n.Load()
	res.Databases = rn.targets
	res.Created = tg.made()
	for _, r := range rp.replacements() {
		for i, c := range res.Created {
			if c == r.tmp {
				res.Created[i] = r.dst
			}
		}
	}
	if opts.DeferSwap {
		deferSwap(opts, log, res, tg, rp, lockWait)
	}
	res.DeferredKeys = ex.deferred
	res.KeysDuringData = ex.early
	res.Loaded, res.LoadedAsIs = ex.loader.loaded.Load(), ex.loader.asIs.Load()
	res.FinishedAt = time.Now().UTC()
	if opts.Progress != nil {
		opts.Progress(RestoreProgress{Statements: res.Statements, RawBytes: res.RawBytes})
	}
	log.Info("restore finished", "statements", res.Statements, "raw_bytes", res.RawBytes, "databases", res.Databases, "data_connections", len(ex.workers), "tables_indexed_after_data", ex.deferred, "of_them_during_data", ex.early, "loaded_statements", res.Loaded, "of_them_as_is", res.LoadedAsIs)
	return res, nil
}

// deferSwap fills in the result of a complete restore run with
// DeferSwap: Written names where each target was written, Swap swaps the
// new copies in (replace.go) and Discard drops what the restore created,
// as a failed restore does (with KeepPartial it keeps it and logs the
// names). Each opens its own connections: the restore's are closed.
func deferSwap(opts RestoreOptions, log *slog.Logger, res *RestoreResult, tg *targets, rp *replacer, lockWait int) {
	list := rp.replacements()
	res.Written = map[string]string{}
	for _, dst := range opts.Databases {
		res.Written[dst] = dst
	}
	for _, r := range list {
		res.Written[r.dst] = r.tmp
	}
	swapped, discarded := false, false
	if len(list) > 0 {
		res.Swap = func(ctx context.Context) error {
			if discarded {
				return fmt.Errorf("restore: --replace: the new copies were discarded: %w", guard.ErrRefused)
			}
			db, _, err := conn.ConnectWithVars(ctx, opts.MySQL, log, restoreSessionVars(lockWait))
			if err != nil {
				return err
			}
			defer db.Close()
			if err := rp.swap(ctx, db, log); err != nil {
				return explainLockWait(err, lockWait)
			}
			swapped = true
			return nil
		}
	}
	res.Discard = func(ctx context.Context) error {
		if swapped || discarded {
			return nil // swapped in: nothing is left to discard
		}
		discarded = true
		for _, r := range list {
			log.Warn("restore --replace failed: the original database was not replaced", "database", r.dst, "new_copy", r.tmp, "kept", opts.KeepPartial)
		}
		if opts.KeepPartial {
			if made := tg.made(); len(made) > 0 {
				log.Warn("restore failed: keeping what it created (--keep-partial)", "databases", made)
			}
			return nil
		}
		db, _, err := conn.ConnectWithVars(ctx, opts.MySQL, log, restoreSessionVars(lockWait))
		if err != nil {
			return err
		}
		defer db.Close()
		tg.db = db
		tg.rollback(log)
		return nil
	}
}
