package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/pitr"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/output"
)

type backupPruneOptions struct {
	jobs   []string
	dryRun bool
	grace  time.Duration
}

func newBackupPruneCmd(c *cli) *cobra.Command {
	var opts backupPruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Apply retention: remove backups no keep_* rule keeps, partial backups and orphaned parts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackupPrune(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.jobs, "job", nil, "`NAME` of the job to prune (repeatable; default: every job)")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "print what would be removed, remove nothing")
	cmd.Flags().DurationVar(&opts.grace, "grace", 6*time.Hour, "leave partial backups and leftover parts younger than this alone (they may belong to a running backup)")
	return cmd
}

func runBackupPrune(ctx context.Context, rt *opsRuntime, opts backupPruneOptions) error {
	ctx = readOnly(ctx)
	if opts.grace <= 0 {
		return exitcode.UsageError(fmt.Errorf("--grace %s: expected a positive duration", opts.grace))
	}
	jobs, err := rt.jobs(opts.jobs)
	if err != nil {
		return err
	}
	for _, job := range jobs {
		store, err := rt.openStore(ctx, job)
		if err != nil {
			return err
		}
		res, err := pitr.Prune(ctx, backup.PruneOptions{Job: job, Store: store, DryRun: opts.dryRun, Logger: rt.log, PartialGrace: opts.grace})
		if err != nil {
			return err
		}
		verb := "remove"
		if opts.dryRun {
			verb = "would remove"
		}
		for _, d := range res.Decisions {
			if d.Keep {
				fmt.Fprintf(rt.stdout, "keep    %s %s (%s)\n", job.Name, output.Escape(d.ID), strings.Join(d.Reasons, ", "))
			} else {
				fmt.Fprintf(rt.stdout, "%s %s %s\n", verb, job.Name, output.Escape(d.ID))
			}
		}
		// IDs and orphans are object names from the storage listing: escaped.
		for _, id := range res.Partial {
			fmt.Fprintf(rt.stdout, "%s %s %s (partial)\n", verb, job.Name, output.Escape(id))
		}
		for _, id := range res.Untrusted {
			fmt.Fprintf(rt.stdout, "keep    %s %s (UNTRUSTED: its manifest has no valid MAC; check it, delete it by hand)\n", job.Name, id)
		}
		for _, o := range res.Orphans {
			fmt.Fprintf(rt.stdout, "%s orphan %s\n", verb, output.Escape(o))
		}
		if bl := res.Binlog; bl != nil {
			for _, p := range bl.Chunks {
				fmt.Fprintf(rt.stdout, "%s %s binlog chunk %s (before the oldest kept backup, at %s)\n", verb, job.Name, p, bl.KeepFrom)
			}
			for _, p := range bl.Partial {
				fmt.Fprintf(rt.stdout, "%s %s binlog chunk %s (partial)\n", verb, job.Name, p)
			}
		}
	}
	return nil
}
