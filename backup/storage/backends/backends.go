package backends

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/backup/storage/s3"
	"github.com/opsteam/ops/backup/storage/swift"
	"github.com/opsteam/ops/internal/fielderr"
)

// Open returns the store of the target named name. A Swift or S3 target
// authenticates (and creates its containers or bucket when missing) before Open
// returns; every request is retried on transient errors for up to budget
// from its first failure (0 = no retry; see retry.FromBudget): listing,
// deleting, authenticating, reading (a broken download resumes at the
// byte it reached), and a Put segment by segment inside the Swift store.
func Open(ctx context.Context, name string, t storage.Target, logger *slog.Logger, budget time.Duration) (storage.Store, error) {
	return open(ctx, name, t, logger, budget, false)
}

// OpenReadOnly is Open for commands that only read or delete (list,
// verify, restore, prune, config check --connect): it creates nothing, and
// a missing container or directory is an error matching storage.ErrMissing
// that names it and the closest existing names.
func OpenReadOnly(ctx context.Context, name string, t storage.Target, logger *slog.Logger, budget time.Duration) (storage.Store, error) {
	return open(ctx, name, t, logger, budget, true)
}

func open(ctx context.Context, name string, t storage.Target, logger *slog.Logger, budget time.Duration, readOnly bool) (storage.Store, error) {
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
		o.Retry = retry.FromBudget(budget, o.Logger)
		s, err := swift.New(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("storage target %s: %w", name, err)
		}
		return retry.Wrap(s, o.Retry), nil
	case "s3":
		o := s3.OptionsFromTarget(t)
		o.Logger = logger.With("target", name)
		o.ReadOnly = readOnly
		o.Retry = retry.FromBudget(budget, o.Logger)
		s, err := s3.New(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("storage target %s: %w", name, err)
		}
		return retry.Wrap(s, o.Retry), nil
	}
	return nil, fielderr.Newf("storage.targets."+name+".type", "%q: expected swift, s3 or local", t.Type)
}
