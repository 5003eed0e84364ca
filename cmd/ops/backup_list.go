package main

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/output"
)

type backupListOptions struct {
	jobs   []string
	all    bool
	binlog bool
	output outputFlag
}

func newBackupListCmd(c *cli) *cobra.Command {
	opts := backupListOptions{output: newOutputFlag(output.Table, output.JSON)}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List backups, newest first (partial ones only with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupList(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.jobs, "job", nil, "`NAME` of the job to list (repeatable; default: every job)")
	cmd.Flags().BoolVar(&opts.all, "all", false, "include partial backups (no manifest: interrupted or failed)")
	cmd.Flags().BoolVar(&opts.binlog, "binlog", false, "list the archived binary log instead: chunks, each backup's recovery window, gaps")
	opts.output.register(cmd.Flags())
	return cmd
}

func runBackupList(ctx context.Context, rt *opsRuntime, opts backupListOptions) error {
	ctx = readOnly(ctx)
	if err := opts.output.check(); err != nil {
		return err
	}
	if opts.binlog {
		return runBinlogList(ctx, rt, opts)
	}
	jobs, err := rt.jobs(opts.jobs)
	if err != nil {
		return err
	}
	var list []*catalog.BackupInfo
	for _, job := range jobs {
		store, err := rt.openStore(ctx, job)
		if err != nil {
			return err
		}
		l, err := backup.ListBackups(ctx, store, job, opts.all)
		if err != nil {
			return err
		}
		list = append(list, l...)
	}
	sortNewestFirst(list)
	if list == nil {
		list = []*catalog.BackupInfo{}
	}
	return opts.output.write(rt.stdout, jsonOf(list), func(w io.Writer) error { return writeBackupTable(w, list) })
}

func writeBackupTable(w io.Writer, list []*catalog.BackupInfo) error {
	rows := make([][]string, 0, len(list))
	for _, b := range list {
		status := b.Status
		if !b.Complete {
			status = strings.ToUpper(status)
		}
		enc := "-"
		if b.Encrypted {
			enc = "age"
		}
		dbs := strings.Join(b.Databases, ",")
		if b.Method == catalog.MethodPhysical { // the whole server
			dbs = "(physical " + b.Kind + ")"
			if b.Base != "" {
				dbs = "(physical " + b.Kind + " on " + b.Base + ")"
			}
		}
		rows = append(rows, []string{b.Job, b.ID, b.StartedAt.Local().Format(time.DateTime), status,
			bytesize.Human(b.Size), string(b.Compression), enc, dbs})
	}
	return output.WriteTable(w, []string{"JOB", "ID", "STARTED", "STATUS", "SIZE", "COMPRESSION", "ENCRYPTION", "DATABASES"}, rows)
}

func sortNewestFirst(list []*catalog.BackupInfo) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].StartedAt.After(list[j-1].StartedAt); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}
