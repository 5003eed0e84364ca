package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/progress"
)

type backupCatOptions struct {
	job, backup, identity string
	databases             []string
	trustUnauthenticated  bool
}

func newBackupCatCmd(c *cli) *cobra.Command {
	var opts backupCatOptions
	cmd := &cobra.Command{
		Use:   "cat",
		Short: "Write a backup's checked SQL to stdout, for your own client (--database SRC=DST renames)",
		Long: `Write the SQL of a stored backup to stdout, decrypted and decompressed, for a
stock client: ops backup cat --job app --database shop=shop_copy | mariadb.

The stream is checked as restore checks it: the manifest's MAC (see
--trust-unauthenticated-manifest), every 4 MiB piece's SHA-256 before any of
its bytes is written, the whole stream's SHA-256 at its end, its end marker.
If any check fails, ops exits non-zero after part of the SQL may have been
written: discard that output (and whatever a client already loaded from it).

With no --database the whole stream is written as ops dumped it: every
database under its own name, with DROP TABLE IF EXISTS for each table, so
loading it overwrites the tables of those names. --database SRC=DST
(repeatable) writes only the databases named, each SRC under the name DST:
the CREATE DATABASE and USE lines, the only two naming a database in a
stream, are rewritten; names a user wrote inside views, routines, triggers
or events (another database) are written as they are, and a statement naming
SRC that way is refused (loaded beside SRC, it would write into it). Definers
and enabled events are written as dumped: restore's definer rule does not
apply (docs/restore-security.md).

stdout must not be a terminal: redirect it to a file or a client.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupCat(cmd.Context(), c.rt, c.streams.stdout, opts)
		},
	}
	cmd.Flags().StringVar(&opts.job, "job", "", "`NAME` of the job whose backup to write")
	cmd.Flags().StringVar(&opts.backup, "backup", "latest", "backup `ID` or latest")
	cmd.Flags().StringArrayVar(&opts.databases, "database", nil, "`SRC=DST`: write only database SRC, under the name DST (repeatable)")
	cmd.Flags().StringVar(&opts.identity, "identity", "", "age identity `FILE` for encrypted backups (default: the job's identity_file)")
	cmd.Flags().BoolVar(&opts.trustUnauthenticated, trustFlag, false, trustFlagHelp)
	return cmd
}

// runBackupCat writes to out, the process's stdout even under -q (the SQL
// is the command's product, not a report).
func runBackupCat(ctx context.Context, rt *opsRuntime, out io.Writer, opts backupCatOptions) error {
	ctx = readOnly(ctx)
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return exitcode.UsageError(fmt.Errorf("backup cat: stdout is a terminal: redirect it to a file or pipe it to a client (ops backup cat --job J | mariadb)"))
	}
	job, err := rt.job(opts.job)
	if err != nil {
		return err
	}
	if job.IsPhysical() {
		return exitcode.UsageError(fmt.Errorf("backup cat: job %s is a physical job: its backups are not SQL; restore one with ops backup restore --job %s --datadir DIR", job.Name, job.Name))
	}
	mapping, err := parseDBMaps(opts.databases)
	if err != nil {
		return err
	}
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return err
	}
	b, ids, err := rt.readableBackup(ctx, store, job, opts.backup, mapping, opts.trustUnauthenticated, opts.identity)
	if err != nil {
		return err
	}
	rt.log.Info("backup cat started", "job", job.Name, "id", b.ID, "object", b.Object)
	written := false
	w := writeSeen{w: out, seen: &written}
	bar := progress.New(rt.stderr, rt.stderrTTY, "cat "+b.ID, b.Size) // on a terminal stderr only
	_, err = backup.RestoreBackup(ctx, backup.BackupRestoreOptions{
		Store: store, Backup: b, Databases: mapping, Identities: ids, Logger: rt.log, Progress: bar.Set,
		RequireEncryption: len(job.EncryptTo) > 0, TrustUnauthenticated: opts.trustUnauthenticated,
		// the SQL goes to out instead of a server; ro.Databases is the
		// whole backup's identity mapping when none was given, mapping
		// keeps "as dumped" apart
		Restore: func(ctx context.Context, ro restore.RestoreOptions, r io.Reader) (*restore.RestoreResult, error) {
			ro.Databases = mapping
			return restore.Cat(ctx, ro, r, w)
		},
	})
	bar.Done()
	if err != nil {
		if written {
			return fmt.Errorf("backup cat: %w: the SQL written to stdout is incomplete or unverified: discard it, and whatever a client loaded from it", err)
		}
		return fmt.Errorf("backup cat: %w (nothing was written to stdout)", err)
	}
	rt.log.Info("backup cat complete", "job", job.Name, "id", b.ID)
	return nil
}

// writeSeen notes that something was written.
type writeSeen struct {
	w    io.Writer
	seen *bool
}

func (s writeSeen) Write(p []byte) (int, error) {
	if len(p) > 0 {
		*s.seen = true
	}
	return s.w.Write(p)
}
