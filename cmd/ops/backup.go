package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/backends"
	"github.com/opsteam/ops/internal/exitcode"
)

func newBackupCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up, list, restore, verify and prune MySQL/MariaDB backups",
		Long: `Back up MySQL/MariaDB databases with a consistent, parallel native dump,
compressed (and optionally age-encrypted) and streamed to Swift or a local
directory, with a manifest written last.

With no config at all, "ops backup run" backs up every database of the local
server (Unix socket, ~/.my.cnf if present) into ./backups.

Exit status: 0 ok, 1 verification found a mismatch, 2 usage or config error,
3 the backup, restore or prune could not complete, 130 interrupted.`,
	}
	cmd.AddCommand(newBackupRunCmd(c), newBackupListCmd(c), newBackupRestoreCmd(c), newBackupVerifyCmd(c), newBackupPruneCmd(c))
	cmd.AddCommand(newBackupBinlogCmd(c)) // backup_binlog.go
	cmd.AddCommand(newBackupCatCmd(c))    // backup_cat.go
	return cmd
}

// jobs returns the configured jobs selected by --job (all when none), or the
// built-in default job when the config has none.
func (rt *opsRuntime) jobs(names []string) ([]backup.Job, error) {
	all := rt.cfg.Backup.Jobs
	if len(all) == 0 {
		j := backup.DefaultJob()
		file := ""
		if rt.loaded != nil {
			file = rt.loaded.File
		}
		j.DefaultKeyFile = defaultKeyFile(file, j.Name)
		all = []backup.Job{j}
	}
	if len(names) == 0 {
		return all, nil
	}
	var out []backup.Job
	for _, n := range names {
		found := false
		for _, j := range all {
			if j.Name == n {
				out, found = append(out, j), true
				break
			}
		}
		if !found {
			var known []string
			for _, j := range all {
				known = append(known, j.Name)
			}
			return nil, exitcode.UsageError(fmt.Errorf("--job %s: no such job (configured: %s)", n, strings.Join(known, ", ")))
		}
	}
	return out, nil
}

func (rt *opsRuntime) job(name string) (backup.Job, error) {
	if name == "" {
		if len(rt.cfg.Backup.Jobs) > 1 {
			return backup.Job{}, exitcode.UsageError(errors.New("--job is required when more than one job is configured"))
		}
	}
	var names []string
	if name != "" {
		names = []string{name}
	}
	js, err := rt.jobs(names)
	if err != nil {
		return backup.Job{}, err
	}
	return js[0], nil
}

// openStore builds the job's storage target. Under a readOnly context
// (list, verify, restore, prune) it creates nothing: a missing container
// or directory is an error naming it.
func (rt *opsRuntime) openStore(ctx context.Context, job backup.Job) (storage.Store, error) {
	t, ok := rt.cfg.Storage.Targets[job.Target]
	if !ok {
		return nil, exitcode.UsageError(fmt.Errorf("job %s: no storage target named %q", job.Name, job.Target))
	}
	if ctx.Value(readOnlyKey{}) != nil {
		return backends.OpenReadOnly(ctx, job.Target, t, rt.log, rt.retryBudget(job.Target))
	}
	return backends.Open(ctx, job.Target, t, rt.log, rt.retryBudget(job.Target))
}

// retryBudget is the retry budget of the storage target named name: its
// own retry_budget when the config sets one, else storage.retry_budget.
func (rt *opsRuntime) retryBudget(name string) time.Duration {
	if rt.loaded.IsSet("storage.targets." + name + ".retry_budget") {
		return rt.cfg.Storage.Targets[name].RetryBudget
	}
	return rt.cfg.Storage.RetryBudget
}

type readOnlyKey struct{}

// readOnly marks ctx for commands that only read or delete: every store
// they open (the binary log parts too) is opened read-only.
func readOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnlyKey{}, true)
}

func toolInfo() catalog.ToolInfo {
	v, c, _ := buildInfo()
	return catalog.ToolInfo{Name: "ops", Version: v, Commit: c}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// trustFlag restores or verifies a backup whose manifest no key
// authenticates (a new machine without the job's key).
const (
	trustFlag     = "trust-unauthenticated-manifest"
	trustFlagHelp = "use a backup whose manifest no key authenticates (this host has not the job's manifest key): anyone who could write to the storage could have forged it; the statement guard stays on"
)

// checkAuthenticated refuses a backup whose manifest no key authenticated
// unless --trust-unauthenticated-manifest, and warns when it is given.
func (rt *opsRuntime) checkAuthenticated(job backup.Job, b *catalog.BackupInfo, trust bool) error {
	if b.Authenticated {
		return nil
	}
	if !trust {
		return fmt.Errorf("backup %s of job %s: its manifest is not authenticated: this host has no manifest key for the job (manifest_key_file, or %s): "+
			"anyone who can write to the storage could have forged it; copy the job's key here, or accept the risk with --%s: %w",
			b.ID, job.Name, orNone(job.DefaultKeyFile), trustFlag, backup.ErrUnauthenticated)
	}
	rt.log.Warn("using a backup whose manifest is not authenticated (--"+trustFlag+"): it is only as trustworthy as the storage", "job", job.Name, "id", b.ID)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no default key file"
	}
	return s
}
