package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/output"
)

type backupVerifyOptions struct {
	job, backup, identity string
	restoreTest           bool
	trustUnauthenticated  bool
}

func newBackupVerifyCmd(c *cli) *cobra.Command {
	var opts backupVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-read a backup and check every object against its manifest (exit 1 on mismatch)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupVerify(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringVar(&opts.job, "job", "", "`NAME` of the job whose backup to verify")
	cmd.Flags().StringVar(&opts.backup, "backup", "latest", "backup `ID` or latest")
	cmd.Flags().BoolVar(&opts.restoreTest, "restore-test", false, "also restore into scratch databases and compare rows and CHECKSUM TABLE")
	cmd.Flags().StringVar(&opts.identity, "identity", "", "age identity `FILE` for --restore-test of encrypted backups")
	cmd.Flags().BoolVar(&opts.trustUnauthenticated, trustFlag, false, trustFlagHelp)
	return cmd
}

func runBackupVerify(ctx context.Context, rt *opsRuntime, opts backupVerifyOptions) error {
	ctx = readOnly(ctx)
	job, err := rt.job(opts.job)
	if err != nil {
		return err
	}
	store, err := rt.openStore(ctx, job)
	if err != nil {
		return err
	}
	b, err := backup.FindBackup(ctx, store, job, opts.backup)
	if errors.Is(err, catalog.ErrNotComplete) && opts.trustUnauthenticated && b.AcceptUnsigned() {
		err = nil // written before the job had a key: checkAuthenticated warns
	}
	if errors.Is(err, catalog.ErrNotComplete) {
		fmt.Fprintf(rt.stdout, "%s %s %s %s\n", strings.ToUpper(b.Status), job.Name, b.ID, b.Problem)
		return exitcode.Check(err)
	}
	if err != nil {
		return err
	}
	if err := rt.checkAuthenticated(job, b, opts.trustUnauthenticated); err != nil {
		fmt.Fprintf(rt.stdout, "UNAUTHENTICATED %s %s: no manifest key to check its manifest with\n", job.Name, output.Escape(b.ID))
		return err
	}
	if len(job.EncryptTo) > 0 && !b.Encrypted {
		fmt.Fprintf(rt.stdout, "MISMATCH %s %s: not encrypted, but the job encrypts every backup\n", job.Name, b.ID)
		return exitcode.Check(fmt.Errorf("backup %s of job %s is not encrypted although the job encrypts every backup: it was not written by this job", b.ID, job.Name))
	}
	res, err := backup.VerifyBackup(ctx, store, b)
	if err != nil {
		return err
	}
	if !res.OK() {
		for _, p := range res.Problems {
			fmt.Fprintln(rt.stdout, "MISMATCH "+output.Escape(p))
		}
		return exitcode.Check(fmt.Errorf("backup %s of job %s failed verification (%d problems)", b.ID, job.Name, len(res.Problems)))
	}
	fmt.Fprintf(rt.stdout, "OK %s %s %s sha256:%s\n", job.Name, output.Escape(b.ID), output.Escape(b.Object), output.Escape(b.ManifestData().StreamSHA256))
	if opts.backup == "" || opts.backup == "latest" {
		if err := reportNewerBroken(ctx, rt, store, job, b); err != nil {
			return err
		}
	}
	binlogErr := rt.verifyBinlog(ctx, job, b, opts.identity) // backup_binlog.go
	if binlogErr != nil && exitCode(binlogErr) != exitcode.CheckFailed {
		return binlogErr
	}
	if !opts.restoreTest {
		return binlogErr
	}
	ids, err := rt.identities(job, opts.identity, b)
	if err != nil {
		return err
	}
	if job.IsPhysical() {
		if err := rt.physicalRestoreTest(ctx, job, store, b, ids, opts.trustUnauthenticated); err != nil {
			return err
		}
		return binlogErr
	}
	ro := job.RestoreOptions(store)
	ro.Backup, ro.Identities, ro.Logger, ro.TrustUnauthenticated = b, ids, rt.log, opts.trustUnauthenticated
	checks, err := backup.RestoreTest(ctx, ro)
	if err != nil {
		return err
	}
	bad := 0
	for _, c := range checks {
		status := "OK      "
		if !c.OK() {
			status, bad = "MISMATCH", bad+1
		}
		sum := ""
		if c.WantDigest != "" {
			sum = " digest " + c.WantDigest
			if c.GotDigest != c.WantDigest {
				sum += " restored " + c.GotDigest
			}
		}
		if c.WantChecksum != nil {
			sum = fmt.Sprintf(" checksum %d", *c.WantChecksum)
			if c.GotChecksum == nil || *c.GotChecksum != *c.WantChecksum {
				sum += fmt.Sprintf(" restored %s", fmtSum(c.GotChecksum))
			}
		}
		// Database and table names come from the server: escaped.
		fmt.Fprintf(rt.stdout, "%s %s.%s rows %d restored %d%s\n", status, output.Escape(c.Database), output.Escape(c.Table), c.WantRows, c.GotRows, sum)
	}
	if bad > 0 {
		return exitcode.Check(fmt.Errorf("restore test of backup %s: %d of %d tables differ", b.ID, bad, len(checks)))
	}
	return binlogErr
}

func fmtSum(v *uint64) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}

// reportNewerBroken fails `verify` (latest) when a backup newer than the
// newest complete one is corrupt or untrusted: the newest backup of the job
// is then not the one verify checked.
func reportNewerBroken(ctx context.Context, rt *opsRuntime, store storage.Store, job backup.Job, latest *catalog.BackupInfo) error {
	all, err := backup.ListBackups(ctx, store, job, true)
	if err != nil {
		return err
	}
	var broken []string
	for _, b := range all {
		if b.ID > latest.ID && (b.Status == catalog.StatusCorrupt || b.Status == catalog.StatusUntrusted) {
			fmt.Fprintf(rt.stdout, "%s %s %s %s\n", strings.ToUpper(b.Status), job.Name, output.Escape(b.ID), output.Escape(b.Problem))
			broken = append(broken, b.ID)
		}
	}
	if len(broken) > 0 {
		return exitcode.Check(fmt.Errorf("job %s: %d newer backup(s) are corrupt or untrusted (%s); verified %s instead", job.Name, len(broken), strings.Join(broken, ", "), latest.ID))
	}
	return nil
}
