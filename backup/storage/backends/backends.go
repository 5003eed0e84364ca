package backends

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/backup/storage/swift"
	"github.com/opsteam/ops/internal/fielderr"
)

// Open returns the store of the target named name. A Swift target
// authenticates (and creates its containers when missing) before Open
// returns; its listing, reading and deleting are retried on transient
// errors, and a Put retries segment by segment inside the Swift store.
func Open(ctx context.Context, name string, t storage.Target, logger *slog.Logger) (storage.Store, error) {
	return open(ctx, name, t, logger, false)
}

// OpenReadOnly is Open for commands that only read or delete (list,
// verify, restore, prune, config check --connect): it creates nothing, and
// a missing container or directory is an error matching storage.ErrMissing
// that names it and the closest existing names.
func OpenReadOnly(ctx context.Context, name string, t storage.Target, logger *slog.Logger) (storage.Store, error) {
	return open(ctx, name, t, logger, true)
}

func open(ctx context.Context, name string, t storage.Target, logger *slog.Logger, readOnly bool) (storage.Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch t.Type {
	case "local":
		if !readOnly {
			return local.New(t.Path), nil
		}
		s, err := local.NewExisting(t.Path)
		if err != nil {
			return nil, fmt.Errorf("storage target %s: %w", name, err)
		}
		return s, nil
	case "swift":
		o := swift.OptionsFromTarget(t)
		o.Logger = logger.With("target", name)
		o.ReadOnly = readOnly
		s, err := swift.New(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("storage target %s: %w", name, err)
		}
		return retry.Wrap(s, retry.Policy{Logger: o.Logger}), nil
	}
	return nil, fielderr.Newf("storage.targets."+name+".type", "%q: expected swift or local", t.Type)
}
